import assert from "node:assert/strict";
import { join } from "node:path";
import { libc } from "./libc.ts";
import { runCommand, runProcess, SpawnError } from "./spawn.ts";
import { nicePath } from "./wrappers.ts";
import { runProgram } from "./_program.ts";

// Prints the script's environment, sorted, and its niceness: its own (field 19 of its
// /proc/PID/stat, read by the shell itself, so at once) and that of a child it starts at once.
const SCRIPT = [
  "env | LC_ALL=C sort",
  "read -r stat < /proc/self/stat",
  'set -- ${stat##*) }; echo "nice ${17}"',
  'echo "child nice $(nice)"',
].join("\n");

Deno.test({
  name: "runProcess() and runCommand() give a script the same environment and priority",
  // The two paths differ only where the posix_spawn path exists; nice(1) runs the niced script.
  ignore: !libc() || !nicePath(),
  async fn() {
    const out = await runProgram(
      { "{ runCommand, runProcess }": "./spawn.ts", "{ statFields }": "./native_spawn.ts" },
      `const script = ${JSON.stringify(SCRIPT)};
const text = (r: { stdout: Uint8Array }) => new TextDecoder().decode(r.stdout);
// The posix_spawn path has read the environment once; what changes after must still reach scripts.
await runProcess("/bin/true");
Deno.env.set("HH_PARITY_LATE", "set after the first spawn");
Deno.env.set("HH_PARITY_CHANGED", "changed after the first spawn");
Deno.env.delete("HH_PARITY_GONE");
const results = [];
for (const nice of [0, 7, 19]) {
  const options = { args: ["-c", script], nice, env: { HOOK_EXTRA: "x y", HH_PARITY_CHANGED: "overridden" } };
  results.push({
    nice,
    native: text(await runProcess("/bin/sh", options)),
    command: text(await runCommand("/bin/sh", options)),
  });
}
const own = Number(statFields(Deno.readTextFileSync("/proc/self/stat"))[16]);
console.log(JSON.stringify({ own, results }));`,
      {
        env: {
          HH_PARITY_GONE: "deleted after the first spawn",
          HH_PARITY_CHANGED: "before",
          // Both paths, whatever the environment running the tests says.
          HOOKHOST_SPAWN: "",
        },
      },
    );
    const { own, results } = JSON.parse(out) as {
      own: number;
      results: { nice: number; native: string; command: string }[];
    };
    for (const { nice, native, command } of results) {
      assert.equal(native, command, `nice ${nice}: the two paths differ`);
      const lines = native.split("\n");
      const expected = Math.min(19, own + nice);
      assert.ok(lines.includes(`nice ${expected}`), `nice ${nice}: ${lines.slice(-2)}`);
      assert.ok(lines.includes(`child nice ${expected}`), `nice ${nice}: ${lines.slice(-2)}`);
      assert.ok(lines.includes("HH_PARITY_LATE=set after the first spawn"));
      assert.ok(lines.includes("HH_PARITY_CHANGED=overridden"));
      assert.ok(lines.includes("HOOK_EXTRA=x y"));
      assert.ok(!lines.some((l) => l.startsWith("HH_PARITY_GONE=")));
    }
  },
});

for (const [name, run] of [["runProcess", runProcess], ["runCommand", runCommand]] as const) {
  Deno.test({
    name: `${name}() with nice still throws SpawnError for what cannot start`,
    ignore: !nicePath(),
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "hh-nice" });
      try {
        const odd = join(dir, "odd.sh");
        await Deno.writeTextFile(odd, "#!/no/such/interpreter\necho hi\n");
        await Deno.chmod(odd, 0o755);
        const plain = join(dir, "plain.sh");
        await Deno.writeTextFile(plain, "#!/bin/sh\necho hi\n");
        for (const command of [join(dir, "missing"), odd, plain, "no-such-command-hh"]) {
          await assert.rejects(run(command, { nice: 5, stdin: "x" }), (e: unknown) => {
            assert.ok(e instanceof SpawnError, `${command}: ${e}`);
            assert.ok(e.message.startsWith(`Cannot start '${command}': `), e.message);
            return true;
          });
        }
        // A script's own exit 127 and its own words on stderr are its result, not nice's.
        const r = await run("/bin/sh", {
          args: ["-c", "echo \"nice: 'sh': No such file or directory\" >&2; exit 127"],
          nice: 5,
        });
        assert.equal(r.code, 127);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
