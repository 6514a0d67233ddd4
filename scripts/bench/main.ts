/**
 * `deno task bench [--quick]`: measures hookhost and adnanh/webhook side by side on loopback in
 * the same run and writes `BENCHMARKS.md`. Installs `webhook`, `wrk` and `gcc` when missing.
 * `--quick` finishes in under 3 minutes. Exits non-zero only when it could not run.
 *
 * @module
 */
import { join } from "node:path";
import { ROOT } from "../flags.ts";
import { bundle } from "../bundle.ts";
import {
  type Budget,
  type Row,
  row1,
  row1a,
  row1b,
  row1c,
  row2,
  row5,
  row6,
  row8,
  rows3and3a,
  rows4and7,
} from "./rows.ts";
import { rows9and9a } from "./row9.ts";
import { ensureTools, HOOKHOST, version } from "./tools.ts";

const quick = Deno.args.includes("--quick");
// `--only 1,3` measures just those rows (for profiling); BENCHMARKS.md is then left alone.
const onlyArg = Deno.args[Deno.args.indexOf("--only") + 1];
const only = Deno.args.includes("--only") ? new Set(onlyArg?.split(",").map(Number)) : null;
const wanted = (...ns: number[]) => !only || ns.some((n) => only.has(n));
const budget: Budget = quick
  ? { seconds: 3, rounds: 3, syncRounds: 3, sends: 100, drain: 20_000, events: 500, soak: 15 }
  : { seconds: 10, rounds: 3, syncRounds: 5, sends: 1000, drain: 100_000, events: 1000, soak: 60 };

async function inDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "hhb" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function machine(): Promise<string> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const mem = (Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0);
  return `${navigator.hardwareConcurrency} cores (${cpu}), ${mem} GiB, ${Deno.build.target}`;
}

try {
  await ensureTools();
} catch (e) {
  console.error(`bench: cannot install the peer, wrk and gcc: ${(e as Error).message}`);
  Deno.exit(1);
}
try {
  await bundle();
} catch (e) {
  console.error(`bench: cannot bundle hookhost: ${(e as Error).message}`);
  Deno.exit(1);
}

const started = Date.now();
const rows: Row[] = [];
try {
  if (wanted(1)) rows.push(await inDir((d) => row1(d, budget)));
  if (wanted(1)) rows.push(await inDir((d) => row1a(d, budget)));
  if (wanted(1)) rows.push(await inDir((d) => row1b(d, budget)));
  if (wanted(1)) rows.push(await inDir((d) => row1c(d, budget)));
  if (wanted(2)) rows.push(await inDir((d) => row2(d, budget)));
  if (wanted(3)) rows.push(...await inDir((d) => rows3and3a(d, budget)));
  if (wanted(4, 7)) rows.push(...await inDir((d) => rows4and7(d, budget)));
  if (wanted(5)) rows.push(await inDir((d) => row5(d, budget)));
  if (wanted(6)) rows.push(await inDir((d) => row6(d, budget)));
  if (wanted(8)) rows.push(await inDir((d) => row8(d, budget)));
  if (wanted(9)) rows.push(...await inDir((d) => rows9and9a(d, budget)));
} catch (e) {
  console.error(`bench: could not run: ${(e as Error).stack ?? e}`);
  Deno.exit(1);
}
rows.sort((a, b) => a.n - b.n);

const notes = await Deno.readTextFile(join(ROOT, "scripts", "bench", "notes.md")).catch(
  () => "",
);
const md = `# Benchmarks

Written by \`deno task bench${quick ? " --quick" : ""}\` on ${new Date().toISOString()} in ${
  ((Date.now() - started) / 1000).toFixed(0)
} s.

- Machine: ${await machine()}
- hookhost ${(await version("deno", "--version")).replace(/^deno /, "on Deno ")}, run as
  \`deno ${HOOKHOST.join(" ").replace(`${ROOT}/`, "")}\`: the bundle that \`deno task compile\`
  builds the binary from, with the binary's flags (its \`denort\` runtime cannot be fetched here)
- Peer: ${await version("webhook", "-version")} (Debian \`webhook\`), serving the same script with
  \`include-command-output-in-response: true\` (synchronous, like hookhost). In row 1 it hands the
  script the body with \`pass-file-to-command\` (source \`raw-request-body\`, in \`$BODY_FILE\`),
  which the script reads as its stdin: this version cannot write a body to a command's stdin.
- Load: ${await version("wrk", "-v")}; \`wrk -t2 -cN -dS --latency\` on 127.0.0.1
- Both servers run without a controlling terminal (through util-linux \`setsid\`), as a daemon
  under systemd or in a container does.
- Comparisons run ${budget.rounds} interleaved rounds (peer, hookhost, peer, …) of ${budget.seconds} s,
  row 1 ${budget.syncRounds}; figures are medians.

| # | workload | hookhost | peer | ratio | target | met |
|---|---|---|---|---|---|---|
${
  rows.map((r) =>
    `| ${r.label ?? r.n} | ${r.workload} | ${r.hookhost} | ${r.peer} | ${r.ratio} | ${r.target} | ${
      r.met === null ? "—" : r.met ? "yes" : "**no**"
    } |`
  ).join("\n")
}

${notes}`;
if (!only) await Deno.writeTextFile(join(ROOT, "BENCHMARKS.md"), md);
console.log(md);
