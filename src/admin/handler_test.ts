import assert from "node:assert/strict";
import { adminHandler } from "./handler.ts";
import { AdminMetrics } from "./metrics.ts";
import type { AdminSource, Snapshot } from "./snapshot.ts";

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    session: "s",
    pid: 1,
    started_at: 0,
    not_ready: [],
    listeners: [{ hook: "h", addr: "127.0.0.1:1", in_flight: 0 }],
    sessions: [{
      name: "s",
      running: true,
      pending: { webhook: 2, inject: 0 },
      dead: 1,
      jobs: 3,
      dead_jobs: 4,
    }],
    dead: [],
    schedules: [],
    plugins: [{ name: "p", state: "ready", permissions: "none", restarts: 2, rss: 1000 }],
    workers: { w: [{ index: 0, pid: 42, restarts: 3, inflight: 1 }] },
    events: { Stop: { runs: 5, failures: 1, refused: 7 } },
    body_bytes_in_flight: 0,
    rss: 1,
    ...over,
  };
}

/** A source over a snapshot the test sets, recording replays. */
function source(s: () => Snapshot) {
  const replays: [string, string[]][] = [];
  const src: AdminSource = {
    snapshot: () => Promise.resolve(s()),
    replay(kind, ids) {
      if (ids.includes("missing")) return Promise.reject(new Error("No dead job 'missing'"));
      replays.push([kind, ids]);
      return Promise.resolve(ids);
    },
  };
  return { src, replays };
}

const get = (h: (r: Request) => Promise<Response>, url: string, init?: RequestInit) =>
  h(new Request(url, init));

Deno.test("admin without a token: loopback host names only (DNS rebinding gets 403); /healthz for anyone", async () => {
  const { src } = source(() => snapshot());
  const h = adminHandler({ source: src, metrics: new AdminMetrics() });
  assert.equal((await get(h, "http://127.0.0.1:9180/readyz")).status, 200);
  assert.equal((await get(h, "http://localhost:9180/readyz")).status, 200);
  const rebound = await get(h, "http://evil.example:9180/api/status");
  assert.equal(rebound.status, 403);
  assert.equal(await rebound.text(), "Forbidden: use a loopback host name\n");
  assert.equal((await get(h, "http://evil.example:9180/healthz")).status, 200);
  assert.equal((await get(h, "http://127.0.0.1:9180/nope")).status, 404);
});

Deno.test("admin with a token: every path but /healthz needs it as a bearer token or the /login cookie", async () => {
  const { src } = source(() => snapshot());
  const h = adminHandler({ source: src, metrics: new AdminMetrics(), token: "s3cret" });
  const base = "http://10.0.0.5:9180";
  for (const path of ["/", "/readyz", "/metrics", "/api/status"]) {
    const res = await get(h, base + path);
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
    await res.body?.cancel();
    const wrong = await get(h, base + path, { headers: { authorization: "Bearer s3creT" } });
    assert.equal(wrong.status, 401, path);
    await wrong.body?.cancel();
    const ok = await get(h, base + path, { headers: { authorization: "Bearer s3cret" } });
    assert.equal(ok.status, 200, path);
    await ok.body?.cancel();
  }
  assert.equal((await get(h, `${base}/login?token=bad`)).status, 401);
  const login = await get(h, `${base}/login?token=s3cret`);
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!;
  assert.match(cookie, /^hookhost_admin=s3cret; HttpOnly; SameSite=Strict; Path=\//);
  const page = await get(h, `${base}/`, { headers: { cookie: cookie.split(";")[0] } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>hookhost<\/title>/);
  assert.equal((await get(h, `${base}/healthz`)).status, 200);
});

Deno.test("admin /readyz answers 503 with what is not ready; /metrics shows the snapshot's gauges and counters", async () => {
  let s = snapshot({ not_ready: ["KV file is gone", "plugin 'p' starting"] });
  const { src } = source(() => s);
  const metrics = new AdminMetrics();
  const h = adminHandler({ source: src, metrics });
  const res = await get(h, "http://127.0.0.1/readyz");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "not ready: KV file is gone; plugin 'p' starting\n");
  metrics.observe({
    type: "hook_run",
    hook: "h",
    status: 200,
    exit_code: 0,
    duration_ms: 30,
    ts: "2026-01-01T00:00:00Z",
  });
  metrics.observe({ type: "hook_run", hook: "h", status: 401, exit_code: null, duration_ms: 0 });
  metrics.observe({ type: "injected", source_kind: "webhook" });
  s = snapshot();
  const text = await (await get(h, "http://127.0.0.1/metrics")).text();
  for (
    const line of [
      "hookhost_ready 1",
      'hookhost_webhook_requests_total{hook="h",status="200"} 1',
      'hookhost_webhook_requests_total{hook="h",status="401"} 1',
      // The refused request ran no script: one observation only.
      'hookhost_script_duration_seconds_count{hook="h"} 1',
      'hookhost_messages_injected_total{source="webhook"} 1',
      'hookhost_inbox_depth{session="s",source="webhook"} 2',
      'hookhost_dead_letters{session="s"} 1',
      'hookhost_jobs_pending{session="s"} 3',
      'hookhost_jobs_dead{session="s"} 4',
      'hookhost_event_hook_runs_total{event="Stop"} 5',
      'hookhost_event_hook_failures_total{event="Stop"} 1',
      'hookhost_event_hook_refusals_total{event="Stop"} 7',
      'hookhost_plugin_restarts_total{plugin="p"} 2',
      'hookhost_plugin_resident_memory_bytes{plugin="p"} 1000',
      'hookhost_worker_restarts_total{hook="w",worker="0"} 3',
      'hookhost_worker_inflight_requests{hook="w",worker="0"} 1',
      'hookhost_worker_pid{hook="w",worker="0"} 42',
    ]
  ) assert.ok(text.split("\n").includes(line), `${line} not in:\n${text}`);
  assert.deepEqual(metrics.recent.map((r) => [r.hook, r.status]), [["h", 401], ["h", 200]]);
});

Deno.test("admin replay needs POST, the X-Hookhost-Admin header and a {kind, ids} body; an unknown id is 404", async () => {
  const { src, replays } = source(() => snapshot());
  const h = adminHandler({ source: src, metrics: new AdminMetrics() });
  const url = "http://127.0.0.1/api/replay";
  const body = JSON.stringify({ kind: "job", ids: ["a"] });
  assert.equal((await get(h, url)).status, 405);
  // What a cross-site form can send: no custom header.
  const form = await get(h, url, { method: "POST", body });
  assert.equal(form.status, 403);
  const headers = { "x-hookhost-admin": "1" };
  for (const bad of ["nope", '{"kind":"x","ids":[]}', '{"kind":"job","ids":[1]}']) {
    assert.equal((await get(h, url, { method: "POST", headers, body: bad })).status, 400, bad);
  }
  assert.deepEqual(replays, []);
  const ok = await get(h, url, { method: "POST", headers, body });
  assert.deepEqual(await ok.json(), { replayed: ["a"] });
  assert.deepEqual(replays, [["job", ["a"]]]);
  const missing = await get(h, url, {
    method: "POST",
    headers,
    body: JSON.stringify({ kind: "inbox", ids: ["missing"] }),
  });
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: "No dead job 'missing'" });
});
