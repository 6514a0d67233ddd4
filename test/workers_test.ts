/**
 * End-to-end tests of persistent hooks (docs/workers.md): `persistent = true` scripts started
 * once and fed requests as JSON lines, with real processes (Python, sh + jq), real HTTP, a real
 * session (in-process, or `hookhost run --daemon` for signals and `kill -9`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, envFor, Proc, request, script, tempDir } from "./_helpers.ts";
import { alive, exists, until } from "./_poll.ts";
import { InSession } from "./_session.ts";

interface Ctx {
  dir: string;
  d: Proc | InSession;
  env: Record<string, string>;
  url: string;
  post: (body: BodyInit, init?: RequestInit) => ReturnType<typeof request>;
}

/**
 * A session "wk" serving hook "w", a persistent hook running `worker` (a file body; `$DIR` is
 * the temp folder) with `toml` lines added to its `[[hooks]]` table.
 */
async function withWorker(
  worker: string,
  options: { toml?: string; before?: string; process?: boolean; timeout?: number },
  body: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: Proc | InSession | undefined;
  try {
    await script(tmp.path, "worker", worker.replaceAll("$DIR", tmp.path));
    await config(
      tmp.path,
      `${options.before ?? ""}\n[[hooks]]\nname = "w"\nbind = "127.0.0.1:0"\n` +
        `script = "./worker"\npersistent = true\ntimeout = ${options.timeout ?? 5}\n` +
        `${options.toml ?? ""}\n`,
    );
    const env = envFor(tmp.path);
    d = options.process
      ? Proc.start(["run", "--name", "wk", "--daemon", "--format", "jsonl", "--hook", "w"], {
        env,
      })
      : await InSession.open({ dir: tmp.path, name: "wk", hooks: ["w"] });
    const url = `http://${await d.addr("w")}/hook?x=1`;
    const post = (body: BodyInit, init: RequestInit = {}) =>
      request(url, { method: "POST", body, ...init });
    await body({ dir: tmp.path, d, env, url, post });
  } finally {
    if (d instanceof Proc) await d.stop();
    else await d?.stop();
    await tmp.cleanup();
  }
}

/** A Python worker: `handle(req)` is the body of a function returning the answer object. */
const python = (handle: string, pre = "") =>
  `#!/usr/bin/env python3
import json, os, sys
${pre}
def handle(req):
${handle.split("\n").map((l) => `    ${l}`).join("\n")}
for line in sys.stdin:
    req = json.loads(line)
    out = handle(req)
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\\n")
        sys.stdout.flush()
`;

const runs = (d: Proc | InSession) => d.records.filter((r) => r.type === "hook_run");
const injected = (d: Proc | InSession) => d.records.filter((r) => r.type === "injected");

/** The pids of the worker processes now (their command line names `dir`'s worker). */
async function workerPids(dir: string): Promise<number[]> {
  const out = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmd.split("\0").includes(join(dir, "worker")) && alive(Number(e.name))) {
        out.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

Deno.test("persistent hook: the worker gets each request as a JSON line, and its answers map to 200 (injected), a 2xx status, 204 and 500", async () => {
  const worker = python(`
b = req.get("body", "")
if b == "empty": return {"id": req["id"]}
if b == "created": return {"id": req["id"], "message": "made it", "status": 201}
if b == "fail": return {"id": req["id"], "error": "could not do " + b}
keys = ["v", "hook", "session", "method", "path", "query", "body", "request_id", "verified"]
return {"id": req["id"], "message": json.dumps({**{k: req[k] for k in keys}, "two": req["headers"]["x-two"]})}`);
  await withWorker(worker, {}, async ({ d, post }) => {
    const ok = await post("hello", {
      headers: [["X-Two", "a"], ["x-two", "b"], ["X-Request-Id", "r-1"]],
    });
    assert.equal(ok.status, 200, ok.text);
    const m = await d.waitFor((r) => r.type === "injected" && r.request_id === "r-1");
    assert.deepEqual(JSON.parse(m.content), {
      v: 1,
      hook: "w",
      session: "wk",
      method: "POST",
      path: "/hook",
      query: "x=1",
      body: "hello",
      request_id: "r-1",
      verified: "",
      two: "a, b",
    });
    const created = await post("created");
    assert.equal(created.status, 201);
    await d.waitFor((r) => r.type === "injected" && r.content === "made it");
    assert.equal((await post("empty")).status, 204);
    const failed = await post("fail");
    assert.equal(failed.status, 500);
    await until(() => d.stderr.includes("could not do fail"), () => d.stderr);
    const all = await d.waitForCount((r) => r.type === "hook_run", 4);
    assert.deepEqual(all.map((r) => r.status), [200, 201, 204, 500]);
    assert.ok(all.every((r) => r.exit_code === null && r.worker === 0), JSON.stringify(all));
    // One process served all four.
    assert.equal(injected(d).length, 2);
  });
});

Deno.test("persistent hook: a body that is not UTF-8 reaches the worker as body_base64", async () => {
  const worker = python(
    `return {"id": req["id"], "message": "b64 " + req.get("body_base64", "-") + " body " + str("body" in req)}`,
  );
  await withWorker(worker, {}, async ({ d, post }) => {
    const res = await post(new Uint8Array([0xff, 0xfe, 0x00, 0x41]));
    assert.equal(res.status, 200);
    const m = await d.waitFor((r) => r.type === "injected");
    assert.equal(m.content, `b64 ${btoa("\xff\xfe\x00A")} body False`);
  });
});

Deno.test("persistent hook: a worker that hangs is answered 504 within the timeout, its process group killed and restarted; one that crashes mid-request is answered 500 and restarted", async () => {
  const worker = python(`
if req["body"] == "hang":
    import subprocess
    child = subprocess.Popen(["sleep", "300"])  # in its process group: killed with it
    open("$DIR/child", "w").write(str(child.pid))
    while True: pass
if req["body"] == "crash": os._exit(3)
return {"id": req["id"], "message": "pid " + str(os.getpid())}`);
  await withWorker(worker, { timeout: 2 }, async ({ dir, d, post }) => {
    const first = await post("who");
    assert.equal(first.status, 200);
    const [pid1] = await workerPids(dir);
    const hung = await post("hang");
    assert.equal(hung.status, 504);
    await until(() => !alive(pid1), () => `worker ${pid1} still runs`);
    // Its child went with its group.
    const child = Number(await Deno.readTextFile(join(dir, "child")));
    await until(() => !alive(child), () => `its child ${child} still runs`);
    const again = await post("who");
    assert.equal(again.status, 200, again.text);
    const crashed = await post("crash");
    assert.equal(crashed.status, 500);
    const third = await post("who");
    assert.equal(third.status, 200, third.text);
    const pids = injected(d).map((r) => r.content);
    assert.equal(new Set(pids).size, 3, pids.join());
    assert.match(d.stderr, /worker 0 gave no answer within 2 s/);
    assert.match(d.stderr, /worker 0 \(pid \d+\) exited with code 3/);
  });
});

Deno.test("persistent hook: a line that is not JSON, or names no request it holds, is logged, the worker restarted and its requests answered 500", async () => {
  const worker = python(`
if req["body"] == "garbage":
    sys.stdout.write("this is not json\\n"); sys.stdout.flush(); return None
if req["body"] == "stranger": return {"id": "nobody", "message": "x"}
return {"id": req["id"], "message": "pid " + str(os.getpid())}`);
  await withWorker(worker, {}, async ({ d, post }) => {
    assert.equal((await post("who")).status, 200);
    assert.equal((await post("garbage")).status, 500);
    assert.equal((await post("who")).status, 200);
    assert.equal((await post("stranger")).status, 500);
    assert.equal((await post("who")).status, 200);
    assert.equal(new Set(injected(d).map((r) => r.content)).size, 3);
    assert.match(d.stderr, /broke the protocol \(its line is not JSON\): this is not json/);
    assert.match(d.stderr, /broke the protocol \(it answered "nobody", which it does not hold\)/);
  });
});

Deno.test("persistent hook: with max_inflight = 4 a worker holds four requests and may answer them in any order; each answer reaches its own request", async () => {
  // Answers once it holds four, last first.
  const worker = python(
    `held.append(req)
if len(held) < 4: return None
for r in reversed(held):
    sys.stdout.write(json.dumps({"id": r["id"], "message": "re " + r["body"]}) + "\\n")
sys.stdout.flush()
held.clear()`,
    "held = []",
  );
  await withWorker(worker, { toml: "max_inflight = 4" }, async ({ d, post }) => {
    const ids = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => {
        const r = await post(`n${i}`);
        assert.equal(r.status, 200, r.text);
        return [i, r.headers.get("x-request-id")!] as const;
      }),
    );
    await d.waitForCount((r) => r.type === "injected", 8);
    for (const [i, id] of ids) {
      const m = injected(d).find((r) => r.request_id === id);
      assert.equal(m?.content, `re n${i}`, JSON.stringify(injected(d)));
    }
    // The second four went out only once the first four were answered: last first, each time.
    const order = injected(d).map((r) => r.content);
    assert.deepEqual(new Set(order.slice(0, 4)).size, 4);
  });
});

Deno.test("persistent hook: 10,000 requests are served by exactly the configured two worker processes", async () => {
  const worker = python(`return {"id": req["id"], "message": str(os.getpid())}`);
  await withWorker(worker, { toml: "workers = 2\nqueue = 100" }, async ({ dir, d, url }) => {
    let n = 0;
    const statuses = new Map<number, number>();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (n < 10_000) {
        n++;
        const res = await fetch(url, { method: "POST", body: "x" });
        await res.body?.cancel();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...statuses], [[200, 10_000]]);
    const all = await d.waitForCount((r) => r.type === "injected", 10_000, 120_000);
    const pids = new Set(all.map((r) => Number(r.content)));
    assert.deepEqual([...pids].sort(), (await workerPids(dir)).sort());
    assert.equal(pids.size, 2);
  });
});

Deno.test("persistent hook: its stderr is logged line by line under the hook's name; verification applies before a worker sees a request; its environment follows the env rules", async () => {
  const worker = python(
    `sys.stderr.write("first line\\nsecond line\\n"); sys.stderr.flush()
e = os.environ.get
return {"id": req["id"], "message": ",".join([e("HOOK_NAME", "-"), e("HOOK_SESSION", "-"), e("HH_WORKER_SECRET", "none"), e("HH_WORKER_OTHER", "-"), e("KEPT", "-")])}`,
  );
  Deno.env.set("HH_WORKER_SECRET", "s3cret");
  Deno.env.set("HH_WORKER_OTHER", "other");
  try {
    const toml =
      'verify = "hmac-sha256"\nsecret_env = "HH_WORKER_SECRET"\nenv_set = { KEPT = "yes" }';
    await withWorker(worker, { toml }, async ({ d, post }) => {
      const body = "signed";
      const key = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode("s3cret"),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
      const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
      // Not signed: refused before any worker sees it.
      assert.equal((await post("unsigned")).status, 401);
      const ok = await post(body, { headers: { "X-Signature": `sha256=${hex}` } });
      assert.equal(ok.status, 200, ok.text);
      const m = await d.waitFor((r) => r.type === "injected");
      assert.equal(m.content, "w,wk,none,other,yes");
      assert.equal(injected(d).length, 1);
      await until(() => d.stderr.includes("second line"), () => d.stderr);
      assert.match(d.stderr, /hook 'w' worker 0: first line/);
      assert.match(d.stderr, /hook 'w' worker 0: second line/);
    });
  } finally {
    Deno.env.delete("HH_WORKER_SECRET");
    Deno.env.delete("HH_WORKER_OTHER");
  }
});

Deno.test("persistent hook: kill -9 of the daemon leaves no worker behind; SIGTERM answers the request in flight, closes the workers' stdin and exits 0", async () => {
  // A worker that takes a while over "slow", and exits at the end of its stdin.
  const worker = python(`
if req["body"] == "slow":
    open("$DIR/got-slow", "w").close()
    import time; time.sleep(1)
return {"id": req["id"], "message": "done " + req["body"]}`);
  const toml = "workers = 2";
  await withWorker(worker, { toml, process: true }, async ({ dir, d: proc, post }) => {
    const d = proc as Proc;
    assert.equal((await post("warm")).status, 200);
    const pids = await workerPids(dir);
    assert.equal(pids.length, 2);
    d.child.kill("SIGKILL");
    await d.exited();
    await until(async () => (await workerPids(dir)).length === 0, () => `left: ${pids}`);
  });
  await withWorker(worker, { toml, process: true }, async ({ dir, d: proc, env, post }) => {
    const d = proc as Proc;
    assert.equal((await post("warm")).status, 200);
    const slow = post("slow");
    await until(() => exists(join(dir, "got-slow")), () => d.stderr);
    d.child.kill("SIGTERM");
    const res = await slow;
    assert.equal(res.status, 200, res.text);
    assert.equal(await d.exited(), 0, d.stderr);
    // Printed, or (answered while the session stopped) kept in the inbox for the next run.
    const kept = await cli(["inbox", "ls", "--name", "wk", "--json"], { env });
    const printed = injected(d).some((r) => r.content === "done slow");
    assert.ok(printed || kept.stdout.includes("done slow"), kept.stdout);
    assert.deepEqual(await workerPids(dir), []);
  });
});

Deno.test("persistent hook: a change of the script restarts its worker once the requests it holds are answered, without a failed request", async () => {
  const version = (v: string) =>
    python(`return {"id": req["id"], "message": "${v} " + str(os.getpid())}`);
  await withWorker(version("v1"), { toml: "queue = 100" }, async ({ dir, d, url }) => {
    const statuses = new Map<number, number>();
    let stop = false;
    const load = Promise.all(Array.from({ length: 4 }, async () => {
      while (!stop) {
        const res = await fetch(url, { method: "POST", body: "x" });
        await res.body?.cancel();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }));
    await d.waitFor((r) => r.type === "injected" && r.content.startsWith("v1 "));
    // Replaced as deploys do: a new file renamed over the old one.
    const next = join(dir, "worker.new");
    await Deno.writeTextFile(next, version("v2"));
    await Deno.chmod(next, 0o755);
    await Deno.rename(next, join(dir, "worker"));
    await d.waitFor((r) => r.type === "injected" && r.content.startsWith("v2 "));
    stop = true;
    await load;
    assert.deepEqual([...statuses.keys()], [200], JSON.stringify([...statuses]));
    const v1 = new Set(
      injected(d).filter((r) => r.content.startsWith("v1 ")).map((r) => r.content),
    );
    const v2 = new Set(
      injected(d).filter((r) => r.content.startsWith("v2 ")).map((r) => r.content),
    );
    assert.equal(v1.size, 1);
    assert.equal(v2.size, 1);
    assert.match(d.stderr, /hook 'w': its script changed; its workers restart/);
  });
});

Deno.test("persistent hook: an async one answers 202 and runs its jobs through the worker, retrying a job the worker failed", async () => {
  const worker = python(
    `if req["body"] not in tried:
    tried.add(req["body"])
    return {"id": req["id"], "error": "first try fails"}
return {"id": req["id"], "message": "ran " + req["body"]}`,
    "tried = set()",
  );
  const toml = 'mode = "async"\nretry_backoff = 0.1';
  await withWorker(worker, { toml }, async ({ d, post }) => {
    assert.equal((await post("job-1")).status, 202);
    assert.equal((await post("job-2")).status, 202);
    const done = await d.waitForCount((r) => r.type === "injected", 2);
    assert.deepEqual(done.map((r) => r.content), ["ran job-1", "ran job-2"]);
    const statuses = runs(d).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 500).length, 2, JSON.stringify(runs(d)));
  });
});

Deno.test("persistent hook: requests beyond workers × max_inflight wait in the hook's queue, and beyond the queue are answered 503", async () => {
  const worker = python(`
import time
while not os.path.exists("$DIR/go"): time.sleep(0.02)
return {"id": req["id"], "message": "went " + req["body"]}`);
  await withWorker(worker, { toml: "queue = 1" }, async ({ dir, post }) => {
    const first = post("a");
    const second = post("b");
    // One in the worker, one waiting: the third is refused at once.
    let third = await post("c");
    for (let i = 0; third.status !== 503 && i < 50; i++) third = await post(`c${i}`);
    assert.equal(third.status, 503);
    assert.ok(third.headers.get("retry-after"));
    await Deno.writeTextFile(join(dir, "go"), "");
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
  });
});

Deno.test("persistent hook: a worker that keeps exiting is restarted with a growing backoff, and sessions --json shows each worker's pid, restarts and requests held", async () => {
  const worker =
    `#!/bin/sh\n[ -e "$DIR/fixed" ] && exec python3 -u -c 'import sys,json\nfor l in sys.stdin: print(json.dumps({"id": json.loads(l)["id"], "message": "fixed"}), flush=True)'\nexit 1\n`;
  await withWorker(
    worker,
    { process: true, toml: "workers = 2" },
    async ({ dir, d, env, post }) => {
      const exits = () =>
        d.stderr.split("\n").filter((l) => /worker 0 \(pid \d+\) exited with code 1/.test(l))
          .map((l) => Date.parse(l.slice(0, 24)));
      await until(() => exits().length >= 3, () => d.stderr);
      // Restarted after 1 s, then after 2 s (at least: a slow machine only adds).
      const [a, b, c] = exits();
      assert.ok(b - a >= 900, `${b - a} ms`);
      assert.ok(c - b >= 1800, `${c - b} ms`);
      await Deno.writeTextFile(join(dir, "fixed"), "");
      const res = await post("x");
      assert.equal(res.status, 200, res.text);
      const out = await cli(["sessions", "--json"], { env });
      const row = JSON.parse(out.stdout.trim().split("\n")[0]);
      const ws = row.workers.w;
      assert.equal(ws.length, 2, out.stdout);
      for (const w of ws) {
        assert.equal(typeof w.pid, "number");
        assert.ok(w.restarts >= 1, out.stdout);
        assert.equal(w.inflight, 0);
      }
      const pids: number[] = ws.map((w: { pid: number }) => w.pid);
      assert.equal(new Set(pids).size, 2);
      assert.ok(pids.every(alive), out.stdout);
    },
  );
});

Deno.test("persistent script plugin: [plugins.NAME] persistent = true serves the plugin through one long-lived worker, stopped when its file is removed", async () => {
  const tmp = await tempDir();
  try {
    const plugins = join(tmp.path, "plugins");
    await Deno.mkdir(plugins);
    await script(
      plugins,
      "pyworker",
      python(`return {"id": req["id"], "message": "pid " + str(os.getpid()) + " " + req["body"]}`),
    );
    await config(
      tmp.path,
      `[server]\nbind = "127.0.0.1:0"\n\n[plugins.pyworker]\npersistent = true\nmax_inflight = 2\n`,
    );
    const d = await InSession.open({ dir: tmp.path, name: "pl", pluginsDir: plugins });
    try {
      const url = `http://${await d.addr("server")}/hooks/pyworker`;
      for (const b of ["one", "two"]) {
        const res = await request(url, { method: "POST", body: b });
        assert.equal(res.status, 200, res.text);
      }
      const got = await d.waitForCount((r) => r.type === "injected", 2);
      const pids = new Set(got.map((r) => r.content.split(" ")[1]));
      assert.equal(pids.size, 1, JSON.stringify(got));
      const pid = Number([...pids][0]);
      assert.ok(alive(pid));
      await Deno.remove(join(plugins, "pyworker"));
      await until(() => !alive(pid), () => `worker ${pid} of the removed plugin still runs`);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("persistent hook: a repeated delivery is answered as the first was, its worker's 2xx status too, and the worker does not see it again", async () => {
  const worker = python(
    `open("$DIR/seen", "a").write(req["body"] + "\\n")
return {"id": req["id"], "message": "made " + req["body"], "status": 201}`,
  );
  const toml = 'dedupe_window = 3600\ndedupe_header = "X-Delivery"';
  await withWorker(worker, { toml }, async ({ dir, d, post }) => {
    const first = await post("a", { headers: { "X-Delivery": "d-1" } });
    assert.equal(first.status, 201, first.text);
    const again = await post("a", { headers: { "X-Delivery": "d-1" } });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.text, first.text);
    const dup = await d.waitFor((r) => r.type === "hook_run" && r.duplicate === true);
    assert.equal(dup.status, 201);
    assert.equal(await Deno.readTextFile(join(dir, "seen")), "a\n");
    assert.equal(injected(d).length, 1);
  });
});
