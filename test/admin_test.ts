/**
 * End-to-end tests of a daemon's admin listener (`[admin]`, docs/operations.md): a real
 * `hookhost run --daemon` on a temp folder, real HTTP, Prometheus's own `promtool` on the
 * metrics, and the status page in headless Chromium (Debian's, driven by puppeteer-core).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { cli, config, envFor, Proc, type Rec, request, script, tempDir } from "./_helpers.ts";
import { until } from "./_poll.ts";
import { close, connect, readAnswer, writeAll } from "./_raw.ts";

const HOOKS = `
[[hooks]]
name = "echo"
bind = "127.0.0.1:0"
script = "./echo.sh"

[[hooks]]
name = "later"
bind = "127.0.0.1:0"
script = "./later.sh"
mode = "async"
max_attempts = 1
`;

/** A folder with a sync hook `echo`, an async hook `later` that fails until `ok` exists. */
async function withDaemon(
  options: { admin: string; env?: Record<string, string> },
  body: (d: Proc, dir: string) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: Proc | undefined;
  try {
    await script(tmp.path, "echo.sh", "cat");
    await script(
      tmp.path,
      "later.sh",
      `body=$(cat)\n[ -f "${tmp.path}/ok" ] || { echo "not yet" >&2; exit 4; }\necho "later $body"`,
    );
    await config(tmp.path, `${HOOKS}\n[admin]\n${options.admin}\n`);
    d = Proc.start([
      "run",
      "--name",
      "adm",
      "--daemon",
      "--format",
      "jsonl",
      "--hook",
      "echo",
      "--hook",
      "later",
    ], {
      env: envFor(tmp.path, options.env),
    });
    await body(d, tmp.path);
  } finally {
    if (d) assert.equal(await d.stop(), 0, d.stderr);
    await tmp.cleanup();
  }
}

/** POSTs `body` to hook `hook` of `d`. */
async function post(d: Proc, hook: string, body: string) {
  return await request(`http://${await d.addr(hook)}/`, { method: "POST", body });
}

const isDeadRun = (job: string) => (r: Rec) =>
  r.type === "hook_run" && r.job === job && r.dead === true;

Deno.test("a daemon with [admin] answers /healthz and /readyz, and /metrics that promtool accepts counts its webhooks, jobs and dead jobs", async () => {
  await withDaemon({ admin: `bind = "127.0.0.1:0"` }, async (d) => {
    const admin = `http://${await d.addr("admin")}`;
    assert.equal((await post(d, "echo", "hello")).status, 200);
    const accepted = await post(d, "later", "x");
    assert.equal(accepted.status, 202);
    const job = accepted.text.split(" ")[1].trim();
    await d.waitFor(isDeadRun(job));

    assert.deepEqual([(await request(`${admin}/healthz`)).text], ["ok\n"]);
    const ready = await request(`${admin}/readyz`);
    assert.deepEqual([ready.status, ready.text], [200, "ready\n"]);
    const res = await request(`${admin}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const lines = res.text.split("\n");
    for (
      const want of [
        "hookhost_ready 1",
        'hookhost_webhook_requests_total{hook="echo",status="200"} 1',
        'hookhost_webhook_requests_total{hook="later",status="500"} 1',
        'hookhost_script_duration_seconds_count{hook="echo"} 1',
        'hookhost_messages_injected_total{source="webhook"} 1',
        'hookhost_inbox_depth{session="adm",source="webhook"} 0',
        'hookhost_jobs_pending{session="adm"} 0',
        'hookhost_jobs_dead{session="adm"} 1',
        'hookhost_dead_letters{session="adm"} 0',
        'hookhost_http_requests_in_flight{hook="echo"} 0',
      ]
    ) assert.ok(lines.includes(want), `${want} missing from:\n${res.text}`);

    // Prometheus's own checker: the exposition format, names and help texts.
    const check = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = check.stdin.getWriter();
    await w.write(new TextEncoder().encode(res.text));
    await w.close();
    const out = await check.output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, said);
    assert.equal(said.trim(), "", "promtool lints");
  });
});

Deno.test("/readyz answers 503 saying why once the daemon's KV file is deleted (webhooks get 503 too), and /healthz still 200", async () => {
  await withDaemon({ admin: `bind = "127.0.0.1:0"` }, async (d, dir) => {
    const admin = `http://${await d.addr("admin")}`;
    assert.equal((await request(`${admin}/readyz`)).status, 200);
    await Deno.remove(join(dir, "state", "hookhost.kv"));
    let last = "";
    await until(async () => {
      const res = await request(`${admin}/readyz`);
      last = `${res.status} ${res.text}`;
      return res.status === 503;
    }, () => `readyz: ${last}`);
    assert.match(last, /^503 not ready: .*hookhost\.kv/);
    assert.equal((await request(`${admin}/healthz`)).status, 200);
    assert.equal((await post(d, "echo", "x")).status, 503);
    const metrics = await request(`${admin}/metrics`);
    assert.ok(metrics.text.split("\n").includes("hookhost_ready 0"), metrics.text);
  });
});

Deno.test("an [admin] token_env token is needed everywhere but /healthz; a request naming another host is refused without one", async () => {
  await withDaemon({
    admin: `bind = "127.0.0.1:0"\ntoken_env = "ADMIN_TOKEN"`,
    env: { ADMIN_TOKEN: "t0ken" },
  }, async (d) => {
    const admin = `http://${await d.addr("admin")}`;
    assert.equal((await request(`${admin}/healthz`)).status, 200);
    const denied = await request(`${admin}/metrics`);
    assert.deepEqual([denied.status, denied.text], [401, "Unauthorized: bring the admin token\n"]);
    const ok = await request(`${admin}/readyz`, { headers: { authorization: "Bearer t0ken" } });
    assert.deepEqual([ok.status, ok.text], [200, "ready\n"]);
  });
  await withDaemon({ admin: `bind = "127.0.0.1:0"` }, async (d) => {
    const admin = `http://${await d.addr("admin")}`;
    // What a page on attacker.example that rebound its name to 127.0.0.1 would send (fetch
    // cannot set Host: raw HTTP).
    const conn = await connect(Number(admin.split(":").at(-1)));
    try {
      await writeAll(conn, "GET /api/status HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n");
      const answer = await readAnswer(conn);
      assert.equal(answer.status, 403, answer.text);
    } finally {
      close(conn);
    }
    assert.equal((await request(`${admin}/api/status`)).status, 200);
  });
});

Deno.test("[admin] config: a bind other machines reach needs token_env; a token_env that is not set stops the daemon with one line (exit 2)", async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "echo.sh", "cat");
    await script(tmp.path, "later.sh", "cat");
    const file = await config(tmp.path, `${HOOKS}\n[admin]\nbind = "0.0.0.0:0"\n`);
    const check = await cli(["config", "check"], { env: envFor(tmp.path) });
    assert.equal(check.code, 2, check.stderr);
    assert.ok(
      check.stderr.includes(
        `${file}:14:1: admin.token_env: Admin bind '0.0.0.0:0' is reachable from other machines: set 'token_env' to the variable holding its token`,
      ),
      check.stderr,
    );
    await config(tmp.path, `${HOOKS}\n[admin]\nbind = "127.0.0.1:0"\ntoken_env = "NOT_SET_HERE"\n`);
    const run = await cli(["run", "--name", "adm", "--daemon", "--hook", "echo"], {
      env: envFor(tmp.path),
    });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr.trim().split("\n").at(-1),
      "hookhost: [admin] token_env names 'NOT_SET_HERE', which is not set or empty",
    );
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("the status page, in headless Chromium, shows a webhook just sent and a dead job whose replay button runs it again", async () => {
  await withDaemon({ admin: `bind = "127.0.0.1:0"` }, async (d, dir) => {
    const admin = `http://${await d.addr("admin")}`;
    const browser = await puppeteer.launch({
      executablePath: Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--headless=new", "--disable-gpu"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${admin}/`);
      const text = (selector: string) =>
        page.$eval(selector, (e) => e.textContent ?? "").catch(() => "");
      await until(async () => (await text("#state")) === "ready", () => "page says ready");

      assert.equal((await post(d, "echo", "seen-in-browser")).status, 200);
      let runs = "";
      await until(
        async () => /echo\s*200/.test(runs = await text("#runs tbody")),
        () => `runs table: ${runs}`,
      );

      const accepted = await post(d, "later", "replay-me");
      const job = accepted.text.split(" ")[1].trim();
      await d.waitFor(isDeadRun(job));
      const row = `#dead tr[data-dead="${job}"]`;
      await until(async () => (await text(row)).includes("replay-me"), () => `dead row ${job}`);
      await Deno.writeTextFile(join(dir, "ok"), "");
      await page.click(`${row} button`);
      await until(async () => (await page.$(row)) === null, () => `dead row ${job} still shown`);
      await d.waitFor((r) => r.type === "injected" && r.content === "later replay-me");

      const shot = join(dir, "status.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await Deno.stat(shot)).size > 1000, "a screenshot was saved");
    } finally {
      await browser.close();
    }
  });
});
