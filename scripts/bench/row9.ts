/**
 * Row 9 of `deno task bench` (docs/workers.md): a Node.js script that parses a 1 KiB JSON body
 * and prints a one-line summary, three ways in the same interleaved rounds: adnanh/webhook
 * starting it per request, hookhost starting it per request, and hookhost feeding one long-lived
 * copy per core (`persistent = true`). Row 9a: a trivial worker behind hookhost against a bare
 * `Deno.serve` that writes the same line to the same worker's pipe and reads its answer
 * (`pipe_baseline.ts`).
 *
 * @module
 */
import { join } from "node:path";
import type { Budget, Row } from "./rows.ts";
import {
  median,
  startBaseline,
  startHookhostToFile,
  startPeer,
  wrk,
  type WrkResult,
} from "./tools.ts";

/** The per-request script: the body on stdin (hookhost) or in `$BODY_FILE` (the peer). */
const ONCE = `#!/usr/bin/env node
const fs = require("node:fs");
const body = fs.readFileSync(process.env.BODY_FILE || 0, "utf8");
const e = JSON.parse(body);
console.log(\`\${e.type} from \${e.user}: \${e.items.length} item(s)\`);
`;

/** The same work as a persistent worker. */
const WORKER = `#!/usr/bin/env node
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const req = JSON.parse(line);
  const e = JSON.parse(req.body);
  process.stdout.write(JSON.stringify({ id: req.id, message: \`\${e.type} from \${e.user}: \${e.items.length} item(s)\` }) + "\\n");
});
`;

/** Row 9a's trivial worker: answers every request with the same message. */
const TRIVIAL = `#!/usr/bin/env node
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const { id } = JSON.parse(line);
  process.stdout.write('{"id":' + JSON.stringify(id) + ',"message":"fast"}\\n');
});
`;

/** A 1 KiB JSON event. */
export const EVENT: string = (() => {
  const base = { type: "order", user: "ann", items: [] as number[] };
  while (JSON.stringify(base).length < 1000) base.items.push(base.items.length);
  return JSON.stringify(base).padEnd(1024, " ");
})();

async function write(path: string, text: string) {
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o755);
}

function hookToml(dir: string, script: string, persistent: boolean): string {
  const workers = navigator.hardwareConcurrency || 1;
  return `[[hooks]]\nname = "n"\nbind = "127.0.0.1:0"\nscript = "${join(dir, script)}"\n` +
    (persistent ? `persistent = true\nworkers = ${workers}\nqueue = 256\n` : "");
}

async function hookhostRound(
  dir: string,
  name: string,
  toml: string,
  body: string,
  seconds: number,
  connections = 16,
): Promise<WrkResult> {
  await Deno.writeTextFile(join(dir, "hookhost.toml"), toml);
  const h = await startHookhostToFile(dir, { name, hooks: ["n"], wait: /"listening"/ });
  try {
    const r = await wrk(h.url + "/", { connections, seconds, body });
    const messages = await h.count('"type":"injected"');
    if (messages < r.requests - r.errors) {
      throw new Error(`hookhost answered ${r.requests - r.errors} requests but wrote ${messages}`);
    }
    return r;
  } finally {
    await h.stop();
  }
}

const show = (r: { rps: number; p99: number }) =>
  `${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(1)} ms`;

/** Rows 9 and 9a. */
export async function rows9and9a(dir: string, b: Budget): Promise<Row[]> {
  await write(join(dir, "once.js"), ONCE);
  await write(join(dir, "worker.js"), WORKER);
  await write(join(dir, "trivial.js"), TRIVIAL);
  const peer: WrkResult[] = [], once: WrkResult[] = [], kept: WrkResult[] = [];
  const trivial: WrkResult[] = [], pipe: WrkResult[] = [];
  for (let round = 0; round < b.rounds; round++) {
    const p = await startPeer(dir, join(dir, "once.js"), { bodyFile: true });
    try {
      peer.push(await wrk(p.url, { connections: 16, seconds: b.seconds, body: EVENT }));
    } finally {
      await p.stop();
    }
    once.push(
      await hookhostRound(dir, `r9o-${round}`, hookToml(dir, "once.js", false), EVENT, b.seconds),
    );
    kept.push(
      await hookhostRound(dir, `r9p-${round}`, hookToml(dir, "worker.js", true), EVENT, b.seconds),
    );
    // 9a: one trivial worker each side, as many requests in it as connections (the baseline
    // writes every request to the pipe at once), wrk -c64 as row 3.
    const one = hookToml(dir, "trivial.js", true).replace(/workers = \d+/, "workers = 1") +
      "max_inflight = 64\n";
    trivial.push(await hookhostRound(dir, `r9t-${round}`, one, "x", b.seconds, 64));
    const base = await startBaseline("pipe_baseline.ts", [join(dir, "trivial.js")]);
    try {
      pipe.push(await wrk(base.url + "/", { connections: 64, seconds: b.seconds, body: "x" }));
    } finally {
      await base.stop();
    }
    console.error(
      `row 9 round ${round + 1}: peer ${peer.at(-1)!.rps.toFixed(0)}, hookhost ${
        once.at(-1)!.rps.toFixed(0)
      }, persistent ${kept.at(-1)!.rps.toFixed(0)}; 9a ${trivial.at(-1)!.rps.toFixed(0)} vs ${
        pipe.at(-1)!.rps.toFixed(0)
      } req/s`,
    );
  }
  const m = (rs: WrkResult[]) => ({
    rps: median(rs.map((r) => r.rps)),
    p99: median(rs.map((r) => r.p99)),
  });
  const [P, O, K, T, B] = [m(peer), m(once), m(kept), m(trivial), m(pipe)];
  return [
    {
      n: 9,
      workload:
        "Node.js script parsing a 1 KiB JSON body into a one-line summary, wrk -c16: the peer and hookhost start it per request; hookhost persistent feeds one long-lived copy per core",
      hookhost: `persistent ${show(K)}; per request ${show(O)}`,
      peer: show(P),
      ratio: `persistent ${(K.rps / P.rps).toFixed(1)}× req/s, ${
        (K.p99 / P.p99).toFixed(2)
      }× p99; per request ${(O.rps / P.rps).toFixed(2)}× req/s`,
      target: "persistent ≥ 10× req/s, p99 ≤ 0.2× the peer's",
      met: K.rps >= 10 * P.rps && K.p99 <= 0.2 * P.p99,
    },
    {
      n: 9.1,
      label: "9a",
      workload:
        "a trivial persistent worker (Node.js, answers at once; one, `max_inflight = 64`), wrk -c64; baseline: a bare `Deno.serve` writing the same line to the same worker's pipe (`scripts/bench/pipe_baseline.ts`), in alternate rounds",
      hookhost: show(T),
      peer: `n/a; baseline ${show(B)}`,
      ratio: `${(T.rps / B.rps).toFixed(2)}× the baseline`,
      target: "≥ 0.5× the baseline",
      met: T.rps >= 0.5 * B.rps,
    },
  ];
}
