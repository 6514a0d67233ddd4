/**
 * End-to-end tests of config validation (docs/config.md): `config check` prints every problem with
 * `file:line:col: key.path: message`; `run` refuses the same config with one line; where the
 * config and state are looked for; usage basics (`--help`, unknown options, `--version`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { cli, type CliResult, config, envFor, script, tempDir } from "./_helpers.ts";

/** A temp folder with `ok.sh` (executable), `noexec.sh` (not executable) and `adir/`. */
async function withFixtures(fn: (dir: string) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "ok.sh", "cat");
    await Deno.writeTextFile(join(tmp.path, "noexec.sh"), "#!/bin/sh\ncat\n");
    await Deno.chmod(join(tmp.path, "noexec.sh"), 0o644);
    await Deno.mkdir(join(tmp.path, "adir"));
    await fn(tmp.path);
  } finally {
    await tmp.cleanup();
  }
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim());
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A `[[hooks]]` table. */
function hook(fields: Record<string, string | number>): string {
  const body = Object.entries(fields)
    .map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : v}`)
    .join("\n");
  return `[[hooks]]\n${body}\n`;
}

const OK = { bind: "127.0.0.1:0", script: "./ok.sh" };

interface Problem {
  line: number;
  col: number;
  /** Key path, e.g. `hooks[1].bind`; omitted for TOML syntax errors. */
  path?: string;
  /** The message after the key path: the whole of it, or a regex found anywhere in it. */
  message: string | RegExp;
}

function problemRe(file: string, p: Problem): RegExp {
  const where = `${escape(file)}:${p.line}:${p.col}: ` + (p.path ? `${escape(p.path)}: ` : "");
  const msg = typeof p.message === "string"
    ? escape(p.message) + String.raw`(?: \(and \d+ more problem\(s\)\))?$`
    : ".*" + p.message.source;
  return new RegExp(where + msg);
}

/** Checks that `config check` reports exactly `problems` (in order) and `run` the first. */
async function expectProblems(dir: string, problems: Problem[]): Promise<void> {
  const file = join(dir, "hookhost.toml");
  const env = envFor(dir);
  const check = await cli(["config", "check"], { env });
  assert.equal(check.code, 2, `config check: ${check.stdout}${check.stderr}`);
  const reported = lines(check.stderr).filter((l) => l.startsWith(file + ":"));
  assert.equal(reported.length, problems.length, check.stderr);
  problems.forEach((p, i) => assert.match(reported[i], problemRe(file, p), check.stderr));
  assert.ok(!check.stderr.includes("    at "), `stack trace: ${check.stderr}`);

  const run = await cli(["run", "--name", "cfg"], { env });
  assert.equal(run.code, 2, `run: ${run.stdout}${run.stderr}`);
  const out = lines(run.stderr);
  assert.equal(out.length, 1, `run prints one line: ${run.stderr}`);
  assert.match(out[0], problemRe(file, problems[0]));
  if (problems.length > 1) assert.match(out[0], new RegExp(`${problems.length - 1} more`));
}

/** A config that should pass: `config check` exits 0 with "ok", and a one-shot `run` works. */
async function expectValid(dir: string, hooks: number): Promise<CliResult> {
  const env = envFor(dir);
  const check = await cli(["config", "check"], { env });
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, new RegExp(`hookhost\\.toml: ok, ${hooks} hook\\(s\\)`));
  const run = await cli(["run", "--name", "cfg"], { env });
  assert.equal(run.code, 0, run.stderr);
  return check;
}

// --- One problem at a time -------------------------------------------------------------------

const cases: { name: string; toml: string; problems: Problem[] }[] = [
  {
    name: "missing name (reported at its [[hooks]] table)",
    toml: hook(OK) + "\n" + hook({ name: "b", ...OK }),
    problems: [{ line: 1, col: 1, path: "hooks[0].name", message: "Name is required" }],
  },
  {
    name: "empty name",
    toml: hook({ name: "a", ...OK }) + "\n" + hook({ name: "", ...OK }),
    problems: [{ line: 7, col: 1, path: "hooks[1].name", message: "Name must not be empty" }],
  },
  {
    name: "blank name",
    toml: hook({ name: "   ", ...OK }),
    problems: [{ line: 2, col: 1, path: "hooks[0].name", message: "Name must not be empty" }],
  },
  {
    name: "duplicate name",
    toml: hook({ name: "a", ...OK }) + "\n" + hook({ name: "a", ...OK }),
    problems: [{
      line: 7,
      col: 1,
      path: "hooks[1].name",
      message: "Duplicate hook name 'a' (also hooks[0])",
    }],
  },
  {
    name: "missing bind",
    toml: hook({ name: "a", ...OK }) + "\n" + hook({ name: "b", script: "./ok.sh" }),
    problems: [{ line: 6, col: 1, path: "hooks[1].bind", message: "Bind is required" }],
  },
  {
    name: 'unparsable bind "nope" (indented key: column 3)',
    toml: `[[hooks]]\nname = "a"\n  bind = "nope"\nscript = "./ok.sh"\n`,
    problems: [{
      line: 3,
      col: 3,
      path: "hooks[0].bind",
      message: `Expected "host:port", got 'nope'`,
    }],
  },
  {
    name: "port out of range",
    toml: hook({ name: "a", bind: "127.0.0.1:99999", script: "./ok.sh" }),
    problems: [{
      line: 3,
      col: 1,
      path: "hooks[0].bind",
      message: "Port '99999' is out of range 0..65535",
    }],
  },
  {
    name: "host that is not an IP address",
    toml: hook({ name: "a", bind: "example.com:80", script: "./ok.sh" }),
    problems: [{ line: 3, col: 1, path: "hooks[0].bind", message: /'example\.com'/ }],
  },
  {
    name: "two hooks on the same address",
    toml: hook({ name: "a", bind: "127.0.0.1:9001", script: "./ok.sh" }) + "\n" +
      hook({ name: "b", bind: "127.0.0.1:9001", script: "./ok.sh" }),
    problems: [{
      line: 8,
      col: 1,
      path: "hooks[1].bind",
      message: "'127.0.0.1:9001' binds the same socket as hook 'a' ('127.0.0.1:9001')",
    }],
  },
  {
    name: "0.0.0.0:9001 and 127.0.0.1:9001 bind the same socket",
    toml: hook({ name: "any", bind: "0.0.0.0:9001", script: "./ok.sh" }) + "\n" +
      hook({ name: "lo", bind: "127.0.0.1:9001", script: "./ok.sh" }),
    problems: [{
      line: 8,
      col: 1,
      path: "hooks[1].bind",
      message: "'127.0.0.1:9001' binds the same socket as hook 'any' ('0.0.0.0:9001')",
    }],
  },
  {
    name: "localhost:9001 and 127.0.0.1:9001 bind the same socket",
    toml: hook({ name: "a", bind: "127.0.0.1:9001", script: "./ok.sh" }) + "\n" +
      hook({ name: "b", bind: "localhost:9001", script: "./ok.sh" }),
    problems: [{
      line: 8,
      col: 1,
      path: "hooks[1].bind",
      message: "'localhost:9001' binds the same socket as hook 'a' ('127.0.0.1:9001')",
    }],
  },
  {
    name: "missing script file",
    toml: hook({ name: "a", bind: "127.0.0.1:0", script: "./missing.sh" }),
    problems: [{
      line: 4,
      col: 1,
      path: "hooks[0].script",
      message: /'\/.*\/missing\.sh' does not exist/,
    }],
  },
  {
    name: "script that is a directory",
    toml: hook({ name: "a", bind: "127.0.0.1:0", script: "./adir" }),
    problems: [{
      line: 4,
      col: 1,
      path: "hooks[0].script",
      message: /'\/.*\/adir' is not a regular file/,
    }],
  },
  {
    name: "script that is not executable",
    toml: hook({ name: "a", bind: "127.0.0.1:0", script: "./noexec.sh" }),
    problems: [{
      line: 4,
      col: 1,
      path: "hooks[0].script",
      message: /'\/.*\/noexec\.sh' is not executable/,
    }],
  },
  {
    name: "no script and no plugin",
    toml: hook({ name: "a", bind: "127.0.0.1:0" }),
    problems: [{ line: 1, col: 1, path: "hooks[0]", message: /Script is required/ }],
  },
  {
    name: "timeout 0",
    toml: hook({ name: "a", ...OK, timeout: 0 }),
    problems: [{
      line: 5,
      col: 1,
      path: "hooks[0].timeout",
      message: "Must be from 1 to 3600 seconds, got '0'",
    }],
  },
  {
    name: "timeout 3601",
    toml: hook({ name: "a", ...OK, timeout: 3601 }),
    problems: [{
      line: 5,
      col: 1,
      path: "hooks[0].timeout",
      message: "Must be from 1 to 3600 seconds, got '3601'",
    }],
  },
  {
    name: "unknown key in a hook",
    toml: hook({ name: "a", ...OK, colour: "red" }),
    problems: [{ line: 5, col: 1, path: "hooks[0].colour", message: "Unknown key 'colour'" }],
  },
  {
    name: "unknown top-level table",
    toml: `[sesion]\nhandler = "./ok.sh"\n`,
    problems: [{ line: 1, col: 1, path: "sesion", message: "Unknown key 'sesion'" }],
  },
  {
    name: "missing session handler",
    toml: `[session]\nhandler = "./nothere.sh"\n`,
    problems: [{
      line: 2,
      col: 1,
      path: "session.handler",
      message: /Handler '\/.*\/nothere\.sh' does not exist/,
    }],
  },
  {
    name: "[plugins.NAME] memory below 32 MiB and an unknown isolation",
    toml: `[plugins.p]\nmemory = 8\nisolation = "thread"\n`,
    problems: [
      { line: 2, col: 1, path: "plugins.p.memory", message: "Must be from 32 to 1048576, got '8'" },
      { line: 3, col: 1, path: "plugins.p.isolation", message: 'Must be "process" or "worker"' },
    ],
  },
  {
    name: "TOML syntax error: two keys on one line",
    toml: `[[hooks]]\nname = "a"\nbind = "127.0.0.1:0" script = "./ok.sh"\n`,
    problems: [{ line: 3, col: 22, message: /end-of-line/ }],
  },
  {
    name: "TOML syntax error: unclosed [[hooks]] header",
    toml: `# a comment\n[[hooks]\nname = "a"\n`,
    problems: [{ line: 2, col: 9, message: /table array/ }],
  },
];

for (const c of cases) {
  Deno.test(`config: ${c.name}`, async () => {
    await withFixtures(async (dir) => {
      await config(dir, c.toml);
      await expectProblems(dir, c.problems);
    });
  });
}

// --- Valid configs and boundaries ------------------------------------------------------------

Deno.test("config: valid config → check exits 0 with ok; port 0 never clashes; bounds 1 and 3600", async () => {
  await withFixtures(async (dir) => {
    await config(
      dir,
      hook({ name: "a", bind: "127.0.0.1:0", script: "./ok.sh", timeout: 1 }) + "\n" +
        hook({ name: "b", bind: "0.0.0.0:0", script: "./ok.sh", timeout: 3600 }) + "\n" +
        hook({ name: "c", bind: "127.0.0.1:0", script: "./ok.sh" }) + "\n" +
        `[session]\nhandler = "./ok.sh"\nretry_backoff = 0.05\n`,
    );
    const check = await expectValid(dir, 3);
    assert.ok(check.stdout.includes(join(dir, "hookhost.toml")), check.stdout);
  });
});

// --- Every problem at once -------------------------------------------------------------------

Deno.test("config check: prints every problem in file order; run prints the first and a count", async () => {
  await withFixtures(async (dir) => {
    await config(
      dir,
      hook({ name: "a", bind: "nope", script: "./ok.sh" }) + "\n" +
        hook({ name: "a", bind: "127.0.0.1:0", script: "./missing.sh" }) + "\n" +
        hook({ name: "c", bind: "127.0.0.1:0", script: "./noexec.sh" }),
    );
    await expectProblems(dir, [
      { line: 3, col: 1, path: "hooks[0].bind", message: /got 'nope'/ },
      { line: 7, col: 1, path: "hooks[1].name", message: /Duplicate hook name 'a'/ },
      { line: 9, col: 1, path: "hooks[1].script", message: /does not exist/ },
      { line: 14, col: 1, path: "hooks[2].script", message: /is not executable/ },
    ]);
  });
});

Deno.test("config check: schema problems and bind/script problems are reported together", async () => {
  await withFixtures(async (dir) => {
    await config(
      dir,
      hook({ name: "a", bind: "nope", script: "./missing.sh" }) + "\n" +
        hook({ name: "b", ...OK, timeout: 0 }),
    );
    // `config check` prints every problem — also when one hook has a schema problem,
    // the other hooks' bind and script problems must not be hidden.
    await expectProblems(dir, [
      { line: 3, col: 1, path: "hooks[0].bind", message: /got 'nope'/ },
      { line: 4, col: 1, path: "hooks[0].script", message: /does not exist/ },
      {
        line: 10,
        col: 1,
        path: "hooks[1].timeout",
        message: "Must be from 1 to 3600 seconds, got '0'",
      },
    ]);
  });
});

// --- Where the config and state are found (docs/config.md) ------------------------------------

Deno.test("config: --config naming a missing file → exit 2 (check and run)", async () => {
  await withFixtures(async (dir) => {
    await config(dir, hook({ name: "a", ...OK }));
    const missing = join(dir, "nothere.toml");
    for (const args of [["config", "check"], ["run", "--name", "x"]]) {
      const res = await cli([...args, "--config", missing], { env: envFor(dir) });
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.equal(lines(res.stderr).length, 1, res.stderr);
      assert.match(res.stderr, new RegExp(`${escape(missing)}: Config file not found`));
    }
    // The same through HOOKHOST_CONFIG.
    const env = envFor(dir, { HOOKHOST_CONFIG: missing });
    const res = await cli(["config", "check"], { env });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, new RegExp(`${escape(missing)}: Config file not found`));
  });
});

Deno.test("config: --config beats HOOKHOST_CONFIG beats ./hookhost.toml beats $XDG_CONFIG_HOME", async () => {
  await withFixtures(async (dir) => {
    const cwd = join(dir, "cwd");
    const xdg = join(dir, "xdg");
    await Deno.mkdir(cwd);
    await Deno.mkdir(join(xdg, "hookhost"), { recursive: true });
    // Each config names its own single hook (and refers to ../ok.sh relative to itself).
    const named = (n: string, rel = "./ok.sh") =>
      hook({ name: n, bind: "127.0.0.1:0", script: rel });
    await Deno.writeTextFile(join(dir, "flag.toml"), named("from-flag"));
    await Deno.writeTextFile(join(dir, "env.toml"), named("from-env"));
    await Deno.writeTextFile(join(cwd, "hookhost.toml"), named("from-cwd", "../ok.sh"));
    await Deno.writeTextFile(
      join(xdg, "hookhost", "config.toml"),
      named("from-xdg", "../../ok.sh"),
    );
    const base = { HOOKHOST_STATE: join(dir, "state"), XDG_CONFIG_HOME: xdg };

    const which = async (args: string[], env: Record<string, string>) => {
      const res = await cli(["config", "check", ...args], { env: { ...base, ...env }, cwd });
      assert.equal(res.code, 0, res.stderr);
      return res.stdout.trim();
    };
    // A relative --config is relative to the working directory.
    assert.match(
      await which(["--config", "../flag.toml"], { HOOKHOST_CONFIG: join(dir, "env.toml") }),
      new RegExp(`^${escape(join(dir, "flag.toml"))}: ok`),
    );
    assert.match(
      await which([], { HOOKHOST_CONFIG: join(dir, "env.toml") }),
      new RegExp(`^${escape(join(dir, "env.toml"))}: ok`),
    );
    assert.match(
      await which([], { HOOKHOST_CONFIG: "" }),
      new RegExp(`^${escape(join(cwd, "hookhost.toml"))}: ok`),
    );
    await Deno.remove(join(cwd, "hookhost.toml"));
    assert.match(
      await which([], { HOOKHOST_CONFIG: "" }),
      new RegExp(`^${escape(join(xdg, "hookhost", "config.toml"))}: ok`),
    );
    await Deno.remove(join(xdg, "hookhost", "config.toml"));
    assert.match(await which([], { HOOKHOST_CONFIG: "" }), /No config file found.*ok, 0 hook/);

    // `run` uses the same order: only the winning config knows its hook.
    await Deno.writeTextFile(join(cwd, "hookhost.toml"), named("from-cwd", "../ok.sh"));
    const run = (args: string[], env: Record<string, string>) =>
      cli(["run", "--name", "order", ...args], { env: { ...base, ...env }, cwd });
    const envCfg = { HOOKHOST_CONFIG: join(dir, "env.toml") };
    let res = await run(["--config", "../flag.toml", "--hook", "from-flag"], envCfg);
    assert.equal(res.code, 0, res.stderr);
    res = await run(["--config", "../flag.toml", "--hook", "from-env"], envCfg);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /Hook 'from-env' not found in config/);
    res = await run(["--hook", "from-env"], envCfg);
    assert.equal(res.code, 0, res.stderr);
    res = await run(["--hook", "from-cwd"], { HOOKHOST_CONFIG: "" });
    assert.equal(res.code, 0, res.stderr);
  });
});

Deno.test("config: --state beats HOOKHOST_STATE", async () => {
  await withFixtures(async (dir) => {
    const flagState = join(dir, "flag-state");
    const envState = join(dir, "env-state");
    const env = { HOOKHOST_CONFIG: "", XDG_CONFIG_HOME: dir, HOOKHOST_STATE: envState };
    const ran = await cli(["run", "--name", "st", "--state", flagState], { env, cwd: dir });
    assert.equal(ran.code, 0, ran.stderr);
    assert.ok((await Deno.stat(join(flagState, "hookhost.kv"))).isFile);
    await assert.rejects(Deno.stat(join(envState, "hookhost.kv")));

    const viaFlag = await cli(["inbox", "ls", "--name", "st", "--state", flagState], { env });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    const viaEnv = await cli(["inbox", "ls", "--name", "st"], { env });
    assert.equal(viaEnv.code, 1, viaEnv.stderr);
    assert.match(viaEnv.stderr, /no session named 'st'/);
    const viaEnvOnly = await cli(["inbox", "ls", "--name", "st"], {
      env: { ...env, HOOKHOST_STATE: flagState },
    });
    assert.equal(viaEnvOnly.code, 0, viaEnvOnly.stderr);
  });
});

// --- Usage --------------------------------------------------------------------------------------

Deno.test("run --hook unknown → exit 2 with Hook 'unknown' not found in config", async () => {
  await withFixtures(async (dir) => {
    await config(dir, hook({ name: "known", ...OK }));
    const res = await cli(["run", "--name", "x", "--hook", "unknown"], { env: envFor(dir) });
    assert.equal(res.code, 2, res.stderr);
    assert.deepEqual(lines(res.stderr), ["hookhost: Hook 'unknown' not found in config"]);
    const known = await cli(["run", "--name", "x", "--hook", "known"], { env: envFor(dir) });
    assert.equal(known.code, 0, known.stderr);
  });
});

Deno.test("--help on every command exits 0 and prints its usage", async () => {
  const commands = [
    [],
    ["run"],
    ["send"],
    ["schedule"],
    ["schedule", "add"],
    ["schedule", "ls"],
    ["schedule", "rm"],
    ["sessions"],
    ["inbox"],
    ["inbox", "ls"],
    ["inbox", "dead"],
    ["inbox", "replay"],
    ["config"],
    ["config", "check"],
  ];
  const failures: string[] = [];
  for (const cmd of commands) {
    const res = await cli([...cmd, "--help"]);
    const usage = `Usage: hookhost${cmd.length ? " " + cmd.join(" ") : ""} `;
    if (res.code !== 0 || !res.stdout.includes(usage)) {
      failures.push(`${cmd.join(" ") || "(root)"}: exit ${res.code}, ${res.stdout}${res.stderr}`);
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("an unknown option or command exits 2 and names it", async () => {
  await withFixtures(async (dir) => {
    const env = envFor(dir);
    for (
      const args of [
        ["run", "--bogus"],
        ["send", "--name", "x", "--bogus", "hi"],
        ["schedule", "add", "--name", "x", "--in", "1s", "--bogus", "hi"],
        ["schedule", "ls", "--bogus"],
        ["inbox", "ls", "--name", "x", "--bogus"],
        ["config", "check", "--bogus"],
        ["sessions", "--bogus"],
      ]
    ) {
      const res = await cli(args, { env });
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, /unknown option '--bogus'/, args.join(" "));
    }
    const cmd = await cli(["frobnicate"], { env });
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command 'frobnicate'/);
  });
});

Deno.test("--version prints the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const res = await cli([flag]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(
      res.stdout,
      `hookhost ${denoJson.version}\ndeno ${Deno.version.deno}\nv8 ${Deno.version.v8}\n` +
        `typescript ${Deno.version.typescript}\n`,
    );
  }
});
