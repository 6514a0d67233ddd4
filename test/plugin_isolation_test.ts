/**
 * A hostile plugin against a real daemon (`hookhost run`, plugins in processes of their own, the
 * default): a tight loop, memory without end. What a user checks: the answers, the CPU time of
 * the daemon's process tree and the daemon's RSS from `/proc`, and that another plugin answers
 * meanwhile (docs/plugins.md, "Permissions and isolation").
 */
import assert from "node:assert/strict";
import { MIB, pluginPid, rss, tree, treeCpuMs } from "./_raw.ts";
import { alive, pause, scaled, until } from "./_poll.ts";
import { cli, envFor, request } from "./_helpers.ts";
import { hook, withDaemon } from "./_hostile.ts";

const SERVER = '[server]\nbind = "127.0.0.1:0"\n\n';

const OTHER = `export default { webhook: () => new Response("other") };`;

async function get(url: string): Promise<{ status: number; text: string }> {
  const a = await request(url);
  return { status: a.status, text: a.text };
}

Deno.test("a plugin in a tight loop answers 504, its process is killed so the tree stops using CPU, and it restarts; another plugin and a script hook answer meanwhile", async () => {
  const plugins = {
    "spin.ts": `export default {
      webhook(request) {
        if (new URL(request.url).searchParams.has("spin")) while (true) {}
        return new Response("fine");
      },
    };`,
    "other.ts": OTHER,
  };
  const toml = SERVER + hook() + "\n[plugins.spin]\ntimeout = 1\n";
  await withDaemon({ toml, plugins }, async ({ d, port }) => {
    const base = `http://127.0.0.1:${await port("server")}/hooks`;
    const scriptHook = `http://127.0.0.1:${await port("h")}/`;
    assert.deepEqual(await get(`${base}/spin`), { status: 200, text: "fine" });
    const spinning = pluginPid(d.child.pid, "spin");
    assert.ok(spinning, JSON.stringify(tree(d.child.pid)));

    const hung = request(`${base}/spin?spin`);
    // While it spins, the other plugin and a script hook answer.
    assert.deepEqual(await get(`${base}/other`), { status: 200, text: "other" });
    const scripted = await request(scriptHook, { method: "POST", body: "during" });
    assert.equal(scripted.status, 200, scripted.text);
    const answer = await hung;
    assert.equal(answer.status, 504, answer.text);
    // Killed (a Worker's terminate() would have left the loop running), so the whole tree is
    // idle: less than a fifth of a core over a second, where the loop took a whole one.
    await until(() => !alive(spinning), () => `the spinning process ${spinning} is gone`);
    const before = treeCpuMs(d.child.pid);
    await pause(1000);
    const used = treeCpuMs(d.child.pid) - before;
    assert.ok(used < scaled(1000) / 5, `the daemon's tree used ${used} ms of CPU in 1 s`);

    // Restarted with backoff (1 s first): it answers again, from a new process.
    await until(
      async () => (await get(`${base}/spin`)).status === 200,
      () => `spin answering again; stderr:\n${d.stderr}`,
    );
    assert.notEqual(pluginPid(d.child.pid, "spin"), spinning);
    assert.match(d.stderr, /plugin spin: A handler ran past its 1 s timeout/);
    assert.match(d.stderr, /plugin spin: restarted/);
  });
});

Deno.test("a plugin past its memory limit is killed and restarted, whether the heap or buffers grow; the daemon and another plugin are unaffected", async () => {
  // One grows V8's heap (bounded by --max-old-space-size), one holds buffers outside it (seen
  // in its RSS). Each grows only when asked, so that its restart can be seen answering.
  const grow = (what: string) =>
    `export default {
      webhook(request) {
        if (!new URL(request.url).searchParams.has("grow")) return new Response("fine");
        const keep = (globalThis.keep = []);
        setInterval(() => { for (let i = 0; i < 4; i++) keep.push(${what}); }, 5);
        return new Response("growing");
      },
    };`;
  const plugins = {
    "heap.ts": grow("Array.from({ length: 100000 }, (_, j) => ({ j }))"),
    "buffers.ts": grow("new Uint8Array(4 * 1024 * 1024).fill(1)"),
    "other.ts": OTHER,
  };
  const toml = SERVER + "[plugins.heap]\nmemory = 96\n\n[plugins.buffers]\nmemory = 96\n";
  await withDaemon({ toml, hooks: [], plugins }, async ({ d, port }) => {
    const base = `http://127.0.0.1:${await port("server")}/hooks`;
    const daemonBefore = rss(d.child.pid);
    const pids = {
      heap: pluginPid(d.child.pid, "heap"),
      buffers: pluginPid(d.child.pid, "buffers"),
    };
    for (const name of ["heap", "buffers"] as const) {
      assert.ok(pids[name], `${name} runs in its own process`);
      assert.deepEqual(await get(`${base}/${name}?grow`), { status: 200, text: "growing" });
    }
    for (const name of ["heap", "buffers"] as const) {
      await until(() => !alive(pids[name]!), () => `${name}'s process ${pids[name]} is gone`);
      assert.deepEqual(await get(`${base}/other`), { status: 200, text: "other" });
    }
    await until(
      () => /plugin heap: .*(ran out of memory|over its memory limit of 96 MiB)/.test(d.stderr),
      () => `heap's end logged:\n${d.stderr}`,
    );
    await until(
      () => /plugin buffers: It used \d+ MiB, over its memory limit of 96 MiB/.test(d.stderr),
      () => `buffers' end logged:\n${d.stderr}`,
    );
    for (const name of ["heap", "buffers"]) {
      await until(
        async () => (await get(`${base}/${name}`)).text === "fine",
        () => `${name} restarted; stderr:\n${d.stderr}`,
      );
    }
    const grew = rss(d.child.pid) - daemonBefore;
    assert.ok(grew < 32 * MIB, `the daemon's RSS grew by ${Math.round(grew / MIB)} MiB`);
  });
});

Deno.test("a plugin whose top-level code never ends is killed when loading times out (10 s) and reported failed", async () => {
  const plugins = { "stuck.ts": "while (true) {}\nexport default {};\n", "other.ts": OTHER };
  await withDaemon({ toml: SERVER, hooks: [], plugins }, async ({ d, dir, port }) => {
    const base = `http://127.0.0.1:${await port("server")}/hooks`;
    assert.deepEqual(await get(`${base}/other`), { status: 200, text: "other" });
    await until(
      () => d.stderr.includes("stuck.ts: Loading took longer than 10 s"),
      () => `the load timeout logged:\n${d.stderr}`,
    );
    await until(() => pluginPid(d.child.pid, "stuck") === undefined, () => "stuck's process gone");
    const before = treeCpuMs(d.child.pid);
    await pause(1000);
    const used = treeCpuMs(d.child.pid) - before;
    assert.ok(used < scaled(1000) / 5, `the daemon's tree used ${used} ms of CPU in 1 s`);
    assert.equal((await get(`${base}/stuck`)).status, 404);
    const ls = await cli(["plugins", "ls", "--name", "hostile", "--json"], { env: envFor(dir) });
    const stuck = ls.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((r) =>
      r.file.endsWith("stuck.ts")
    );
    assert.equal(stuck?.state, "failed", ls.stdout);
  });
});

Deno.test("plugin processes exit when their daemon is killed with SIGKILL", async () => {
  const plugins = { "a.ts": OTHER, "b.ts": OTHER };
  await withDaemon({ toml: SERVER, hooks: [], plugins, cleanExit: false }, async ({ d, port }) => {
    await port("server");
    const pids = ["a", "b"].map((n) => pluginPid(d.child.pid, n));
    assert.ok(pids.every(Boolean), JSON.stringify(tree(d.child.pid)));
    d.child.kill("SIGKILL");
    for (const pid of pids) await until(() => !alive(pid!), () => `plugin process ${pid} exits`);
  });
});

Deno.test('isolation = "worker" runs the plugin inside the daemon: no process of its own, plugins ls says so', async () => {
  const plugins = { "inner.ts": OTHER, "outer.ts": OTHER };
  const toml = SERVER + '[plugins.inner]\nisolation = "worker"\n';
  await withDaemon({ toml, hooks: [], plugins }, async ({ d, dir, port }) => {
    const base = `http://127.0.0.1:${await port("server")}/hooks`;
    for (const name of ["inner", "outer"]) {
      assert.deepEqual(await get(`${base}/${name}`), { status: 200, text: "other" });
    }
    assert.equal(pluginPid(d.child.pid, "inner"), undefined);
    assert.ok(pluginPid(d.child.pid, "outer"));
    const ls = await cli(["plugins", "ls", "--name", "hostile", "--json"], { env: envFor(dir) });
    assert.equal(ls.code, 0, ls.stderr);
    const rows = Object.fromEntries(
      ls.stdout.trim().split("\n").map((l) => JSON.parse(l)).map((r) => [r.name, r]),
    );
    assert.equal(rows.inner.isolation, "worker");
    assert.equal(rows.inner.rss, undefined);
    assert.equal(rows.outer.isolation, "process");
    assert.ok(rows.outer.rss > 0, JSON.stringify(rows.outer));
  });
});

Deno.test("a plugin flooding stderr without newlines, or writing a huge frame header to stdout, costs the daemon nothing: another plugin answers, the writer is killed", async () => {
  const plugins = {
    // 8 MiB on stderr with no newline: the host keeps 4 KiB of it.
    "noisy.ts": `export default { webhook() {
      const b = new Uint8Array(1 << 20).fill(65);
      setTimeout(async () => { for (let i = 0; i < 8; i++) await Deno.stderr.write(b); }, 0);
      return new Response("started");
    } };`,
    // Its stdout is the frame channel when it runs inline: a frame of 1 GiB is refused at once.
    "forger.ts": `export default { webhook() {
      setTimeout(async () => {
        const h = new Uint8Array(4);
        new DataView(h.buffer).setUint32(0, (1 << 30) - 1, true);
        await Deno.stdout.write(h);
        for (let i = 0; i < 64; i++) await Deno.stdout.write(new Uint8Array(1 << 20));
      }, 0);
      return new Response("started");
    } };`,
    "other.ts": OTHER,
  };
  await withDaemon({ toml: SERVER, hooks: [], plugins }, async ({ d, port }) => {
    const base = `http://127.0.0.1:${await port("server")}/hooks`;
    const before = rss(d.child.pid);
    const forger = pluginPid(d.child.pid, "forger");
    for (const name of ["noisy", "forger"]) {
      assert.deepEqual(await get(`${base}/${name}`), { status: 200, text: "started" });
    }
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await get(`${base}/other`), { status: 200, text: "other" });
    }
    await until(() => !alive(forger!), () => `forger's process ${forger} is killed`);
    await until(() => /plugin forger: .*over the limit/.test(d.stderr), () => d.stderr);
    const grew = rss(d.child.pid) - before;
    assert.ok(grew < 48 * MIB, `the daemon's RSS grew by ${Math.round(grew / MIB)} MiB`);
    // Its unfinished line is held (4 KiB of it) until a newline or its end; it keeps serving.
    assert.deepEqual(await get(`${base}/noisy`), { status: 200, text: "started" });
    const long = d.stderr.split("\n").filter((l) => l.includes("plugin noisy:") && l.length > 4200);
    assert.deepEqual(long, []);
  });
});

Deno.test("a plugin spinning between calls is killed after its timeout; one allocating while it loads is killed at its memory limit", async () => {
  const plugins = {
    "idle-spin.ts": `setInterval(() => { const t = Date.now(); while (Date.now() - t < 50) {} }, 0);
      export default { webhook: () => new Response("x") };`,
    "load-hog.ts": `const keep = []; const t0 = Date.now();
      while (Date.now() - t0 < 7000) keep.push(new Uint8Array(16 << 20).fill(1));
      export default { webhook: () => new Response("x") };`,
  };
  const toml = SERVER + "[plugins.idle-spin]\ntimeout = 1\n\n[plugins.load-hog]\nmemory = 96\n";
  await withDaemon({ toml, hooks: [], plugins }, async ({ d }) => {
    await until(
      () => /plugin idle-spin: It used a whole core for \d+ s with no call running/.test(d.stderr),
      () => `idle-spin killed:\n${d.stderr}`,
    );
    await until(
      () => /load-hog.ts: It used \d+ MiB, over its memory limit of 96 MiB/.test(d.stderr),
      () => `load-hog killed while loading:\n${d.stderr}`,
    );
    const [, used] = /load-hog.ts: It used (\d+) MiB/.exec(d.stderr)!;
    // Checked 4 times a second from the start: at most a few hundred MiB past the limit.
    assert.ok(Number(used) < 600, `load-hog reached ${used} MiB`);
  });
});

Deno.test("a plugin that replaces Deno.exit and spins in a timer still dies with its daemon", async () => {
  const plugins = {
    "clingy.ts": `Deno.exit = () => {}; setTimeout(() => { while (true) {} }, 500);
      export default { webhook: () => new Response("x") };`,
  };
  await withDaemon({ toml: SERVER, hooks: [], plugins, cleanExit: false }, async ({ d, port }) => {
    await port("server");
    const pid = pluginPid(d.child.pid, "clingy");
    assert.ok(pid, JSON.stringify(tree(d.child.pid)));
    d.child.kill("SIGKILL");
    await until(() => !alive(pid), () => `clingy's process ${pid} exits`);
  });
});
