import assert from "node:assert/strict";
import { join } from "node:path";
import { type Logger, reset } from "@logtape/logtape";
import type { ConfigProblem } from "../errors.ts";
import { captureLogs } from "../../test/_logs.ts";
import {
  DEFAULT_HOOK_TIMEOUT_MS,
  type HooksConfig,
  HooksFile,
  LOOK_EVERY_MS,
  matchingHooks,
  matchKey,
  parseHooksFile,
} from "./hooks_file.ts";

const FILE = "/cfg/hooks.json";

/** The single problem of `text`; fails if it parses or has more than one. */
function problem(text: string): ConfigProblem {
  const { config, problems } = parseHooksFile(text, FILE);
  assert.equal(config, undefined, "a broken file yields no config");
  assert.equal(problems.length, 1, JSON.stringify(problems));
  return problems[0];
}

/** The config of valid `text`. */
function valid(text: string): HooksConfig {
  const { config, problems } = parseHooksFile(text, FILE);
  assert.deepEqual(problems, []);
  assert.ok(config);
  return config;
}

/** Runs `fn` with a real LogTape logger whose rendered records are collected. */
async function withLogs(fn: (log: Logger, lines: string[]) => Promise<void>): Promise<void> {
  const { log: captured, lines } = await captureLogs("test-hooks");
  try {
    await fn(captured, lines);
  } finally {
    await reset();
  }
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-hooksfile" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const hooksJson = (command: string) =>
  JSON.stringify({ ev: [{ hooks: [{ type: "command", command }] }] }, null, 2);

/** The commands of `config`'s hooks for `ev`. */
const commands = (config: HooksConfig) =>
  matchingHooks(config, "ev", {}).map((h) => h.type === "command" ? h.command : h.url);

// --- parseHooksFile: valid files ---

Deno.test("parseHooksFile() reads command and http hooks with EnConvo's defaults", () => {
  const config = valid(JSON.stringify({
    run_status_changed: [
      {
        matcher: "^chat",
        hooks: [
          { type: "command", command: "echo hi" },
          { type: "http", url: "https://example.com/hook" },
        ],
      },
    ],
    other: [{
      hooks: [{
        type: "http",
        url: "http://127.0.0.1:8080/x",
        method: "put",
        headers: { Authorization: "Bearer t" },
        timeout: 1500,
        extra: "ignored",
      }, { type: "command", command: "true", timeout: 250 }],
      futureField: true,
    }],
    empty: [],
  }));
  assert.deepEqual([...config.keys()], ["run_status_changed", "other", "empty"]);
  const [group] = config.get("run_status_changed")!;
  assert.equal(String(group.matcher), "/^chat/");
  assert.deepEqual(group.hooks, [
    {
      type: "command",
      command: "echo hi",
      timeout: DEFAULT_HOOK_TIMEOUT_MS,
      where: "run_status_changed[0].hooks[0]",
    },
    {
      type: "http",
      url: "https://example.com/hook",
      method: "POST",
      headers: {},
      timeout: 30_000,
      where: "run_status_changed[0].hooks[1]",
    },
  ]);
  assert.deepEqual(config.get("other")![0].hooks, [
    {
      type: "http",
      url: "http://127.0.0.1:8080/x",
      method: "PUT",
      headers: { Authorization: "Bearer t" },
      timeout: 1500,
      where: "other[0].hooks[0]",
    },
    { type: "command", command: "true", timeout: 250, where: "other[0].hooks[1]" },
  ]);
  assert.equal(config.get("other")![0].matcher, null);
  assert.deepEqual(config.get("empty"), []);
});

Deno.test("parseHooksFile() accepts the EnConvo documentation example", () => {
  const config = valid(`{
  "run_status_changed": [
    {
      "hooks": [
        { "type": "command", "command": "echo 'log' >> /tmp/hooks.log" },
        { "type": "http", "url": "http://localhost:8080/webhook" },
        { "type": "command", "command": "bash ~/.config/enconvo/hooks/notify.sh" }
      ]
    }
  ]
}`);
  assert.equal(matchingHooks(config, "run_status_changed", {}).length, 3);
});

// --- parseHooksFile: each problem, with line, col and path ---

Deno.test("parseHooksFile() reports an unknown hook type at its 'type' value", () => {
  const p = problem(`{
  "ev": [
    {
      "hooks": [
        { "type": "command", "command": "true" },
        { "type": "shell", "command": "true" }
      ]
    }
  ]
}`);
  assert.deepEqual(
    { line: p.line, col: p.col, path: p.path, file: p.file },
    { line: 6, col: 19, path: "ev[0].hooks[1].type", file: FILE },
  );
  assert.match(p.message, /Unknown hook type 'shell'/);
  assert.match(p.message, /"command" or "http"/);
});

Deno.test("parseHooksFile() reports a missing hook type at the hook, naming the key", () => {
  const p = problem(`{"ev": [{"hooks": [
  {"command": "true"}
]}]}`);
  assert.deepEqual({ line: p.line, col: p.col, path: p.path }, {
    line: 2,
    col: 3,
    path: "ev[0].hooks[0].type",
  });
  assert.match(p.message, /Missing hook 'type'/);
});

Deno.test("parseHooksFile() reports a command hook without a command at the command", () => {
  // Missing: at the hook; blank: at its value.
  const cases: [string, number][] = [
    ['{"type": "command"}', 7],
    ['{"type": "command", "command": "   "}', 38],
  ];
  for (const [hook, col] of cases) {
    const p = problem(`{\n  "ev": [{"hooks": [\n      ${hook}\n  ]}]\n}`);
    assert.deepEqual({ line: p.line, col: p.col, path: p.path }, {
      line: 3,
      col,
      path: "ev[0].hooks[0].command",
    }, hook);
    assert.match(p.message, /Command hook needs a non-empty 'command'/);
  }
  const p = problem('{"ev": [{"hooks": [{"type": "command", "command": 5}]}]}');
  assert.equal(p.path, "ev[0].hooks[0].command");
});

Deno.test("parseHooksFile() reports an http hook without a url, or with a bad one", () => {
  const missing = problem(`{
  "a": [],
  "ev": [
    {"matcher": "", "hooks": [{"type": "command", "command": "true"}]},
    {"hooks": [{"type": "http", "method": "POST"}]}
  ]
}`);
  assert.deepEqual({ line: missing.line, col: missing.col, path: missing.path }, {
    line: 5,
    col: 16,
    path: "ev[1].hooks[0].url",
  });
  assert.match(missing.message, /Http hook needs a 'url'/);

  const bad = problem(`{"ev": [{"hooks": [{"type": "http",\n "url": "ftp://x/"}]}]}`);
  assert.deepEqual({ line: bad.line, col: bad.col, path: bad.path }, {
    line: 2,
    col: 9,
    path: "ev[0].hooks[0].url",
  });
  assert.match(bad.message, /Invalid http\(s\) URL 'ftp:\/\/x\/'/);
});

Deno.test("parseHooksFile() reports an invalid regex matcher at the matcher", () => {
  const p = problem(`{
  "run_status_changed": [
    { "matcher": "chat_(ai|bot", "hooks": [] }
  ]
}`);
  assert.deepEqual(
    { file: p.file, line: p.line, col: p.col, path: p.path },
    { file: FILE, line: 3, col: 18, path: "run_status_changed[0].matcher" },
  );
  assert.match(p.message, /Invalid regex 'chat_\(ai\|bot'/);

  const notString = problem('{"ev": [{"matcher": 5, "hooks": []}]}');
  assert.equal(notString.path, "ev[0].matcher");
  assert.match(notString.message, /Matcher must be a string/);
});

Deno.test("parseHooksFile() reports a non-positive or non-number timeout at the timeout", () => {
  for (const value of ["0", "-5", '"30000"', "null", "true", "[]"]) {
    const p = problem(
      `{"ev": [{"hooks": [\n  {"type": "command", "command": "true", "timeout": ${value}}\n]}]}`,
    );
    assert.deepEqual({ line: p.line, col: p.col, path: p.path }, {
      line: 2,
      col: 53,
      path: "ev[0].hooks[0].timeout",
    }, value);
    assert.match(p.message, /Timeout must be a positive number of milliseconds/, value);
  }
  const http = problem(
    '{"ev": [{"hooks": [{"type": "http", "url": "http://x/", "timeout": -1}]}]}',
  );
  assert.equal(http.path, "ev[0].hooks[0].timeout");
});

Deno.test("parseHooksFile() reports invalid JSON with line and column and no path", () => {
  const p = problem(`{
  "ev": [
    {"hooks": [{"type": "command", "command": "true"},]}
  ]
}`);
  assert.deepEqual({ file: p.file, line: p.line, col: p.col, path: p.path }, {
    file: FILE,
    line: 3,
    col: 55,
    path: undefined,
  });
  assert.match(p.message, /^Invalid JSON: Expected a value, found ']'/);
});

Deno.test("parseHooksFile() reports wrong shapes at their path", () => {
  const cases: [string, string | undefined, RegExp][] = [
    ["[]", undefined, /Expected an object of event names/],
    ['{"ev": {}}', "ev", /Expected an array of \{matcher, hooks\} entries/],
    ['{"ev": ["x"]}', "ev[0]", /Expected an object with 'hooks'/],
    ['{"ev": [{}]}', "ev[0].hooks", /Missing 'hooks'/],
    ['{"ev": [{"hooks": {}}]}', "ev[0].hooks", /Expected an array/],
    ['{"ev": [{"hooks": ["echo"]}]}', "ev[0].hooks[0]", /Expected a hook object/],
    [
      '{"ev": [{"hooks": [{"type": "http", "url": "http://x/", "method": "GO T"}]}]}',
      "ev[0].hooks[0].method",
      /Invalid method/,
    ],
    [
      '{"ev": [{"hooks": [{"type": "http", "url": "http://x/", "headers": []}]}]}',
      "ev[0].hooks[0].headers",
      /Headers must be an object/,
    ],
    [
      '{"ev": [{"hooks": [{"type": "http", "url": "http://x/", "headers": {"X-N": 1}}]}]}',
      "ev[0].hooks[0].headers.X-N",
      /Header value must be a string/,
    ],
  ];
  for (const [text, path, message] of cases) {
    const p = problem(text);
    assert.equal(p.path, path, text);
    assert.match(p.message, message, text);
    assert.equal(p.line, 1, text);
    assert.ok(p.col && p.col >= 1, text);
  }
});

Deno.test("parseHooksFile() returns every problem, in file order", () => {
  const { config, problems } = parseHooksFile(
    `{
  "a": [{"matcher": "(", "hooks": [{"type": "nope"}]}],
  "b": [{"hooks": [{"type": "http"}, {"type": "command", "command": "x", "timeout": 0}]}]
}`,
    FILE,
  );
  assert.equal(config, undefined);
  assert.deepEqual(
    problems.map((p) => `${p.line}:${p.col} ${p.path}`),
    [
      "2:21 a[0].matcher",
      "2:45 a[0].hooks[0].type",
      "3:20 b[0].hooks[0].url",
      "3:85 b[0].hooks[1].timeout",
    ],
  );
});

Deno.test("parseHooksFile() refuses a timeout that timers cannot honour", () => {
  // 1e400 is valid JSON for Infinity and 3e9 ms overflows a timer's 32-bit delay; both are
  // accepted today and then fire at once (or throw) when the hook runs. See bus_test.ts.
  for (const value of ["1e400", "3000000000"]) {
    const { config, problems } = parseHooksFile(
      `{"ev": [{"hooks": [{"type": "command", "command": "true", "timeout": ${value}}]}]}`,
      FILE,
    );
    if (config) {
      const [hook] = matchingHooks(config, "ev", {});
      assert.ok(
        Number.isFinite(hook.timeout) && hook.timeout <= 2 ** 31 - 1,
        `timeout ${value} accepted as ${hook.timeout} ms, which a timer cannot wait for`,
      );
    } else {
      assert.equal(problems[0].path, "ev[0].hooks[0].timeout");
    }
  }
});

// --- matchKey / matchingHooks ---

Deno.test("matchKey() is commandKey, else subject, else the empty string", () => {
  assert.equal(matchKey({ commandKey: "a|b", subject: "s" }), "a|b");
  assert.equal(matchKey({ subject: "s" }), "s");
  assert.equal(matchKey({ commandKey: null, subject: "s" }), "s");
  assert.equal(matchKey({}), "");
  assert.equal(matchKey({ commandKey: 42 }), "42");
});

Deno.test("matchingHooks() filters groups by their matcher against commandKey or subject", () => {
  const config = valid(JSON.stringify({
    ev: [
      { matcher: "^deploy\\|", hooks: [{ type: "command", command: "deploy" }] },
      { matcher: "", hooks: [{ type: "command", command: "empty" }] },
      { hooks: [{ type: "command", command: "absent" }] },
      { matcher: "^nightly$", hooks: [{ type: "command", command: "nightly" }] },
      { matcher: null, hooks: [{ type: "http", url: "http://x/null" }] },
      { matcher: "^$", hooks: [{ type: "command", command: "nokey" }] },
    ],
    other: [{ hooks: [{ type: "command", command: "other" }] }],
  }));
  const names = (params: Record<string, unknown>) =>
    matchingHooks(config, "ev", params).map((h) => h.type === "command" ? h.command : h.url);
  assert.deepEqual(names({ commandKey: "deploy|prod" }), [
    "deploy",
    "empty",
    "absent",
    "http://x/null",
  ]);
  assert.deepEqual(names({ commandKey: "redeploy|prod" }), ["empty", "absent", "http://x/null"]);
  assert.deepEqual(names({ subject: "nightly" }), ["empty", "absent", "nightly", "http://x/null"]);
  assert.deepEqual(
    names({ commandKey: "deploy|x", subject: "nightly" }),
    ["deploy", "empty", "absent", "http://x/null"],
    "commandKey wins over subject",
  );
  assert.deepEqual(names({}), ["empty", "absent", "http://x/null", "nokey"]);
  assert.deepEqual(matchingHooks(config, "unknown", { commandKey: "deploy|x" }), []);
  assert.deepEqual(
    matchingHooks(config, "other", { commandKey: "anything" }).map((h) => h.where),
    ["other[0].hooks[0]"],
  );
});

Deno.test("matchingHooks() gives the same answer on repeated calls", () => {
  const config = valid(
    '{"ev": [{"matcher": "a", "hooks": [{"type": "command", "command": "x"}]}]}',
  );
  for (let i = 0; i < 3; i++) {
    assert.equal(matchingHooks(config, "ev", { commandKey: "a" }).length, 1);
  }
});

// --- HooksFile ---

Deno.test("HooksFile.current() re-reads the file after it is written, and only then", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log, lines) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("one"));
      const file = new HooksFile(path, { log });
      const first = await file.current();
      assert.deepEqual(commands(first), ["one"]);
      assert.equal(await file.current(), first, "unchanged file: same config, not re-parsed");
      await Deno.writeTextFile(path, hooksJson("second"));
      assert.deepEqual(commands(await file.current()), ["second"]);
      assert.equal(lines.filter((l) => /Reloaded event hooks/.test(l)).length, 1, lines.join("\n"));
      assert.equal(lines.filter((l) => l.startsWith("error")).length, 0, lines.join("\n"));
    });
  });
});

Deno.test("HooksFile.current() re-reads after an atomic rename over the file, even with the same mtime and size", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("aaa"));
      const file = new HooksFile(path, { log });
      assert.deepEqual(commands(await file.current()), ["aaa"]);
      const { mtime } = await Deno.stat(path);
      const tmp = join(dir, ".hooks.json.tmp");
      await Deno.writeTextFile(tmp, hooksJson("bbb"));
      await Deno.utime(tmp, mtime!, mtime!);
      await Deno.rename(tmp, path);
      assert.equal((await Deno.stat(path)).mtime?.getTime(), mtime!.getTime());
      assert.deepEqual(commands(await file.current()), ["bbb"]);
    });
  });
});

Deno.test("HooksFile.current() re-reads an in-place edit that changed the size but not the mtime", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("short"));
      const file = new HooksFile(path, { log });
      assert.deepEqual(commands(await file.current()), ["short"]);
      const { mtime } = await Deno.stat(path);
      await Deno.writeTextFile(path, hooksJson("a longer one"));
      await Deno.utime(path, mtime!, mtime!);
      assert.deepEqual(commands(await file.current()), ["a longer one"]);
    });
  });
});

Deno.test("HooksFile.current() keeps the last good config after a broken edit and logs it once", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log, lines) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("good"));
      const file = new HooksFile(path, { log });
      assert.deepEqual(commands(await file.current()), ["good"]);

      await Deno.writeTextFile(path, '{\n  "ev": [\n    {"hooks": [{"type": "command"}]}\n  ]\n}');
      assert.deepEqual(commands(await file.current()), ["good"]);
      assert.deepEqual(commands(await file.current()), ["good"]);
      let errors = lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, lines.join("\n"));
      assert.ok(errors[0].includes(`${path}:3:16: ev[0].hooks[0].command:`), errors[0]);
      assert.match(errors[0], /Command hook needs a non-empty 'command'/);
      assert.match(errors[0], /keeping the previous event hooks/);

      await Deno.writeTextFile(path, '{"ev": [ {"hooks": [}');
      assert.deepEqual(commands(await file.current()), ["good"]);
      errors = lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 2, lines.join("\n"));
      assert.ok(errors[1].includes(`${path}:1:21: Invalid JSON`), errors[1]);

      await Deno.writeTextFile(path, hooksJson("fixed"));
      assert.deepEqual(commands(await file.current()), ["fixed"]);
      assert.equal(lines.filter((l) => l.startsWith("error")).length, 2);
    });
  });
});

Deno.test("HooksFile.current() treats a missing file as no hooks, and notices it appear and go", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log, lines) => {
      const path = join(dir, "hooks.json");
      const file = new HooksFile(path, { log });
      assert.equal((await file.current()).size, 0);
      await Deno.writeTextFile(path, hooksJson("now"));
      assert.deepEqual(commands(await file.current()), ["now"]);
      await Deno.remove(path);
      assert.equal((await file.current()).size, 0);
      assert.equal(lines.filter((l) => l.startsWith("error")).length, 0, lines.join("\n"));
    });
  });
});

Deno.test("HooksFile.current() notices a file created in a folder that had not changed for long", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const path = join(dir, "hooks.json");
      // An old folder: while the file is missing, only the folder is looked at.
      const old = new Date(Date.now() - 3600_000);
      await Deno.utime(dir, old, old);
      const file = new HooksFile(path, { log });
      assert.equal((await file.current()).size, 0);
      assert.equal((await file.current()).size, 0);
      await Deno.writeTextFile(path, hooksJson("appeared"));
      assert.deepEqual(commands(await file.current()), ["appeared"]);
      // Created elsewhere and renamed in.
      await Deno.remove(path);
      await Deno.utime(dir, old, old);
      assert.equal((await file.current()).size, 0);
      const elsewhere = await Deno.makeTempFile({ dir });
      await Deno.writeTextFile(elsewhere, hooksJson("renamed"));
      await Deno.rename(elsewhere, path);
      assert.deepEqual(commands(await file.current()), ["renamed"]);
    });
  });
});

Deno.test("HooksFile.unchanged() answers without a read while the file is unchanged, else null", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("one"));
      const old = new Date(Date.now() - 3600_000);
      await Deno.utime(path, old, old);
      const file = new HooksFile(path, { log });
      assert.equal(file.unchanged(), null, "never read yet");
      const first = await file.current();
      assert.equal(file.unchanged(), first);
      await Deno.writeTextFile(path, hooksJson("two"));
      // A look stands for LOOK_EVERY_MS; the next one sees the change.
      await new Promise((r) => setTimeout(r, LOOK_EVERY_MS + 5));
      assert.equal(file.unchanged(), null, "changed: current() must re-read it");
      assert.deepEqual(commands(await file.current()), ["two"]);
    });
  });
});

Deno.test("HooksFile.current() notices the target of a dangling symlink appear elsewhere", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const config = join(dir, "config");
      const dotfiles = join(dir, "dotfiles");
      await Deno.mkdir(config);
      await Deno.mkdir(dotfiles);
      const path = join(config, "hooks.json");
      await Deno.symlink(join(dotfiles, "hooks.json"), path);
      const old = new Date(Date.now() - 3600_000);
      await Deno.utime(config, old, old);
      const file = new HooksFile(path, { log });
      assert.equal((await file.current()).size, 0);
      // Created in another folder: the symlink's folder does not change.
      await Deno.writeTextFile(join(dotfiles, "hooks.json"), hooksJson("linked"));
      assert.deepEqual(commands(await file.current()), ["linked"]);
    });
  });
});

Deno.test("HooksFile.current() starts with no hooks when the file is broken from the start", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log, lines) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, '{"ev": [{"matcher": "(", "hooks": []}]}');
      const file = new HooksFile(path, { log });
      assert.equal((await file.current()).size, 0);
      const errors = lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, lines.join("\n"));
      assert.ok(errors[0].includes(`${path}:1:21: ev[0].matcher: Invalid regex '('`), errors[0]);
    });
  });
});

Deno.test("HooksFile.current() calls made together share one result", async () => {
  await withTemp(async (dir) => {
    await withLogs(async (log) => {
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(path, hooksJson("x"));
      const file = new HooksFile(path, { log });
      const [a, b, c] = await Promise.all([file.current(), file.current(), file.current()]);
      assert.equal(a, b);
      assert.equal(b, c);
      assert.deepEqual(commands(a), ["x"]);
    });
  });
});
