import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { resolvePaths } from "./paths.ts";

const CWD = "/work/proj";

/** An `isFile` seam that knows exactly `files`. */
function only(...files: string[]): (path: string) => boolean {
  const set = new Set(files);
  return (path) => set.has(path);
}

Deno.test("resolvePaths() prefers the --config flag over HOOKHOST_CONFIG and defaults", () => {
  const paths = resolvePaths({ config: "conf/a.toml" }, {
    env: { HOOKHOST_CONFIG: "/etc/b.toml", HOME: "/home/u" },
    cwd: CWD,
    isFile: only("/work/proj/conf/a.toml", "/etc/b.toml", "/work/proj/hookhost.toml"),
  });
  assert.equal(paths.configFile, "/work/proj/conf/a.toml");
  assert.equal(paths.configDir, "/work/proj/conf");
});

Deno.test("resolvePaths() uses HOOKHOST_CONFIG over ./hookhost.toml", () => {
  const paths = resolvePaths({}, {
    env: { HOOKHOST_CONFIG: "/etc/b.toml", HOME: "/home/u" },
    cwd: CWD,
    isFile: only("/etc/b.toml", "/work/proj/hookhost.toml"),
  });
  assert.equal(paths.configFile, "/etc/b.toml");
});

Deno.test("resolvePaths() uses ./hookhost.toml over the XDG config", () => {
  const paths = resolvePaths({}, {
    env: { XDG_CONFIG_HOME: "/xdg", HOME: "/home/u" },
    cwd: CWD,
    isFile: only("/work/proj/hookhost.toml", "/xdg/hookhost/config.toml"),
  });
  assert.equal(paths.configFile, "/work/proj/hookhost.toml");
});

Deno.test("resolvePaths() falls back to $XDG_CONFIG_HOME/hookhost/config.toml", () => {
  const paths = resolvePaths({}, {
    env: { XDG_CONFIG_HOME: "/xdg", HOME: "/home/u" },
    cwd: CWD,
    isFile: only("/xdg/hookhost/config.toml", "/home/u/.config/hookhost/config.toml"),
  });
  assert.equal(paths.configFile, "/xdg/hookhost/config.toml");
  assert.equal(paths.configDir, "/xdg/hookhost");
});

Deno.test("resolvePaths() uses ~/.config when XDG_CONFIG_HOME is unset or empty", () => {
  for (const env of [{ HOME: "/home/u" }, { HOME: "/home/u", XDG_CONFIG_HOME: "" }]) {
    const paths = resolvePaths({}, {
      env,
      cwd: CWD,
      isFile: only("/home/u/.config/hookhost/config.toml"),
    });
    assert.equal(paths.configFile, "/home/u/.config/hookhost/config.toml");
  }
});

Deno.test("resolvePaths() gives an empty config rooted at cwd when no file is found", () => {
  const paths = resolvePaths({}, { env: { HOME: "/home/u" }, cwd: CWD, isFile: only() });
  assert.equal(paths.configFile, null);
  assert.equal(paths.configDir, CWD);
  assert.equal(paths.eventsFile, "/work/proj/hooks.json");
  assert.equal(paths.pluginsDir, "/work/proj/plugins");
});

Deno.test("resolvePaths() defaults hooks.json and plugins/ to the config file's folder", () => {
  const paths = resolvePaths({ config: "/etc/hookhost/main.toml" }, {
    env: { HOME: "/home/u" },
    cwd: CWD,
    isFile: only("/etc/hookhost/main.toml"),
  });
  assert.equal(paths.eventsFile, "/etc/hookhost/hooks.json");
  assert.equal(paths.pluginsDir, "/etc/hookhost/plugins");
});

Deno.test("resolvePaths() takes events and plugins from flags, then env, relative to cwd", () => {
  const env = { HOME: "/home/u", HOOKHOST_EVENTS: "env/ev.json", HOOKHOST_PLUGINS: "/env/plug" };
  const fromEnv = resolvePaths({}, { env, cwd: CWD, isFile: only() });
  assert.equal(fromEnv.eventsFile, "/work/proj/env/ev.json");
  assert.equal(fromEnv.pluginsDir, "/env/plug");
  const fromFlags = resolvePaths({ events: "flag.json", plugins: "p" }, {
    env,
    cwd: CWD,
    isFile: only(),
  });
  assert.equal(fromFlags.eventsFile, "/work/proj/flag.json");
  assert.equal(fromFlags.pluginsDir, "/work/proj/p");
});

Deno.test("resolvePaths() defaults state to $XDG_STATE_HOME/hookhost", () => {
  const paths = resolvePaths({}, {
    env: { HOME: "/home/u", XDG_STATE_HOME: "/xstate" },
    cwd: CWD,
    isFile: only(),
  });
  assert.equal(paths.stateDir, "/xstate/hookhost");
  assert.equal(paths.kv, "/xstate/hookhost/hookhost.kv");
});

Deno.test("resolvePaths() defaults state to ~/.local/state/hookhost without XDG_STATE_HOME", () => {
  for (const env of [{ HOME: "/home/u" }, { HOME: "/home/u", XDG_STATE_HOME: "" }]) {
    const paths = resolvePaths({}, { env, cwd: CWD, isFile: only() });
    assert.equal(paths.stateDir, "/home/u/.local/state/hookhost");
  }
});

Deno.test("resolvePaths() takes state from the flag over HOOKHOST_STATE", () => {
  const env = { HOME: "/home/u", HOOKHOST_STATE: "envstate" };
  assert.equal(resolvePaths({}, { env, cwd: CWD, isFile: only() }).stateDir, "/work/proj/envstate");
  const paths = resolvePaths({ state: "/s" }, { env, cwd: CWD, isFile: only() });
  assert.equal(paths.stateDir, "/s");
  assert.equal(paths.kv, "/s/hookhost.kv");
});

Deno.test("resolvePaths() passes a KV URL through and resolves a KV path", () => {
  const env = { HOME: "/home/u" };
  const url = "https://api.deno.com/databases/abc/connect";
  assert.equal(resolvePaths({ kv: url }, { env, cwd: CWD, isFile: only() }).kv, url);
  assert.equal(
    resolvePaths({}, { env: { ...env, HOOKHOST_KV: "HTTP://kv:4512" }, cwd: CWD, isFile: only() })
      .kv,
    "HTTP://kv:4512",
  );
  assert.equal(
    resolvePaths({ kv: "db/x.kv" }, { env, cwd: CWD, isFile: only() }).kv,
    "/work/proj/db/x.kv",
  );
  assert.equal(
    resolvePaths({ kv: "/abs.kv" }, {
      env: { ...env, HOOKHOST_KV: "/env.kv" },
      cwd: CWD,
      isFile: only(),
    })
      .kv,
    "/abs.kv",
  );
});

Deno.test("resolvePaths() throws ConfigError for a named config file that does not exist", () => {
  for (
    const [flags, env] of [
      [{ config: "missing.toml" }, {}],
      [{}, { HOOKHOST_CONFIG: "missing.toml" }],
    ] as const
  ) {
    let caught: unknown;
    try {
      resolvePaths(flags, { env: { HOME: "/home/u", ...env }, cwd: CWD, isFile: only() });
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigError, "expected a ConfigError");
    assert.equal(caught.exitCode, 2);
    assert.equal(caught.problems[0].file, "/work/proj/missing.toml");
    assert.match(caught.message, /missing\.toml.*Config file not found/);
  }
});

Deno.test("resolvePaths() checks real files by default", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/hookhost.toml`, "");
    await Deno.mkdir(`${dir}/sub/hookhost.toml`, { recursive: true });
    const found = resolvePaths({}, { env: { HOME: "/nonexistent" }, cwd: dir });
    assert.equal(found.configFile, `${dir}/hookhost.toml`);
    // A folder named like the config is not a config file.
    const none = resolvePaths({}, { env: { HOME: "/nonexistent" }, cwd: `${dir}/sub` });
    assert.equal(none.configFile, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
