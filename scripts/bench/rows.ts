/**
 * The benchmark rows of issue 5, each measured on loopback in this run.
 *
 * @module
 */
import { join } from "node:path";
import { EventBus } from "../../src/events/bus.ts";
import { HooksFile } from "../../src/events/hooks_file.ts";
import { InboxStore } from "../../src/inbox/store.ts";
import { JobStore } from "../../src/webhook/job_store.ts";
import { recordStart } from "../../src/inbox/sessions.ts";
import { getLogger } from "@logtape/logtape";
import { BUNDLE_FLAGS } from "../bundle.ts";
import { runtimeFlags } from "../flags.ts";
import { pluginPid } from "../../test/_raw.ts";
import {
  detached,
  HOOKHOST,
  median,
  quantile,
  rssMb,
  startHookhost,
  startHookhostToFile,
  startPeer,
  startWorkerBaseline,
  wrk,
  type WrkResult,
} from "./tools.ts";

/** How long and how much: `quick` finishes in under 3 minutes. */
export interface Budget {
  /** Seconds per wrk run. */
  seconds: number;
  /** Interleaved rounds per comparison (at least 3). */
  rounds: number;
  /** Interleaved rounds for row 1, the noisiest comparison and the one with a target. */
  syncRounds: number;
  /** Sequential sends for row 4. */
  sends: number;
  /** Pending messages for row 5. */
  drain: number;
  /** Events for row 6. */
  events: number;
  /** Seconds of load for row 8. */
  soak: number;
}

/** One measured row. */
export interface Row {
  /** Row number in the issue's table (orders the rows). */
  n: number;
  /** Shown instead of `n` (a diagnostic row between the issue's rows). */
  label?: string;
  /** What was measured. */
  workload: string;
  /** hookhost's figure. */
  hookhost: string;
  /** The peer's figure, or `n/a`. */
  peer: string;
  /** hookhost ÷ peer (or the figure the target is about). */
  ratio: string;
  /** The target. */
  target: string;
  /** Whether the target was met. */
  met: boolean | null;
}

/**
 * The row-1 script. hookhost writes the body to its stdin; adnanh/webhook 2.8.0 cannot, and hands
 * it over as a file instead (`$BODY_FILE`, see `startPeer()`), which the script then reads as its
 * stdin: with either runner it reads the same 1 KiB the same way.
 */
const SYNC_SCRIPT =
  '#!/bin/sh\n[ -z "$BODY_FILE" ] || exec <"$BODY_FILE"\nread -r line\necho "got ${#line} bytes"\n';
const BODY = JSON.stringify({ pad: "x".repeat(1024 - 10) });

async function write(path: string, text: string, mode?: number) {
  await Deno.writeTextFile(path, text);
  if (mode) await Deno.chmod(path, mode);
}

/** `hooks` sync hooks on the row-1 script; any method, since row 1b sends GETs. */
function syncConfig(dir: string, hooks = 1): string {
  return Array.from(
    { length: hooks },
    (_, i) =>
      `[[hooks]]\nname = "sync${i || ""}"\nbind = "127.0.0.1:0"\nscript = "${dir}/sync.sh"\n` +
      `methods = ["*"]\n`,
  )
    .join("\n");
}

/**
 * Throws unless hookhost's output holds a message for every request answered with success: a
 * figure is worth nothing if it was bought by dropping messages.
 */
async function checkMessages(
  h: { count(needle: string): Promise<number> },
  r: WrkResult,
): Promise<void> {
  const messages = await h.count('"type":"injected"');
  if (messages < r.requests - r.errors) {
    throw new Error(`hookhost answered ${r.requests - r.errors} requests but wrote ${messages}`);
  }
}

/** Medians of interleaved rounds of the row-1 script behind hookhost and the peer. */
async function compareSync(
  dir: string,
  b: Budget,
  label: string,
  options: { body?: string; bodyFile?: boolean; rounds?: number } = {},
) {
  const { body } = options;
  await write(join(dir, "sync.sh"), SYNC_SCRIPT, 0o755);
  await write(join(dir, "hookhost.toml"), syncConfig(dir));
  const hh: WrkResult[] = [];
  const peer: WrkResult[] = [];
  for (let round = 0; round < (options.rounds ?? b.rounds); round++) {
    const p = await startPeer(dir, join(dir, "sync.sh"), { bodyFile: options.bodyFile });
    peer.push(await wrk(p.url, { connections: 16, seconds: b.seconds, body }));
    await p.stop();
    const h = await startHookhostToFile(dir, {
      name: `r${label}-${round}`,
      hooks: ["sync"],
      wait: /"listening"/,
    });
    try {
      hh.push(await wrk(h.url + "/", { connections: 16, seconds: b.seconds, body }));
    } finally {
      await h.stop();
    }
    await checkMessages(h, hh.at(-1)!);
    console.error(
      `row ${label} round ${round + 1}: hookhost ${hh.at(-1)!.rps.toFixed(0)} req/s, peer ${
        peer.at(-1)!.rps.toFixed(0)
      } req/s`,
    );
  }
  const hRps = median(hh.map((r) => r.rps));
  const pRps = median(peer.map((r) => r.rps));
  const hP99 = median(hh.map((r) => r.p99));
  const pP99 = median(peer.map((r) => r.p99));
  const errors = hh.reduce((n, r) => n + r.errors, 0);
  return {
    hookhost: `${hRps.toFixed(0)} req/s, p99 ${hP99.toFixed(1)} ms${
      errors ? `, ${errors} errors` : ""
    }`,
    peer: `${pRps.toFixed(0)} req/s, p99 ${pP99.toFixed(1)} ms`,
    ratio: `${(hRps / pRps).toFixed(2)}× req/s, ${(hP99 / pP99).toFixed(2)}× p99`,
    met: hRps >= 1.1 * pRps && hP99 <= pP99,
  };
}

/**
 * Row 1: the same sync `sh` script behind hookhost and adnanh/webhook, interleaved rounds. Each
 * runner hands the script the body its own way: hookhost on stdin, the peer as a file the script
 * reads as its stdin (see `SYNC_SCRIPT`).
 */
export async function row1(dir: string, b: Budget): Promise<Row> {
  return {
    n: 1,
    workload:
      "sync script hook, wrk -c16, POST 1 KiB JSON read by the script (hookhost passes it on stdin; the peer, which cannot, as a file the script reads as its stdin); hookhost also passes each message through its inbox (straight to the output while none is pending)",
    target: "≥ 1.1× req/s, p99 ≤ peer's",
    ...await compareSync(dir, b, "1", { body: BODY, bodyFile: true, rounds: b.syncRounds }),
  };
}

/**
 * Row 1a, a diagnostic: row 1 as the bench measured it before, with the peer's script given no
 * body (it reads EOF) while hookhost's reads 1 KiB. dash reads a body one byte at a time, a system
 * call each, which makes its script ~40 % dearer.
 */
export async function row1a(dir: string, b: Budget): Promise<Row> {
  const { met: _, ...figures } = await compareSync(dir, b, "1a", { body: BODY });
  return {
    n: 1.2,
    label: "1a",
    workload:
      "diagnostic: row 1 with the peer's script given no body (it reads EOF; hookhost's reads 1 KiB): the comparison earlier runs of this bench made",
    target: "— (not the same work)",
    ...figures,
    met: null,
  };
}

/**
 * Row 1b, a diagnostic: row 1 with GET requests, so that both scripts read EOF and the ratio is
 * that of the runners alone, with no body to pass.
 */
export async function row1b(dir: string, b: Budget): Promise<Row> {
  const { met: _, ...figures } = await compareSync(dir, b, "1b");
  return {
    n: 1.5,
    label: "1b",
    workload: "diagnostic: row 1 with GET, no body: both scripts read EOF",
    target: "— (not in the issue)",
    ...figures,
    met: null,
  };
}

/** The C source of row 1c's loop. */
const SPAWN_CEILING_C = new URL("./spawn_ceiling.c", import.meta.url).pathname;

/**
 * Row 1c, a diagnostic: the ceiling of row 1 on this machine. A C loop with no server, no HTTP and
 * no wrk starts the row-1 script with the 1 KiB body as its stdin, four at a time; its rounds
 * alternate with rounds of hookhost under row 1's load. No runner can serve more requests a second
 * than this loop runs scripts.
 */
export async function row1c(dir: string, b: Budget): Promise<Row> {
  await write(join(dir, "sync.sh"), SYNC_SCRIPT, 0o755);
  await write(join(dir, "body.json"), BODY);
  const exe = join(dir, "spawn_ceiling");
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-o", exe, SPAWN_CEILING_C],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!cc.success) throw new Error(`cc failed: ${new TextDecoder().decode(cc.stderr)}`);
  const loop = async (stdin: string) => {
    const r = await new Deno.Command(exe, {
      args: [join(dir, "sync.sh"), stdin, String(b.seconds), "4"],
      stdout: "piped",
    }).output();
    if (!r.success) throw new Error("spawn_ceiling failed");
    return Number(new TextDecoder().decode(r.stdout));
  };
  await write(join(dir, "hookhost.toml"), syncConfig(dir));
  const withBody: number[] = [];
  const atEof: number[] = [];
  const hh: number[] = [];
  for (let round = 0; round < b.rounds; round++) {
    const h = await startHookhostToFile(dir, {
      name: `r1c-${round}`,
      hooks: ["sync"],
      wait: /"listening"/,
    });
    hh.push((await wrk(h.url + "/", { connections: 16, seconds: b.seconds, body: BODY })).rps);
    await h.stop();
    withBody.push(await loop(join(dir, "body.json")));
    atEof.push(await loop("/dev/null"));
    console.error(
      `row 1c round ${round + 1}: loop ${withBody.at(-1)} scripts/s with the body, ${
        atEof.at(-1)
      } at EOF; hookhost ${hh.at(-1)!.toFixed(0)} req/s`,
    );
  }
  const ceiling = median(withBody);
  const hRps = median(hh);
  return {
    n: 1.6,
    label: "1c",
    workload:
      "diagnostic: row 1's ceiling, a C loop starting the row-1 script with the 1 KiB body on stdin, 4 at a time, no server (`scripts/bench/spawn_ceiling.c`), against hookhost under row 1's load",
    hookhost: `${hRps.toFixed(0)} req/s; loop: ${ceiling.toFixed(0)} scripts/s with the body, ${
      median(atEof).toFixed(0)
    } at EOF`,
    peer: "n/a",
    ratio: `hookhost ÷ loop ${(hRps / ceiling).toFixed(2)}×`,
    target: "— (no runner can exceed the loop)",
    met: null,
  };
}

/**
 * Row 2: an async hook running the row-1 script; 202 once the request is durable in KV. After
 * each round the daemon is stopped and every accepted request must be accounted for: its script
 * ran (a `hook_run` record) or its job is still stored.
 */
export async function row2(dir: string, b: Budget): Promise<Row> {
  await write(join(dir, "sync.sh"), SYNC_SCRIPT, 0o755);
  await write(
    join(dir, "hookhost.toml"),
    `[[hooks]]\nname = "async"\nbind = "127.0.0.1:0"\nscript = "${dir}/sync.sh"\nmode = "async"\n`,
  );
  const runs: WrkResult[] = [];
  let lost = 0;
  let backlog = 0;
  for (let round = 0; round < b.rounds; round++) {
    const session = `r2-${round}`;
    const h = await startHookhost(dir, { name: session, hooks: ["async"], wait: /"listening"/ });
    const r = await wrk(h.url + "/", { connections: 64, seconds: b.seconds, body: BODY });
    runs.push(r);
    await h.stop();
    const ran = h.hookRuns();
    const kv = await Deno.openKv(join(dir, "state", "hookhost.kv"));
    try {
      const left = await new JobStore(kv).count(session, "async");
      backlog = Math.max(backlog, left);
      // wrk may stop waiting for answers it did not count: more accounted than answered is fine.
      lost += Math.max(0, r.requests - r.errors - (ran + left));
    } finally {
      kv.close();
    }
    console.error(
      `row 2 round ${round + 1}: ${r.rps.toFixed(0)} req/s, ${r.requests} answered, ${ran} ran, ${
        r.requests - ran
      } waiting`,
    );
  }
  const rps = median(runs.map((r) => r.rps));
  const errors = runs.reduce((n, r) => n + r.errors, 0);
  return {
    n: 2,
    workload: "async hook (202 once durable in KV), row-1 script, wrk -c64 POST 1 KiB JSON",
    hookhost: `${rps.toFixed(0)} req/s, p99 ${
      median(runs.map((r) => r.p99)).toFixed(1)
    } ms; ${lost} lost${errors ? `, ${errors} errors` : ""}`,
    peer: "n/a (its async mode keeps nothing: a crash loses what it answered)",
    ratio: `${backlog} jobs still queued at the end of a round`,
    target: "≥ 10,000 req/s, none lost",
    met: rps >= 10_000 && lost === 0 && errors === 0,
  };
}

/**
 * Row 3: a module plugin's webhook returning a string (an inbox message), no process spawned; and
 * diagnostic row 3a, the same with a plugin that reads its request's headers and body first (the
 * plugin's `Request` is built only when it is used), from the same daemon in the same rounds.
 */
export async function rows3and3a(dir: string, b: Budget): Promise<Row[]> {
  const plugins = join(dir, "plugins");
  await Deno.mkdir(plugins, { recursive: true });
  await write(join(plugins, "fast.ts"), `export default { webhook() { return "fast"; } };\n`);
  await write(
    join(plugins, "reads.ts"),
    `export default {\n  async webhook(request) {\n` +
      `    const type = request.headers.get("content-type");\n` +
      `    const body = await request.json();\n` +
      `    return \`\${request.method} \${type} \${Object.keys(body).length}\`;\n  },\n};\n`,
  );
  // The same plugin in a Worker inside the daemon (`isolation = "worker"`), for what a process of
  // its own costs.
  await write(join(plugins, "inworker.ts"), `export default { webhook() { return "fast"; } };\n`);
  await write(
    join(dir, "hookhost.toml"),
    `[server]\nbind = "127.0.0.1:0"\n\n[plugins.inworker]\nisolation = "worker"\n`,
  );
  const runs: WrkResult[] = [];
  const reads: WrkResult[] = [];
  const inWorker: WrkResult[] = [];
  const baseline: number[] = [];
  /** RSS (MiB) of plugin `fast`'s process, idle (before the load) and after it. */
  const idleRss: number[] = [];
  const loadedRss: number[] = [];
  for (let round = 0; round < b.rounds; round++) {
    // The machine's speed drifts: the issue's own reference point is measured in the same rounds.
    const base = await startWorkerBaseline();
    const load = { connections: 64, seconds: b.seconds, body: "{}" };
    try {
      baseline.push((await wrk(base.url + "/", load)).rps);
    } finally {
      await base.stop();
    }
    const h = await startHookhostToFile(dir, { name: `r3-${round}`, wait: /"hook":"server"/ });
    try {
      const fastPid = pluginPid(h.pid, "fast");
      if (fastPid) idleRss.push(await rssMb(fastPid));
      // In turns: a later one runs on a warmer daemon with a longer output file.
      const order = ["fast", "reads", "inworker"];
      for (let i = 0; i < order.length; i++) {
        const plugin = order[(i + round) % order.length];
        const into = plugin === "fast" ? runs : plugin === "reads" ? reads : inWorker;
        into.push(await wrk(`${h.url}/hooks/${plugin}`, load));
      }
      if (fastPid) loadedRss.push(await rssMb(fastPid));
    } finally {
      await h.stop();
    }
    const [fast, read, worker] = [runs.at(-1)!, reads.at(-1)!, inWorker.at(-1)!];
    // A plugin that failed (a 500) would be measured answering errors, not requests.
    if (fast.non2xx || read.non2xx || worker.non2xx) {
      throw new Error(
        `row 3: ${fast.non2xx}, ${read.non2xx} and ${worker.non2xx} answers were not 2xx`,
      );
    }
    await checkMessages(h, {
      ...fast,
      requests: fast.requests + read.requests + worker.requests,
      errors: fast.errors + read.errors + worker.errors,
    });
    console.error(
      `row 3 round ${round + 1}: ${fast.rps.toFixed(0)} req/s; reading its request ${
        read.rps.toFixed(0)
      } req/s; in a Worker ${worker.rps.toFixed(0)} req/s; baseline ${
        baseline.at(-1)!.toFixed(0)
      } req/s; plugin process ${idleRss.at(-1)?.toFixed(0)} MiB idle, ${
        loadedRss.at(-1)?.toFixed(0)
      } MiB loaded`,
    );
  }
  await Deno.remove(plugins, { recursive: true });
  const rps = median(runs.map((r) => r.rps));
  const readRps = median(reads.map((r) => r.rps));
  const workerRps = median(inWorker.map((r) => r.rps));
  const base = median(baseline);
  const idle = median(idleRss);
  const loaded = median(loadedRss);
  const peer = `n/a (no plugins); baseline ${base.toFixed(0)} req/s`;
  return [{
    n: 3,
    workload:
      "module-plugin webhook returning a string (an inbox message), wrk -c64; baseline: a bare `Deno.serve` through one Worker (`scripts/bench/worker_baseline.ts`), in alternate rounds",
    hookhost: `${rps.toFixed(0)} req/s (the plugin in a process of its own, the default)`,
    peer,
    ratio: `${(rps / base).toFixed(2)}× the baseline`,
    // Moved from 0.57× when plugins moved into processes of their own (their pipes cost that).
    target: "≥ 0.5× the baseline",
    met: rps / base >= 0.5,
  }, {
    n: 3,
    label: "3w",
    workload:
      'diagnostic: row 3 with the plugin in a Worker inside the daemon (`isolation = "worker"`), the same daemon and rounds',
    hookhost: `${workerRps.toFixed(0)} req/s`,
    peer,
    ratio: `${(workerRps / base).toFixed(2)}× the baseline; the process costs ${
      (100 * (1 - rps / workerRps)).toFixed(0)
    } % of it`,
    target: "none (what isolation in a process costs)",
    met: null,
  }, {
    n: 3,
    label: "3r",
    workload: "resident memory of row 3's plugin process (`/proc`), idle and after its wrk rounds",
    hookhost: `${idle.toFixed(1)} MiB idle, ${loaded.toFixed(0)} MiB after load`,
    peer: "n/a",
    ratio: `${idle.toFixed(1)} MiB idle`,
    target: "≤ 40 MiB per process-isolated plugin",
    met: idle <= 40,
  }, {
    n: 3,
    label: "3a",
    workload:
      "diagnostic: row 3 with a plugin that reads its request's method, a header and its JSON body before answering (the baseline reads none), the same daemon and rounds, the two taking turns going first",
    hookhost: `${readRps.toFixed(0)} req/s`,
    peer,
    ratio: `${(readRps / base).toFixed(2)}× the baseline`,
    target: "none (shows what building the plugin's `Request` costs)",
    met: null,
  }];
}

async function cliTime(args: string[], env: Record<string, string>): Promise<number> {
  return await timeRun([...HOOKHOST, ...args], env);
}

/**
 * Milliseconds for `deno ARGS…` to run to its end when started as the bench starts a daemon
 * (`startHookhost()`: through `setsid`, its stdout read to the end); throws if it fails.
 */
async function timeDetached(args: string[], env: Record<string, string>): Promise<number> {
  const t = performance.now();
  const [cmd, argv] = detached(Deno.execPath(), args);
  const child = new Deno.Command(cmd, {
    args: argv,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  for await (const _ of child.stdout.pipeThrough(new TextDecoderStream())) {
    // An empty module prints nothing: this waits for the end of its output.
  }
  const elapsed = performance.now() - t;
  if (!(await child.status).success) throw new Error(`deno ${args.join(" ")} failed`);
  return elapsed;
}

/** Milliseconds for `deno ARGS…` to run to its end; throws if it fails. */
async function timeRun(args: string[], env: Record<string, string>): Promise<number> {
  const t = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!r.success) throw new Error(`deno ${args.join(" ")} failed`);
  return performance.now() - t;
}

/**
 * Rows 4 and 7: `send` → `injected` latency, and cold starts. Row 7 is judged against the floor
 * any Deno program has on this machine, measured in the same rounds: `deno run`, with hookhost's
 * flags, of an empty module. A slower machine starts both slower, so the ratio holds where an
 * absolute number of milliseconds would not.
 */
export async function rows4and7(dir: string, b: Budget): Promise<Row[]> {
  await write(join(dir, "hookhost.toml"), "");
  await write(join(dir, "empty.js"), "");
  const empty = ["run", ...runtimeFlags(), ...BUNDLE_FLAGS, join(dir, "empty.js")];
  const env = { HOOKHOST_STATE: join(dir, "state"), HOOKHOST_CONFIG: join(dir, "hookhost.toml") };
  const startup: number[] = [];
  const bare: number[] = [];
  const h = await startHookhost(dir, { name: "r4", wait: /"ready"/, keep: true });
  const sends: number[] = [];
  for (let i = 0; i < b.sends; i++) {
    // Interleaved, so that the machine's drift weighs on both alike.
    startup.push(await cliTime(["--version"], env));
    bare.push(await timeRun(empty, env));
    const t = performance.now();
    await cliTime(["send", "--name", "r4", `m${i}`], env);
    await h.waitFor(new RegExp(`"content":"m${i}"`));
    sends.push(performance.now() - t);
  }
  await h.stop();
  const readies: number[] = [];
  const bareDetached: number[] = [];
  for (let i = 0; i < 10; i++) {
    bare.push(await timeRun(empty, env));
    bareDetached.push(await timeDetached(empty, env));
    const t = performance.now();
    const d = await startHookhost(dir, { name: "r7", wait: /"ready"/ });
    readies.push(performance.now() - t);
    await d.stop();
  }
  const base = quantile(startup, 0.99);
  const beyond = quantile(sends, 0.99) - base;
  const medianBeyond = median(sends) - median(startup);
  const sendMedian = median(sends);
  const readyMedian = median(readies);
  const bareMedian = median(bare);
  const bareDetachedMedian = median(bareDetached);
  const sendRatio = sendMedian / bareMedian;
  const readyRatio = readyMedian / bareDetachedMedian;
  return [{
    n: 4,
    workload: `send → injected, ${b.sends} sequential sends from separate processes`,
    hookhost: `p99 ${
      quantile(sends, 0.99).toFixed(1)
    } ms; \`--version\` (process start-up), run before each send: p99 ${base.toFixed(1)} ms`,
    peer: "n/a",
    ratio: `p99 ${beyond.toFixed(1)} ms beyond start-up (median ${medianBeyond.toFixed(1)} ms)`,
    target: "p99 ≤ 15 ms beyond start-up",
    met: beyond <= 15,
  }, {
    n: 7,
    workload:
      "cold start: `hookhost send` end to end; `run --daemon` to its `ready` line; against `deno run` of an empty module with the same flags, started as each is (`send` as a plain child, the daemon detached with `setsid` and its stdout read)",
    hookhost: `send ${sendMedian.toFixed(0)} ms, ready ${readyMedian.toFixed(0)} ms (medians)`,
    peer: `empty module ${bareMedian.toFixed(0)} ms; started as the daemon is, ${
      bareDetachedMedian.toFixed(0)
    } ms (medians)`,
    ratio: `send ${sendRatio.toFixed(2)}×, ready ${readyRatio.toFixed(2)}×`,
    target: "send ≤ 1.5×, ready ≤ 2× the empty module",
    met: sendRatio <= 1.5 && readyRatio <= 2,
  }];
}

/** Row 5: draining pending messages to JSONL on /dev/null. */
export async function row5(dir: string, b: Budget): Promise<Row> {
  await write(join(dir, "hookhost.toml"), "");
  await Deno.mkdir(join(dir, "state"), { recursive: true });
  const kv = await Deno.openKv(join(dir, "state", "hookhost.kv"));
  try {
    const store = new InboxStore(kv);
    await recordStart(kv, "r5", { pid: 0 });
    for (let i = 0; i < b.drain; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, b.drain - i) }, (_, j) => ({
        source: "inject" as const,
        content: `message ${i + j}`,
      }));
      await store.add("r5", batch);
    }
  } finally {
    kv.close();
  }
  const env = { HOOKHOST_STATE: join(dir, "state"), HOOKHOST_CONFIG: join(dir, "hookhost.toml") };
  const seconds = (await cliTime(["run", "--name", "r5", "--format", "jsonl"], env)) / 1000;
  const rate = b.drain / seconds;
  return {
    n: 5,
    workload: `inbox drain: ${b.drain} pending messages to --format jsonl > /dev/null`,
    hookhost: `${rate.toFixed(0)} msg/s`,
    peer: "n/a",
    ratio: "—",
    target: "≥ 20,000 msg/s",
    met: rate >= 20_000,
  };
}

/** Row 6: events × 2 http hooks to a local receiver. */
export async function row6(dir: string, b: Budget): Promise<Row> {
  let received = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    received++;
    return new Response("ok");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const path = join(dir, "hooks.json");
    await write(
      path,
      JSON.stringify({ bench: [{ hooks: [{ type: "http", url }, { type: "http", url }] }] }),
    );
    const log = getLogger(["bench"]);
    const bus = new EventBus(new HooksFile(path, { log }), { log });
    const t = performance.now();
    for (let i = 0; i < b.events; i++) bus.emit("bench", { commandKey: `e${i}` });
    await bus.idle();
    const rate = received / ((performance.now() - t) / 1000);
    return {
      n: 6,
      workload: `event fan-out: ${b.events} events × 2 http hooks to a local receiver`,
      hookhost: `${rate.toFixed(0)} deliveries/s (${received} delivered)`,
      peer: "n/a",
      ratio: "—",
      target: "≥ 2,000 deliveries/s",
      met: rate >= 2000 && received === 2 * b.events,
    };
  } finally {
    await server.shutdown();
  }
}

/** Asks the plugin server at `url` for its health; throws unless `n` plugins are ready. */
async function pluginsReady(url: string, n: number): Promise<void> {
  const health = await (await fetch(`${url}/healthz`)).json();
  if (health.plugins !== n || health.failed.length) {
    throw new Error(`Expected ${n} ready plugins, the daemon says ${JSON.stringify(health)}`);
  }
}

/** Row 8: memory of an idle daemon, per module plugin, and under sustained row-1 load. */
export async function row8(dir: string, b: Budget): Promise<Row> {
  await write(join(dir, "sync.sh"), SYNC_SCRIPT, 0o755);
  await write(join(dir, "hookhost.toml"), syncConfig(dir, 5));
  const names = ["sync", "sync1", "sync2", "sync3", "sync4"];
  /** RSS 2 s after the daemon with the five hooks is listening. */
  const idleRss = async (source: boolean) => {
    const idle = await startHookhost(dir, {
      name: "r8",
      hooks: names,
      wait: /"listening".*sync4/,
      source,
    });
    await new Promise((r) => setTimeout(r, 2000));
    const mb = await rssMb(idle.pid);
    await idle.stop();
    return mb;
  };
  const idleMb = await idleRss(false);
  // For orientation: the same daemon run from source, as `deno task hookhost` does.
  const sourceMb = await idleRss(true);

  const plugins = join(dir, "plugins");
  await Deno.mkdir(plugins, { recursive: true });
  await write(join(dir, "hookhost.toml"), `[server]\nbind = "127.0.0.1:0"\n`);
  const bare = await startHookhost(dir, { name: "r8p", wait: /"hook":"server"/ });
  await new Promise((r) => setTimeout(r, 1000));
  await pluginsReady(bare.url, 0);
  const bareMb = await rssMb(bare.pid);
  await bare.stop();
  for (let i = 0; i < 5; i++) {
    await write(join(plugins, `p${i}.ts`), `export default { webhook() { return "p${i}"; } };\n`);
  }
  /** What 5 plugins add: the daemon's growth, plus their processes' RSS when they have them. */
  const perPluginMb = async (toml: string) => {
    await write(join(dir, "hookhost.toml"), `[server]\nbind = "127.0.0.1:0"\n${toml}`);
    const five = await startHookhost(dir, { name: "r8p", wait: /"hook":"server"/ });
    await new Promise((r) => setTimeout(r, 1000));
    // Plugins that failed to load would cost nothing and pass. Each daemon answers a health check.
    await pluginsReady(five.url, 5);
    let mb = (await rssMb(five.pid)) - bareMb;
    for (let i = 0; i < 5; i++) {
      const pid = pluginPid(five.pid, `p${i}`);
      if (pid) mb += await rssMb(pid);
    }
    await five.stop();
    return mb / 5;
  };
  const perProcess = await perPluginMb("");
  const perWorker = await perPluginMb(
    [0, 1, 2, 3, 4].map((i) => `[plugins.p${i}]\nisolation = "worker"\n`).join(""),
  );
  await Deno.remove(plugins, { recursive: true });

  await write(join(dir, "hookhost.toml"), syncConfig(dir));
  const h = await startHookhost(dir, { name: "r8l", hooks: ["sync"], wait: /"listening"/ });
  const { warmMb, startMb, endMb, requests } = await soak(h, b);
  await h.stop();
  const drift = (endMb - startMb) / startMb;
  return {
    n: 8,
    workload:
      `memory: idle daemon with 5 hooks; per module plugin; RSS over ${b.soak} s of row-1 load after ${
        warmUpSeconds(b)
      } s of it as a warm-up, in the same daemon`,
    hookhost: `${idleMb.toFixed(0)} MB idle (${sourceMb.toFixed(0)} MB from source); ${
      perProcess.toFixed(1)
    } MiB per plugin in its process, ${
      perWorker.toFixed(1)
    } MiB per plugin in a Worker; under load ${warmMb.toFixed(0)} (before the warm-up) → ${
      startMb.toFixed(0)
    } → ${endMb.toFixed(0)} MB (${requests} requests measured)`,
    peer: "n/a",
    ratio: `${(100 * drift).toFixed(1)} % drift after the warm-up`,
    target: "≤ 60 MB; ≤ 40 MiB per plugin process, ≤ 10 MiB per Worker plugin; within 10 %",
    met: idleMb <= 60 && perProcess <= 40 && perWorker <= 10 && Math.abs(drift) <= 0.1,
  };
}

/** Seconds of row-1 load before row 8 starts judging: a quarter of the soak, at least 5. */
function warmUpSeconds(b: Budget): number {
  return Math.max(5, Math.round(b.soak / 4));
}

/**
 * Row 8's load: a warm-up, then `b.soak` seconds more, RSS read every second. A daemon's memory
 * first grows to what its load needs (V8's young generation is sized to the rate of allocation,
 * the allocator's arenas to the threads that run): the warm-up lets that happen, in the same
 * run, so that a slower machine, which takes longer to get there, is judged on the same thing.
 * Start and end are the medians of the first and the last third of the readings: V8's old
 * generation alone swings by ~6 MB between its collections (its live data stays ~7 MB), and one
 * reading at a peak must not decide the row, while a leak, growing steadily, still shows.
 */
async function soak(
  h: { url: string; pid: number },
  b: Budget,
): Promise<{ warmMb: number; startMb: number; endMb: number; requests: number }> {
  const warmMb = await rssMb(h.pid);
  await wrk(h.url + "/", { connections: 16, seconds: warmUpSeconds(b), body: BODY });
  const readings: number[] = [];
  let done = false;
  const load = wrk(h.url + "/", { connections: 16, seconds: b.soak, body: BODY })
    .finally(() => (done = true));
  while (!done) {
    readings.push(await rssMb(h.pid));
    await Promise.race([load, new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
  }
  const result = await load;
  readings.push(await rssMb(h.pid));
  const third = Math.max(1, Math.floor(readings.length / 3));
  const startMb = median(readings.slice(0, third));
  const endMb = median(readings.slice(-third));
  return { warmMb, startMb, endMb, requests: result.requests };
}
