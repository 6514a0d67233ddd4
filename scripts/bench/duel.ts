/**
 * Row 3 (a module plugin answering `POST {}`, wrk -c64) or row 1 (`--row 1`: a sync `sh` script
 * hook, wrk -c16, a 1 KiB body) of two or more builds side by side, for a change whose cost is
 * within the machine's drift: every daemon runs at once, wrk loads each in turn (the order
 * rotating per round), and each daemon's own CPU time per request is read from /proc. The
 * per-round ratio of the second build to the first cancels most drift; its median is the figure
 * (a whole run's mean varies 10-20 % on a busy 2-core machine).
 *
 *     deno run -A scripts/bench/duel.ts [--row 1|3] [--rounds 4] [--seconds 5] BUILD_A BUILD_B…
 *
 * BUILD: a checkout (its main.ts runs) or a bundle (`deno task bundle` → dist/hookhost.js).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { median, type Server, startHookhostToFile, wrk } from "./tools.ts";

const { values, positionals: builds } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    row: { type: "string", default: "3" },
    rounds: { type: "string", default: "4" },
    seconds: { type: "string", default: "5" },
  },
});
if (builds.length < 2) {
  console.error("usage: duel.ts [--row 1|3] [--rounds R] [--seconds S] BUILD_A BUILD_B [BUILD...]");
  Deno.exit(2);
}
const row1 = values.row === "1";
const body = row1 ? JSON.stringify({ pad: "x".repeat(1014) }) : "{}";
const load = { connections: row1 ? 16 : 64, body };

/** User plus system CPU time of `pid` in ms, from /proc (ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const work = await Deno.makeTempDir({ prefix: "hhduel" });
const daemons: (Server & { url: string })[] = [];
try {
  for (const [i, build] of builds.entries()) {
    const dir = join(work, `b${i}`);
    await Deno.mkdir(dir);
    if (row1) {
      const sh = join(dir, "sync.sh");
      await Deno.writeTextFile(sh, '#!/bin/sh\nread -r line\necho "got ${#line} bytes"\n');
      await Deno.chmod(sh, 0o755);
      const toml = `[[hooks]]\nname = "sync"\nbind = "127.0.0.1:0"\nscript = "${sh}"\n`;
      await Deno.writeTextFile(join(dir, "hookhost.toml"), toml);
    } else {
      await Deno.mkdir(join(dir, "plugins"));
      const plugin = 'export default { webhook() { return "fast"; } };\n';
      await Deno.writeTextFile(join(dir, "plugins", "fast.ts"), plugin);
      await Deno.writeTextFile(join(dir, "hookhost.toml"), '[server]\nbind = "127.0.0.1:0"\n');
    }
    const d = await startHookhostToFile(dir, {
      name: `duel${i}`,
      hooks: row1 ? ["sync"] : [],
      wait: row1 ? /"hook":"sync"/ : /"hook":"server"/,
      build: resolve(build),
    });
    daemons.push({ ...d, url: d.url + (row1 ? "/" : "/hooks/fast") });
  }
  for (const d of daemons) await wrk(d.url, { ...load, seconds: 2 });
  const rounds = Number(values.rounds);
  const rps: number[][] = daemons.map(() => []);
  const cpu: number[][] = daemons.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < daemons.length; j++) {
      const k = (j + r) % daemons.length;
      const before = cpuMs(daemons[k].pid);
      const w = await wrk(daemons[k].url, { ...load, seconds: Number(values.seconds) });
      rps[k].push(w.rps);
      cpu[k].push(((cpuMs(daemons[k].pid) - before) * 1000) / w.requests);
    }
  }
  for (const [k, build] of builds.entries()) {
    const mean = rps[k].reduce((a, b) => a + b, 0) / rounds;
    console.log(
      `build${k} ${build}: mean ${mean.toFixed(0)} req/s, daemon cpu ${
        median(cpu[k]).toFixed(0)
      } us/req (median of rounds)`,
    );
  }
  const ratios = rps[1].map((x, r) => x / rps[0][r]).sort((a, b) => a - b);
  console.log(
    `build1/build0 per round: median ${median(ratios).toFixed(3)} (min ${
      ratios[0].toFixed(3)
    }, max ${ratios.at(-1)!.toFixed(3)})`,
  );
} finally {
  for (const d of daemons) await d.stop();
  await Deno.remove(work, { recursive: true });
}
