import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { loadConfig, validateConfig } from "./load.ts";
import { DEFAULT_ASYNC_ATTEMPTS, DEFAULT_RETRY_SCHEDULE, retryDelay } from "./schema.ts";

const FILE = "/etc/hookhost/hookhost.toml";

/** A temp folder with an executable `hook.sh`, a non-executable `plain.sh` and a `dir/`. */
async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-load" });
  try {
    await Deno.writeTextFile(join(dir, "hook.sh"), "#!/bin/sh\necho hi\n");
    await Deno.chmod(join(dir, "hook.sh"), 0o755);
    await Deno.writeTextFile(join(dir, "plain.sh"), "#!/bin/sh\n");
    await Deno.chmod(join(dir, "plain.sh"), 0o644);
    await Deno.mkdir(join(dir, "dir"));
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function problemsOf(source: string, dir: string): ConfigProblem[] {
  const result = validateConfig(source, { file: FILE, dir });
  assert.equal(result.config, undefined, "an invalid config must not be returned");
  return result.problems;
}

/**
 * Asserts `problems` are exactly `expected`, in order: each `[line:col path, message start]`
 * (the message may go on, e.g. with the offending value).
 */
function expectProblems(problems: ConfigProblem[], expected: [string, string][]): void {
  const actual = problems.map((p) => `${p.line}:${p.col} ${p.path ?? "-"}: ${p.message}`);
  const ok = actual.length === expected.length &&
    expected.every(([where, message], i) => actual[i].startsWith(`${where}: ${message}`));
  assert.ok(
    ok,
    `expected\n  ${expected.map((e) => e.join(": ")).join("\n  ")}\ngot\n  ${actual.join("\n  ")}`,
  );
}

Deno.test("validateConfig() applies defaults to an empty config", () => {
  const result = validateConfig("", { file: null, dir: "/srv" });
  assert.deepEqual(result.problems, []);
  assert.ok(result.config);
  const { hooks, session, file, dir } = result.config;
  assert.deepEqual({ hooks, file, dir }, { hooks: [], file: null, dir: "/srv" });
  assert.equal(session.handler, undefined);
  assert.equal(session.handler_timeout, 300);
  assert.equal(session.max_attempts, 5);
  assert.equal(session.retry_backoff, 1);
  assert.equal(session.shutdown_grace, 10);
});

Deno.test("validateConfig() applies hook defaults and records each hook's line", async () => {
  await withDir((dir) => {
    const source = [
      "# two hooks",
      "[[hooks]]",
      'name = "a"',
      'bind = "127.0.0.1:9001"',
      'script = "./hook.sh"',
      "",
      "[[hooks]]",
      'name = "b"',
      'bind = "127.0.0.1:0"',
      `script = "${join(dir, "hook.sh")}"`,
      "timeout = 5",
    ].join("\n");
    const { config, problems } = validateConfig(source, { file: FILE, dir });
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.equal(config.file, FILE);
    assert.deepEqual(config.hooks.map((h) => [h.name, h.line, h.timeout, h.max_body]), [
      ["a", 2, 30, 10 * 1024 * 1024],
      ["b", 7, 5, 10 * 1024 * 1024],
    ]);
  });
});

Deno.test("validateConfig() resolves relative script and handler paths against dir", async () => {
  await withDir((dir) => {
    const source = `[[hooks]]\nname = "a"\nbind = "127.0.0.1:1"\nscript = "hook.sh"\n` +
      `[session]\nhandler = "./hook.sh"\n`;
    // dir differs from the process cwd, so a cwd-relative resolution would fail the check.
    const { config, problems } = validateConfig(source, { file: FILE, dir });
    assert.deepEqual(problems, []);
    assert.equal(config?.hooks[0].script, join(dir, "hook.sh"));
    assert.equal(config?.session.handler, join(dir, "hook.sh"));
  });
});

Deno.test("validateConfig() reports a TOML syntax error with line and column", () => {
  const problems = problemsOf('[[hooks]]\nname = "a"\nbind = \n', "/");
  assert.equal(problems.length, 1);
  assert.equal(problems[0].file, FILE);
  assert.equal(problems[0].line, 3);
  assert.equal(typeof problems[0].col, "number");
  assert.ok(problems[0].message.length > 0);
  assert.equal(problems[0].message[0], problems[0].message[0].toUpperCase());
});

Deno.test("validateConfig() reports unknown keys with their line and path", () => {
  const source = `[[hooks]]\nname = "a"\nbind = "127.0.0.1:1"\nplugin = "p"\nscirpt = "x"\n` +
    `[session]\nmax_attempt = 3\n`;
  expectProblems(problemsOf(source, "/"), [
    ["5:1 hooks[0].scirpt", "Unknown key 'scirpt'"],
    ["7:1 session.max_attempt", "Unknown key 'max_attempt'"],
  ]);
});

Deno.test("validateConfig() words a table of the wrong type in English, with the value", () => {
  // These issues carry no message of ours: zod's English locale words them (see schema.ts).
  const source = `session = [1]\nplugins = "x"\n`;
  expectProblems(problemsOf(source, "/"), [
    ["1:1 session", "Invalid input: expected object, received array"],
    ["2:1 plugins", "Invalid input: expected record, received string, got 'x'"],
  ]);
});

Deno.test("validateConfig() reports a missing required key at its table header", () => {
  const source = `[[hooks]]\nname = "a"\nbind = "127.0.0.1:1"\nplugin = "p"\n\n` +
    `[[hooks]]\nname = "b"\nplugin = "p"\n`;
  expectProblems(problemsOf(source, "/"), [
    ["6:1 hooks[1].bind", "Bind is required"],
  ]);
});

Deno.test("validateConfig() reports wrong types and out-of-range numbers", () => {
  const source = [
    "[[hooks]]", // 1
    "name = 5", // 2
    'bind = "127.0.0.1:1"', // 3
    'plugin = "p"', // 4
    "timeout = 3601", // 5
    "[session]", // 6
    'handler_timeout = "x"', // 7
    "max_attempts = 0", // 8
  ].join("\n");
  expectProblems(problemsOf(source, "/"), [
    ["2:1 hooks[0].name", "Name must be a string"],
    ["5:1 hooks[0].timeout", "Must be from 1 to 3600 seconds"],
    ["7:1 session.handler_timeout", "Must be a number of seconds"],
    ["8:1 session.max_attempts", "Must be from 1 to 1000"],
  ]);
  expectProblems(
    problemsOf(`[[hooks]]\nname="a"\nbind="127.0.0.1:1"\nplugin="p"\ntimeout=1.5\n`, "/"),
    [
      ["5:1 hooks[0].timeout", "Must be a whole number of seconds"],
    ],
  );
  expectProblems(problemsOf("hooks = 3\n", "/"), [
    ["1:1 hooks", "Must be an array of tables ([[hooks]])"],
  ]);
});

Deno.test("validateConfig() reports duplicate names, bad binds and bind clashes", () => {
  const source = [
    "[[hooks]]", // 1
    'name = "a"', // 2
    'bind = "0.0.0.0:9000"', // 3
    'plugin = "p"', // 4
    "[[hooks]]", // 5
    'name = "a"', // 6
    'bind = "127.0.0.1:9000"', // 7
    'plugin = "p"', // 8
    "[[hooks]]", // 9
    'name = "c"', // 10
    'bind = "example.com:80"', // 11
    'plugin = "p"', // 12
  ].join("\n");
  expectProblems(problemsOf(source, "/"), [
    ["6:1 hooks[1].name", "Duplicate hook name 'a' (also hooks[0])"],
    ["7:1 hooks[1].bind", "'127.0.0.1:9000' binds the same socket as hook 'a' ('0.0.0.0:9000')"],
    ["11:1 hooks[2].bind", "Host 'example.com' is not an IP address or 'localhost'"],
  ]);
});

Deno.test("validateConfig() reports script problems: missing, not executable, not a file", async () => {
  await withDir((dir) => {
    const hook = (n: number, script: string) =>
      `[[hooks]]\nname = "h${n}"\nbind = "127.0.0.1:${9000 + n}"\nscript = "${script}"\n`;
    const source = hook(0, "./nope.sh") + hook(1, "./plain.sh") + hook(2, "dir");
    expectProblems(problemsOf(source, dir), [
      [`4:1 hooks[0].script`, `Script '${join(dir, "nope.sh")}' does not exist`],
      [`8:1 hooks[1].script`, `Script '${join(dir, "plain.sh")}' is not executable (chmod +x it)`],
      [`12:1 hooks[2].script`, `Script '${join(dir, "dir")}' is not a regular file`],
    ]);
  });
});

Deno.test("validateConfig() reports a hook with neither or both of script and plugin", async () => {
  await withDir((dir) => {
    const source = `[[hooks]]\nname = "a"\nbind = "127.0.0.1:1"\n\n` +
      `[[hooks]]\nname = "b"\nbind = "127.0.0.1:2"\nscript = "hook.sh"\nplugin = "p"\n`;
    expectProblems(problemsOf(source, dir), [
      ["1:1 hooks[0]", "Script is required (or 'plugin')"],
      ["9:1 hooks[1].plugin", "Give either 'script' or 'plugin', not both"],
    ]);
  });
});

Deno.test("validateConfig() reports a missing session handler", async () => {
  await withDir((dir) => {
    const problems = problemsOf(`\n[session]\nhandler = "agent.sh"\n`, dir);
    expectProblems(problems, [
      [`3:1 session.handler`, `Handler '${join(dir, "agent.sh")}' does not exist`],
    ]);
    assert.equal(problems[0].file, FILE);
  });
});

Deno.test("validateConfig() names the default config when there is no file", () => {
  const { problems } = validateConfig("nope = 1", { file: null, dir: "/" });
  assert.equal(problems[0].file, "(default config)");
});

Deno.test("loadConfig() returns the empty default for no file", async () => {
  const config = await loadConfig(null, "/srv");
  assert.deepEqual(config.hooks, []);
  assert.equal(config.dir, "/srv");
});

Deno.test("loadConfig() throws ConfigError listing every problem", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "hookhost.toml");
    await Deno.writeTextFile(file, "a = 1\n\nb = 2\n");
    const error = await loadConfig(file, dir).then(() => null, (e) => e);
    assert.ok(error instanceof ConfigError);
    assert.equal(error.exitCode, 2);
    assert.equal(error.problems.length, 2);
    assert.equal(error.message, `${file}:1:1: a: Unknown key 'a' (and 1 more problem(s))`);

    const missing = await loadConfig(join(dir, "none.toml"), dir).then(() => null, (e) => e);
    assert.ok(missing instanceof ConfigError);
    assert.match(missing.message, /none\.toml: Cannot read config/);
  });
});

Deno.test("retryDelay() walks a retry_backoff list (its last delay repeating) or doubles a number up to a day", () => {
  const ms = (backoff: number | number[], runs: number) =>
    Array.from({ length: runs }, (_, i) => retryDelay(backoff, i + 1));
  assert.deepEqual(ms(DEFAULT_RETRY_SCHEDULE as number[], 8), [
    5_000,
    300_000,
    1_800_000,
    7_200_000,
    18_000_000,
    36_000_000,
    36_000_000,
    36_000_000,
  ]);
  assert.equal(DEFAULT_ASYNC_ATTEMPTS, 7, "one run per delay, plus the first");
  assert.deepEqual(ms([0.2, 0.4], 3), [200, 400, 400]);
  assert.deepEqual(ms(1.5, 4), [1_500, 3_000, 6_000, 12_000]);
  assert.equal(retryDelay(3600, 30), 86_400_000);
});

Deno.test("validateConfig() checks persistent hooks: workers and max_inflight need persistent = true, a plugin takes none, a persistent sync hook no concurrency", async () => {
  await withDir((dir) => {
    const hook = (name: string, port: number, rest: string) =>
      `[[hooks]]\nname = "${name}"\nbind = "127.0.0.1:${port}"\n${rest}\n`;
    const source = [
      hook("a", 1, 'script = "hook.sh"\nworkers = 2'),
      hook("b", 2, 'plugin = "p"\npersistent = true'),
      hook("c", 3, 'script = "hook.sh"\npersistent = true\nconcurrency = 4'),
      hook("d", 4, 'script = "hook.sh"\npersistent = true\nworkers = 65'),
      hook(
        "e",
        5,
        'script = "hook.sh"\npersistent = true\nmode = "async"\nconcurrency = 2\nworkers = 2\nmax_inflight = 8',
      ),
    ].join("\n");
    expectProblems(problemsOf(source, dir), [
      ["5:1 hooks[0].workers", "'workers' applies to persistent = true hooks"],
      ["11:1 hooks[1].persistent", "'persistent' applies to scripts"],
      ["18:1 hooks[2].concurrency", "A persistent sync hook runs workers × max_inflight"],
      ["25:1 hooks[3].workers", "Must be from 1 to 64, got '65'"],
    ]);
  });
});
