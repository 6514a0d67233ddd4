import assert from "node:assert/strict";
import { runProgram } from "./_program.ts";

const RUNS = 1000;
const CONCURRENCY = 8;

// Run in a process of its own (see _program.ts), so that no other test's descriptors or children
// are counted. The runs end every way a tiny script's run can: a normal exit, with and without
// stdin, and, one in a hundred, a kill (an already aborted signal).
const BODY = `
/**
 * This process's open descriptors as "fd -> target". Unix sockets are left out: Deno's runtime
 * opens a socket pair of its own about half a second after it starts (2.9.6, with or without a
 * single spawn), and nothing in src/exec makes a socket.
 */
function descriptors(): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target = "?";
    try {
      target = Deno.readLinkSync("/proc/self/fd/" + entry.name);
    } catch {
      // The descriptor that read the directory, closed since.
    }
    if (!target.startsWith("socket:")) out.push(entry.name + " -> " + target);
  }
  return out;
}
/** Children of this process that have exited and not been reaped. */
function zombies(): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync("/proc/" + entry.name + "/stat");
    } catch {
      continue; // Gone since the listing.
    }
    const [state, ppid] = statFields(stat);
    if (state === "Z" && Number(ppid) === Deno.pid) found.push(Number(entry.name));
  }
  return found;
}
const decoder = new TextDecoder();
const report: Record<string, unknown> = {};
const paths = [["processSpawner", processSpawner.run], ["runCommand", runCommand]] as const;
for (const [name, run] of paths) {
  // The first run sets up what lives as long as the process (the reactor's epoll and eventfd).
  await run("/bin/true");
  const before = descriptors();
  const wrong: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ${RUNS}) {
      const i = next++;
      const killed = i % 100 === 99;
      const r = await run("/bin/sh", {
        args: ["-c", "echo x"],
        stdin: i % 2 ? "in" : undefined,
        signal: killed ? AbortSignal.abort() : undefined,
      });
      // A child this quick may be done before the kill reaches it.
      const ok = killed
        ? r.signal === "SIGKILL" || r.code === 0
        : r.code === 0 && decoder.decode(r.stdout) === "x\\n";
      if (!ok && wrong.length < 5) wrong.push(i + ": " + Deno.inspect(r));
    }
  };
  await Promise.all(Array.from({ length: ${CONCURRENCY} }, worker));
  report[name] = { before, after: descriptors(), zombies: zombies(), wrong };
}
console.log(JSON.stringify(report));
`;

Deno.test({
  name: `processSpawner and runCommand() leave no descriptor and no zombie after ${RUNS} runs`,
  ignore: Deno.build.os !== "linux",
  async fn() {
    const out = await runProgram(
      { "{ processSpawner, runCommand }": "./mod.ts", "{ statFields }": "./native_spawn.ts" },
      BODY,
      // The posix_spawn path, whatever the environment running the tests asks for.
      { env: { HOOKHOST_SPAWN: "" } },
    );
    const report = JSON.parse(out) as Record<
      string,
      { before: string[]; after: string[]; zombies: number[]; wrong: string[] }
    >;
    assert.deepEqual(Object.keys(report), ["processSpawner", "runCommand"]);
    for (const [name, r] of Object.entries(report)) {
      assert.deepEqual(r.wrong, [], `${name}: runs that did not end as expected`);
      const extra = r.after.filter((d) => !r.before.includes(d));
      assert.ok(
        r.after.length <= r.before.length,
        `${name}: ${r.after.length - r.before.length} descriptor(s) left open: ${extra}`,
      );
      assert.deepEqual(r.zombies, [], `${name}: zombies left`);
    }
  },
});
