/**
 * The parser against the real program tree. The expected words and outcomes are Commander 14's,
 * recorded from the CLI before the parser replaced it.
 */
import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { parseArgv, type Parsed } from "./argv.ts";
import { PROGRAM, VERSION_TEXT } from "./program.ts";

function parse(line: string): Parsed {
  return parseArgv(PROGRAM, line ? line.split(" ") : []);
}

function action(line: string): { args: unknown[]; flags: Record<string, unknown> } {
  const p = parse(line);
  assert.equal(p.kind, "action", line);
  return p.kind === "action" ? { args: p.args, flags: p.flags } : { args: [], flags: {} };
}

function usageError(line: string): string {
  try {
    parse(line);
  } catch (e) {
    assert.ok(e instanceof UsageError, `${line}: ${e}`);
    assert.equal(e.exitCode, 2);
    return e.message;
  }
  throw new Error(`parsed without error: ${line}`);
}

Deno.test("options come before or after their command, with a space or =, and defaults fill in", () => {
  assert.deepEqual(action("send --name x hi"), {
    args: ["hi"],
    flags: { name: "x", source: "inject" },
  });
  assert.deepEqual(action("--state /s send hi --name=x --source webhook --label=l"), {
    args: ["hi"],
    flags: { name: "x", source: "webhook", label: "l", state: "/s" },
  });
  // A parent's location flag is the root's wherever it is written.
  assert.deepEqual(action("run --config c.toml --daemon --name d").flags, {
    config: "c.toml",
    daemon: true,
    name: "d",
    format: "text",
  });
  assert.deepEqual(action("run --hook a --hook b").flags.hook, ["a", "b"]);
  assert.deepEqual(action("inbox replay --name x a b").args, [["a", "b"]]);
  assert.deepEqual(action("inbox replay --name x").args, [[]]);
  assert.deepEqual(action("run").args, [undefined]);
  // `--` ends the options; a negative number is an argument.
  assert.deepEqual(action("send --name x -- --hi").args, ["--hi"]);
  assert.deepEqual(action("run -5").args, ["-5"]);
});

Deno.test("errors are worded as Commander words them", () => {
  const cases: [string, string][] = [
    ["run --bogus", "unknown option '--bogus'"],
    ["run --Name x", "unknown option '--Name'\n(Did you mean --name?)"],
    ["run --hel", "unknown option '--hel'\n(Did you mean --help?)"],
    ["run --daemon=yes", "unknown option '--daemon=yes'"],
    ["-x", "unknown option '-x'"],
    ["schedule --bogus", "unknown option '--bogus'"],
    ["frobnicate", "unknown command 'frobnicate'"],
    ["sned --name x", "unknown command 'sned'\n(Did you mean send?)"],
    ["schedule frob", "unknown command 'frob'"],
    ["send hi", "required option '--name <name>' not specified"],
    ["send --name", "option '--name <name>' argument missing"],
    ["--config", "option '--config <file>' argument missing"],
    ["send --name x a b", "too many arguments for 'send'. Expected 1 argument but got 2."],
    ["sessions extra", "too many arguments for 'sessions'. Expected 0 arguments but got 1."],
    ["schedule rm", "missing required argument 'id'"],
    ["emit", "missing required argument 'event'"],
    [
      "run --format xml",
      "option '--format <format>' argument 'xml' is invalid. Allowed choices are text, jsonl.",
    ],
    [
      "send --name=x --source=bogus hi",
      "option '--source <source>' argument 'bogus' is invalid. Allowed choices are schedule, background, skill, inject, webhook.",
    ],
  ];
  for (const [line, message] of cases) assert.equal(usageError(line), message, line);
});

Deno.test("--version and help are printed, to stdout, or to stderr with exit 2 when asked wrongly", () => {
  const printed = (line: string) => {
    const p = parse(line);
    assert.equal(p.kind, "print", line);
    return p.kind === "print"
      ? { stream: p.stream, code: p.exitCode, head: p.text.split("\n")[0] }
      : null;
  };
  for (const line of ["--version", "-V", "-Vx", "send -V", "sessions -h -V", "--version extra"]) {
    const p = parse(line);
    assert.deepEqual(p, {
      kind: "print",
      text: `${VERSION_TEXT}\n`,
      stream: "stdout",
      exitCode: 0,
    });
  }
  const root = "Usage: hookhost [options] [command]";
  const schedule = "Usage: hookhost schedule [options] [command]";
  assert.deepEqual(printed("--help"), { stream: "stdout", code: 0, head: root });
  assert.deepEqual(printed("help"), { stream: "stdout", code: 0, head: root });
  assert.deepEqual(printed(""), { stream: "stderr", code: 1, head: root });
  assert.deepEqual(printed("help bogus"), { stream: "stderr", code: 1, head: root });
  assert.deepEqual(printed("schedule"), { stream: "stderr", code: 1, head: schedule });
  // `help` looks one level down only, as Commander's does.
  assert.deepEqual(printed("help schedule add"), { stream: "stdout", code: 0, head: schedule });
  assert.deepEqual(printed("schedule help add"), {
    stream: "stdout",
    code: 0,
    head: "Usage: hookhost schedule add [options] [message]",
  });
  assert.deepEqual(printed("run --name x --help")?.head, "Usage: hookhost run [options] [message]");
  // A value is taken as a value, even one that looks like --help.
  assert.equal(action("send --name --help hi").flags.name, "--help");
});
