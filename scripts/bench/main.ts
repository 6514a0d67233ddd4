/**
 * `deno task bench [--quick]`: measures hookhost on loopback and writes `BENCHMARKS.md`.
 * Rows so far: sync script hook throughput, `send` → `injected` latency, inbox drain rate.
 * The side-by-side comparison with adnanh/webhook is the next step (issue 5).
 * Exits non-zero only when it could not run.
 *
 * @module
 */
import { join } from "node:path";
import { ROOT, runtimeFlags } from "../flags.ts";
import { InboxStore } from "../../src/inbox/store.ts";
import { recordStart } from "../../src/inbox/sessions.ts";

const quick = Deno.args.includes("--quick");
const FLAGS = runtimeFlags();
const MAIN = join(ROOT, "main.ts");

function hookhost(args: string[], env: Record<string, string>, stdout: "piped" | "null" = "piped") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, ...args],
    env,
    stdin: "null",
    stdout,
    stderr: "null",
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function startDaemon(dir: string, env: Record<string, string>) {
  const child = hookhost(
    ["run", "--name", "bench", "--daemon", "--format", "jsonl", "--hook", "sync"],
    env,
  ).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let addr = "";
  while (!addr) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`daemon in ${dir} exited early`);
    buf += value;
    const m = /"addr":"([^"]+)"/.exec(buf);
    if (m) addr = m[1];
  }
  return { child, lines, addr };
}

async function syncHook(addr: string, seconds: number, connections: number) {
  const body = JSON.stringify({ pad: "x".repeat(1000) }).slice(0, 1024);
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let errors = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const res = await fetch(`http://${addr}/bench`, { method: "POST", body });
      await res.body?.cancel();
      if (res.status !== 200) errors++;
      latencies.push(performance.now() - t);
    }
  }));
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p99: percentile(latencies, 0.99), errors };
}

async function sendLatency(env: Record<string, string>, n: number) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const out = await hookhost(["send", "--name", "bench", `m${i}`], env).output();
    if (!out.success) throw new Error("send failed");
    times.push(performance.now() - t);
  }
  const t0 = performance.now();
  await hookhost(["--version"], env).output();
  const startup = performance.now() - t0;
  times.sort((a, b) => a - b);
  return { median: percentile(times, 0.5), p99: percentile(times, 0.99), startup };
}

async function drain(dir: string, env: Record<string, string>, n: number) {
  const kv = await Deno.openKv(join(dir, "state", "hookhost.kv"));
  const store = new InboxStore(kv);
  await recordStart(kv, "drain", { pid: 0 });
  for (let i = 0; i < n; i += 1000) {
    await store.add(
      "drain",
      Array.from({ length: 1000 }, (_, j) => ({ source: "inject" as const, content: `m${i + j}` })),
    );
  }
  kv.close();
  const t = performance.now();
  const out = await hookhost(["run", "--name", "drain", "--format", "jsonl"], env, "null").output();
  if (!out.success) throw new Error("drain run failed");
  return n / ((performance.now() - t) / 1000);
}

const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "hhb" });
try {
  await Deno.writeTextFile(join(dir, "sync.sh"), '#!/bin/sh\nread -r line\necho "got $line"\n');
  await Deno.chmod(join(dir, "sync.sh"), 0o755);
  await Deno.writeTextFile(
    join(dir, "hookhost.toml"),
    `[[hooks]]\nname = "sync"\nbind = "127.0.0.1:0"\nscript = "./sync.sh"\n`,
  );
  const env = { HOOKHOST_STATE: join(dir, "state"), HOOKHOST_CONFIG: join(dir, "hookhost.toml") };
  const daemon = await startDaemon(dir, env);
  console.error(`daemon listening on ${daemon.addr}; sync hook load…`);
  const sync = await syncHook(daemon.addr, quick ? 3 : 10, 16);
  console.error(`${sync.rps.toFixed(0)} req/s; send latency…`);
  const send = await sendLatency(env, quick ? 50 : 300);
  console.error(`send median ${send.median.toFixed(1)} ms; drain…`);
  daemon.child.kill("SIGTERM");
  await daemon.lines.cancel();
  await daemon.child.status;
  const drainRate = await drain(dir, env, quick ? 20_000 : 100_000);

  const rows = [
    `| 1 | sync script hook, 16 concurrent clients, 1 KiB POST | ${
      sync.rps.toFixed(0)
    } req/s, p99 ${sync.p99.toFixed(1)} ms, ${sync.errors} non-200 |`,
    `| 4 | \`send\` → injected, sequential processes | median ${send.median.toFixed(1)} ms, p99 ${
      send.p99.toFixed(1)
    } ms (bare CLI start-up ${send.startup.toFixed(1)} ms) |`,
    `| 5 | inbox drain to \`--format jsonl\` > /dev/null | ${drainRate.toFixed(0)} msg/s |`,
  ];
  const md = `# Benchmarks

Written by \`deno task bench${quick ? " --quick" : ""}\` on ${new Date().toISOString()}.
Machine: ${navigator.hardwareConcurrency} cores, ${Deno.build.target}, Deno ${Deno.version.deno}.
hookhost only for now; the side-by-side run against adnanh/webhook (ratios) comes with issue 5.
The load generator is an in-process \`fetch\` loop on loopback.

| # | workload | hookhost |
|---|---|---|
${rows.join("\n")}
`;
  await Deno.writeTextFile(join(ROOT, "BENCHMARKS.md"), md);
  console.log(md);
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
