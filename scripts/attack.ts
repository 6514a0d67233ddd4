/**
 * `deno task attack`: the attacks of test/hostile_test.ts at full size, against a real daemon on
 * 127.0.0.1 with default settings, each bounded in count and time. Prints a table (attack,
 * figure, held or not) and writes it into docs/security.md between its `attack` markers;
 * `--print` leaves the file alone. Exits 1 if an attack was not held. Takes about two minutes.
 *
 * @module
 */
import { join } from "node:path";
import { cli, config, envFor, Proc, request, script, tempDir } from "../test/_helpers.ts";
import { close, closed, connect, fds, head, MIB, readAnswer, rss, writeAll } from "../test/_raw.ts";
import { pause } from "../test/_poll.ts";
import { hook, withDaemon } from "../test/_hostile.ts";
import { ROOT } from "./flags.ts";

interface Outcome {
  attack: string;
  figure: string;
  held: boolean;
}

/** A daemon in a temp folder serving hook `h` (and `[server]` when `plugins` is set). */
function daemon<T>(
  options: {
    toml?: string;
    scripts?: Record<string, string>;
    plugins?: boolean;
    prefix?: string[];
  },
  body: (d: Proc, port: number, dir: string) => Promise<T>,
): Promise<T> {
  const server = options.plugins ? '[server]\nbind = "127.0.0.1:0"\n\n' : "";
  return withDaemon({
    toml: server + (options.toml ?? hook()),
    scripts: { "hook.sh": "cat", ...options.scripts },
    plugins: options.plugins ? { "p.sh": "cat" } : undefined,
    prefix: options.prefix,
    name: "attack",
    cleanExit: false,
  }, async ({ d, port, dir }) => body(d, await port("h"), dir));
}

const post = (port: number, body = "ping", ms = 10_000) =>
  request(`http://127.0.0.1:${port}/`, { method: "POST", body }, ms).catch(() => ({
    status: -1,
    text: "",
    headers: new Headers(),
  }));

async function declaredBodies(): Promise<Outcome> {
  return await daemon({ toml: hook("max_body = 20000000") }, async (d, port) => {
    await post(port, "warm");
    const before = rss(d.child.pid);
    const conns = await Promise.all(Array.from({ length: 50 }, () => connect(port)));
    for (const c of conns) {
      await writeAll(c, head("POST", "/", { "Content-Length": "10000000" }) + "x");
    }
    // Trickle a byte a second to each for 10 s: a body that stalls is not what this measures.
    let peak = 0;
    for (let i = 0; i < 10; i++) {
      await Promise.all(conns.map((c) => writeAll(c, "x")));
      await pause(1000);
      peak = Math.max(peak, rss(d.child.pid) - before);
    }
    conns.forEach(close);
    const mb = peak / MIB;
    return {
      attack: "50 connections declaring `Content-Length: 10000000`, trickling 1 byte/s for 10 s",
      figure: `RSS +${mb.toFixed(1)} MiB`,
      held: mb < 64,
    };
  });
}

async function fdExhaustion(): Promise<Outcome> {
  return await daemon({ prefix: ["prlimit", "--nofile=256:256", "--"] }, async (d, port) => {
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 300; i++) {
      try {
        conns.push(await connect(port));
      } catch {
        // Refused while the daemon is out of fds.
      }
    }
    await pause(3000);
    const during = await post(port, "during", 5000);
    conns.forEach(close);
    await pause(1500);
    const after = await post(port, "after");
    const alive = d.child.pid > 0 &&
      (await Deno.stat(`/proc/${d.child.pid}`).then(() => true, () => false));
    return {
      attack: "300 idle connections with `prlimit --nofile=256`",
      figure: `daemon ${
        alive ? "up" : "exited"
      }; a request during: ${during.status}, after: ${after.status}; ${fds(d.child.pid)} fds after`,
      held: alive && after.status === 200,
    };
  });
}

async function slowloris(): Promise<Outcome> {
  return await daemon({}, async (d, port) => {
    const n = 1500;
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < n; i++) conns.push(await connect(port));
    const started = Date.now();
    const ends = conns.map((c) => closed(c, 60_000).then(() => Date.now() - started));
    let stop = false;
    const trickle = (async () => {
      await Promise.all(conns.map((c) => writeAll(c, "POST / HTTP/1.1\r\n")));
      while (!stop) {
        await Promise.all(conns.map((c) => writeAll(c, "X-a: b\r\n")));
        await pause(1000);
      }
    })();
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const a = await post(port, `normal ${i}`);
      if (a.status === 200) latencies.push(performance.now() - t);
      await pause(500);
    }
    const times = await Promise.all(ends);
    stop = true;
    await trickle;
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)] ?? Infinity;
    const last = Math.max(...times) / 1000;
    void d;
    return {
      attack: `${n} slowloris connections trickling header lines`,
      figure: `all closed by ${
        last.toFixed(1)
      } s (header_timeout 10 s); normal clients ${latencies.length}/10 served, median ${
        median.toFixed(0)
      } ms`,
      held: last < 15 && latencies.length === 10 && median < 1000,
    };
  });
}

async function syncFlood(): Promise<Outcome> {
  const scripts = {
    "hook.sh": 'echo s >> "$DIR/at"; sleep 0.5; echo e >> "$DIR/at"; cat',
  };
  return await daemon({ scripts }, async (_d, port, dir) => {
    const n = 2000;
    const t0 = performance.now();
    const times: { status: number; ms: number }[] = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const a = await post(port, `m${i}`, 60_000);
        return { status: a.status, ms: performance.now() - t0 };
      }),
    );
    let running = 0;
    let most = 0;
    for (const line of (await Deno.readTextFile(join(dir, "at"))).split("\n")) {
      if (line === "s") most = Math.max(most, ++running);
      if (line === "e") running--;
    }
    const ok = times.filter((t) => t.status === 200).length;
    const busy = times.filter((t) => t.status === 503);
    busy.sort((a, b) => a.ms - b.ms);
    const median = busy[Math.floor(busy.length / 2)]?.ms ?? 0;
    const cores = navigator.hardwareConcurrency;
    return {
      attack: `${n} concurrent POSTs to a sync script hook (a 0.5 s script)`,
      figure: `at most ${most} scripts at once; ${ok} answered 200, ${busy.length} 503 (median ${
        median.toFixed(0)
      } ms)`,
      held: most <= 2 * cores && ok + busy.length === n,
    };
  });
}

async function malformed(): Promise<Outcome> {
  return await daemon({ plugins: true }, async (d) => {
    const server = Number((await d.addr("server")).split(":").pop());
    const conn = await connect(server);
    await writeAll(conn, head("GET", "/hooks/%ZZ"));
    const a = await readAnswer(conn, 10_000);
    close(conn);
    return {
      attack: "`GET /hooks/%ZZ` on the plugin server",
      figure: `${a.status}`,
      held: a.status === 400,
    };
  });
}

async function stateDeleted(): Promise<Outcome> {
  return await daemon({}, async (d, port, dir) => {
    const acked: string[] = [];
    for (let i = 0; i < 4; i++) if ((await post(port, `b${i}`)).status === 200) acked.push(`b${i}`);
    await Deno.remove(join(dir, "state"), { recursive: true });
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      const a = await post(port, `a${i}`);
      if (a.status === 200) acked.push(`a${i}`);
      else refused++;
      await pause(50);
    }
    await pause(1000);
    const got = new Set(d.records.filter((r) => r.type === "injected").map((r) => r.content));
    const lost = acked.filter((b) => !got.has(b)).length;
    const send = await cli(["send", "--name", "attack", "x"], { env: envFor(dir) });
    return {
      attack: "the state folder deleted while the daemon runs",
      figure:
        `${acked.length} acknowledged, ${lost} lost; ${refused} answered 503 after it noticed; send exit ${send.code}`,
      held: lost === 0 && refused > 0 && send.code !== 0,
    };
  });
}

/** What a refusal said, without the temp folder's name. */
const why = (stderr: string) => stderr.replace(/'[^']*'/g, "'…'").replace(/^hookhost: /, "").trim();

async function openState(): Promise<Outcome> {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", "cat");
    await config(tmp.path, hook());
    const open = join(tmp.path, "open");
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    const r = await cli(["run", "--name", "s", "--daemon", "--hook", "h"], {
      env: envFor(tmp.path, { HOOKHOST_STATE: open }),
    });
    const sessions = join(tmp.path, "state", "sessions");
    await Deno.mkdir(sessions, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(join(tmp.path, "victim"), "v");
    await Deno.symlink(join(tmp.path, "victim"), join(sessions, "s.lock"));
    const l = await cli(["run", "--name", "s", "--daemon", "--hook", "h"], {
      env: envFor(tmp.path),
    });
    const victim = await Deno.readTextFile(join(tmp.path, "victim"));
    return {
      attack: "`HOOKHOST_STATE` world-writable; a lock planted as a symlink",
      figure: `exit ${r.code} (${why(r.stderr)}); symlink: exit ${l.code}, target ${
        victim === "v" ? "unchanged" : "overwritten"
      }`,
      held: r.code === 2 && l.code === 2 && victim === "v",
    };
  } finally {
    await tmp.cleanup();
  }
}

async function diskFull(): Promise<Outcome> {
  const attack = "the disk fills while the handler runs";
  const tmp = await tempDir();
  const disk = join(tmp.path, "disk");
  await Deno.mkdir(disk);
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk],
  }).output().catch(() => null);
  if (!mount?.success) {
    await tmp.cleanup();
    return {
      attack,
      figure: "not measured: this machine does not let us mount a tmpfs",
      held: true,
    };
  }
  try {
    const handled = join(tmp.path, "handled.log");
    await script(tmp.path, "handler.sh", `cat >> '${handled}'; echo >> '${handled}'`);
    await script(tmp.path, "hook.sh", "cat");
    await config(tmp.path, '[session]\nhandler = "./handler.sh"\n\n' + hook());
    const env = envFor(tmp.path, { HOOKHOST_STATE: join(disk, "state") });
    const d = Proc.start(
      ["run", "--name", "full", "--daemon", "--format", "jsonl", "--hook", "h"],
      {
        env,
      },
    );
    try {
      const port = Number((await d.addr("h")).split(":").pop());
      const acked: string[] = [];
      for (let i = 0; i < 50; i++) {
        if ((await post(port, `before-${i}`)).status === 200) acked.push(`before-${i}`);
      }
      // Something else fills the disk while the daemon runs.
      const filler = await Deno.open(join(disk, "filler"), { write: true, create: true });
      try {
        while (true) await filler.write(new Uint8Array(64 * 1024));
      } catch {
        // No space left.
      } finally {
        filler.close();
      }
      let refused = 0;
      for (let i = 0; i < 2000 && refused < 20; i++) {
        const body = `m${i}-${"x".repeat(16_000)}`;
        const a = await post(port, body);
        if (a.status === 200) acked.push(body);
        else refused++;
      }
      const full = refused > 0;
      const send = await cli(["send", "--name", "full", "more"], { env });
      // The operator frees the disk; then everything acknowledged must be handled.
      await Deno.remove(join(disk, "filler"));
      for (let i = 0; i < 5; i++) {
        const body = `after-${i}`;
        while ((await post(port, body)).status !== 200) await pause(200);
        acked.push(body);
      }
      const deadline = Date.now() + 60_000;
      let got = new Set<string>();
      while (Date.now() < deadline) {
        got = new Set((await Deno.readTextFile(handled).catch(() => "")).split("\n"));
        if (acked.every((b) => got.has(b))) break;
        await pause(500);
      }
      const lost = acked.filter((b) => !got.has(b)).length;
      const alive = await Deno.stat(`/proc/${d.child.pid}/fd`).then(() => true, () => false);
      return {
        attack,
        figure:
          `${acked.length} acknowledged, ${lost} lost; ${refused} answered 503 while full; send exit ${send.code}; daemon ${
            alive ? "up" : "exited"
          }`,
        held: full && lost === 0 && alive && send.code === 1,
      };
    } finally {
      await d.stop();
    }
  } finally {
    await new Deno.Command("umount", { args: ["-l", disk] }).output();
    await tmp.cleanup();
  }
}

const attacks = [
  declaredBodies,
  fdExhaustion,
  slowloris,
  syncFlood,
  malformed,
  stateDeleted,
  diskFull,
  openState,
];
const outcomes: Outcome[] = [];
// `--only NAME` (a function name above) runs one attack, prints, and leaves the docs alone.
const only = Deno.args[Deno.args.indexOf("--only") + 1];
for (const attack of attacks) {
  if (Deno.args.includes("--only") && attack.name !== only) continue;
  const t = performance.now();
  let o: Outcome;
  try {
    o = await attack();
  } catch (e) {
    o = {
      attack: attack.name,
      figure: `failed: ${(e as Error).message.split("\n")[0]}`,
      held: false,
    };
  }
  outcomes.push(o);
  console.error(
    `${o.held ? "held" : "NOT HELD"}  ${o.attack}: ${o.figure} (${
      ((performance.now() - t) / 1000).toFixed(0)
    } s)`,
  );
}

const table = [
  `Measured by \`deno task attack\` on ${
    new Date().toISOString().slice(0, 10)
  }, ${navigator.hardwareConcurrency} cores, default settings:`,
  "",
  "| attack | figure | held |",
  "|---|---|---|",
  ...outcomes.map((o) => `| ${o.attack} | ${o.figure} | ${o.held ? "yes" : "**no**"} |`),
].join("\n");
console.log(table);
if (!Deno.args.includes("--print") && !Deno.args.includes("--only")) {
  const path = join(ROOT, "docs", "security.md");
  const doc = await Deno.readTextFile(path);
  const re = /(<!-- attack:start -->\n)[\s\S]*?(<!-- attack:end -->)/;
  if (!re.test(doc)) throw new Error(`No attack markers in ${path}`);
  await Deno.writeTextFile(path, doc.replace(re, `$1${table}\n$2`));
}
if (outcomes.some((o) => !o.held)) Deno.exit(1);
