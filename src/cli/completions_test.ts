import assert from "node:assert/strict";
import { completionScript } from "./completions.ts";
import { PROGRAM } from "./program.ts";

async function shell(cmd: string, args: string[], stdin?: string): Promise<string | null> {
  try {
    const child = new Deno.Command(cmd, {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: { HOME: Deno.makeTempDirSync({ prefix: "hhcomp" }), XDG_CONFIG_HOME: "/nonexistent" },
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const out = await child.output();
    const text = new TextDecoder();
    assert.equal(out.code, 0, text.decode(out.stderr));
    return text.decode(out.stdout);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** What bash completes for the words of `line` (the last one being completed). */
async function bashCompletes(line: string[]): Promise<string[]> {
  const words = line.map((w) => `'${w}'`).join(" ");
  const out = await shell("bash", [
    "-c",
    `eval "$(cat)"; COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _hookhost; ` +
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ], completionScript("bash", PROGRAM));
  assert.ok(out !== null, "bash is not installed");
  return out.split("\n").filter(Boolean);
}

Deno.test("bash completion: commands, subcommands, flags of the command at hand, values", async () => {
  assert.deepEqual(await bashCompletes(["hookhost", "sch"]), ["schedule"]);
  assert.deepEqual(await bashCompletes(["hookhost", "schedule", ""]).then((w) => w.slice(0, 3)), [
    "add",
    "ls",
    "rm",
  ]);
  assert.deepEqual(await bashCompletes(["hookhost", "schedule", "add", "--ev"]), [
    "--events",
    "--every",
  ]);
  assert.deepEqual(await bashCompletes(["hookhost", "run", "--format", ""]), ["text", "jsonl"]);
  assert.deepEqual(await bashCompletes(["hookhost", "completions", "z"]), ["zsh"]);
  // A flag of another command is not offered.
  assert.deepEqual(await bashCompletes(["hookhost", "send", "--dae"]), []);
  assert.deepEqual(await bashCompletes(["hookhost", "run", "--dae"]), ["--daemon"]);
});

Deno.test("fish completion: the same tree, with descriptions", async () => {
  const script = completionScript("fish", PROGRAM);
  const ask = (line: string) =>
    shell("fish", ["--no-config", "-c", `source; complete -C ${JSON.stringify(line)}`], script);
  const top = await ask("hookhost sch");
  assert.ok(top !== null, "fish is not installed (.ci/run installs it)");
  assert.equal(top, "schedule\tdurable scheduled messages\n");
  assert.match((await ask("hookhost schedule "))!, /^add\tschedule a message/m);
  assert.deepEqual((await ask("hookhost run --format "))!.split("\n").filter(Boolean), [
    "jsonl\toutput format",
    "text\toutput format",
  ]);
  assert.match((await ask("hookhost inbox replay --"))!, /^--name\tsession name$/m);
});

Deno.test("zsh completion parses, and every command of the program is in each script", async () => {
  const zsh = completionScript("zsh", PROGRAM);
  const checked = await shell("zsh", ["-n"], zsh);
  assert.ok(checked !== null, "zsh is not installed (.ci/run installs it)");
  for (const shellName of ["bash", "zsh", "fish"]) {
    const script = completionScript(shellName, PROGRAM);
    for (const c of PROGRAM.commands ?? []) {
      assert.ok(script.includes(c.name), `${shellName}: ${c.name}`);
    }
    const flag = shellName === "fish" ? /-l daemon\b/ : /--daemon\b/;
    assert.match(script, flag, shellName);
  }
  assert.throws(
    () => completionScript("tcsh", PROGRAM),
    /Unknown shell 'tcsh'; one of: bash, zsh, fish/,
  );
});
