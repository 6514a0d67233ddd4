/**
 * examples/nginx/hookhost.conf in front of a real daemon: the file as shipped (its timeouts cut to
 * 1 s), nginx on a Unix socket in a temp folder, attacked as test/hostile_test.ts attacks hookhost.
 * What the nginx front must close is what hookhost's connection guard closes where it runs:
 * heads that never complete, stalled bodies, idle keep-alive, and connections past its limit.
 * Needs `nginx` on PATH (.ci/run installs it); skipped without it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { close, closed, fds, head, MIB, readAnswer, rss, writeAll } from "./_raw.ts";
import { until } from "./_poll.ts";
import { hook, trickle, withDaemon } from "./_hostile.ts";

const EXAMPLE = new URL("../examples/nginx/hookhost.conf", import.meta.url);

function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat("/usr/sbin", "/sbin")) {
    try {
      if (Deno.statSync(join(dir, cmd)).isFile) return join(dir, cmd);
    } catch {
      // Not here.
    }
  }
}

const nginx = which("nginx");

/** `text` with `from` replaced by `to`; fails if the example no longer has `from`. */
function swap(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `examples/nginx/hookhost.conf has no '${from}'`);
  return text.replaceAll(from, to);
}

interface Front {
  /** A connection to nginx. */
  connect: () => Promise<Deno.Conn>;
  pid: number;
  errors: () => string;
}

/** Runs nginx in `dir` with the example in front of port `upstream`; stops it after `body`. */
async function withNginx(
  dir: string,
  upstream: number,
  body: (front: Front) => Promise<void>,
): Promise<void> {
  const root = join(dir, "nginx");
  await Deno.mkdir(root);
  const sock = join(root, "front.sock");
  let site = await Deno.readTextFile(EXAMPLE);
  site = swap(site, "server 127.0.0.1:9000;", `server 127.0.0.1:${upstream};`);
  site = swap(site, "listen 8080;", `listen unix:${sock};`);
  for (
    const d of ["client_header_timeout 10s", "client_body_timeout 30s", "keepalive_timeout 60s"]
  ) {
    site = swap(site, d, d.replace(/\d+s$/, "1s"));
  }
  await Deno.writeTextFile(join(root, "hookhost.conf"), site);
  // What nginx.conf around an included site holds, with every path in the temp folder. One
  // process that stays as the user who runs the test, and few connections, to exceed them.
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `${t}_temp_path ${join(root, t)};`).join(" ");
  await Deno.writeTextFile(
    join(root, "nginx.conf"),
    `daemon off; master_process off; pid ${join(root, "nginx.pid")};
     error_log ${join(root, "error.log")} info;
     events { worker_connections 16; }
     http { access_log off; ${temp} include ${join(root, "hookhost.conf")}; }`,
  );
  const child = new Deno.Command(nginx!, {
    args: ["-p", root, "-c", join(root, "nginx.conf"), "-e", join(root, "error.log")],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const errors = () => {
    try {
      return Deno.readTextFileSync(join(root, "error.log"));
    } catch {
      return "";
    }
  };
  try {
    const up = () => Deno.stat(sock).then(() => true, () => false);
    await until(up, () => `nginx listening (${errors()})`);
    const connect = () => Deno.connect({ transport: "unix", path: sock });
    await body({ connect, pid: child.pid, errors });
  } finally {
    child.kill("SIGQUIT");
    await child.status;
  }
}

const post = (body: string, headers: Record<string, string> = {}) =>
  head("POST", "/", { "Content-Length": String(body.length), ...headers }) + body;

Deno.test({
  name: "examples/nginx/hookhost.conf in front of hookhost closes what the connection guard does",
  ignore: !nginx,
  fn: async (t) => {
    await withDaemon({ toml: hook() }, async ({ dir, d, port, runs }) => {
      await withNginx(dir, await port("h"), async (front) => {
        await t.step(
          "a request reaches the script; the kept-alive connection closes once idle",
          async () => {
            const conn = await front.connect();
            await writeAll(conn, post("through nginx"));
            const answer = await readAnswer(conn);
            assert.equal(answer.status, 200, answer.text);
            assert.doesNotMatch(answer.text, /connection: close/i, "kept alive");
            await d.waitFor((r) => r.type === "injected" && r.content === "through nginx");
            assert.equal(
              await closed(conn, 30_000),
              true,
              "closed by nginx after keepalive_timeout",
            );
          },
        );

        const fdsBefore = fds(d.child.pid);

        await t.step("heads trickled or never sent are closed; none reaches hookhost", async () => {
          const silent = await Promise.all(Array.from({ length: 3 }, front.connect));
          const slow = await Promise.all(Array.from({ length: 3 }, front.connect));
          // ~60 bytes at a byte per 200 ms: 12 s, never complete within the head timeout.
          const trickling = slow.map((c) =>
            trickle(c, head("POST", "/", { "X-Pad": "a".repeat(20) }), 200)
          );
          const ends = await Promise.all([...silent, ...slow].map((c) => closed(c, 30_000)));
          await Promise.all(trickling);
          assert.deepEqual(ends, Array(6).fill(true));
          assert.deepEqual(await runs(), ["run"]);
        });

        await t.step("a stalled body is dropped and the script never runs", async () => {
          const conn = await front.connect();
          await writeAll(conn, head("POST", "/", { "Content-Length": "1000" }) + "only this");
          assert.equal(await closed(conn, 30_000), true);
          assert.deepEqual(await runs(), ["run"]);
        });

        await t.step("a body over client_max_body_size is 413; the script never runs", async () => {
          const conn = await front.connect();
          await writeAll(conn, head("POST", "/", { "Content-Length": "20000000" }));
          const answer = await readAnswer(conn);
          close(conn);
          assert.equal(answer.status, 413, answer.text);
          assert.deepEqual(await runs(), ["run"]);
        });

        await t.step(
          "declared 10 MB bodies cost nginx the bytes received, not declared",
          async () => {
            const before = rss(front.pid);
            const conns = await Promise.all(Array.from({ length: 10 }, front.connect));
            for (const c of conns) {
              await writeAll(c, head("POST", "/", { "Content-Length": "10000000" }) + "x");
            }
            const grew = rss(front.pid) - before;
            await Promise.all(conns.map((c) => closed(c, 30_000)));
            assert.ok(grew < 16 * MIB, `nginx RSS grew by ${Math.round(grew / MIB)} MiB`);
            assert.deepEqual(await runs(), ["run"]);
          },
        );

        await t.step(
          "past worker_connections nginx drops new connections and serves again after",
          async () => {
            const flood = await Promise.all(Array.from({ length: 30 }, front.connect));
            // hookhost holds no more descriptors for them: nginx never passes them on.
            assert.ok(
              fds(d.child.pid) <= fdsBefore,
              `hookhost fds ${fds(d.child.pid)} > ${fdsBefore}`,
            );
            await until(
              () => /worker_connections are not enough/.test(front.errors()),
              () => "nginx said it ran out of connections",
            );
            await Promise.all(flood.map((c) => closed(c, 30_000)));
            const conn = await front.connect();
            await writeAll(conn, post("after the flood", { Connection: "close" }));
            const answer = await readAnswer(conn);
            close(conn);
            assert.equal(answer.status, 200, answer.text);
            assert.deepEqual(await runs(), ["run", "run"]);
          },
        );
      });
    });
  },
});
