/**
 * End-to-end tests of the bundle that `deno task compile` builds the binary from
 * (`scripts/bundle.ts`): built for real with `deno bundle`, then run as the binary runs it, with
 * no `deno.json` (`--no-config`). What differs from running `main.ts`: one module instead of
 * ~190, files found from `dist/` instead of `src/` (the plugin Worker's entry, the plugin types),
 * and libraries resolved at bundle time.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { bundle } from "../scripts/bundle.ts";
import { cli, config, envFor, hooksToml, Proc, request, script, tempDir } from "./_helpers.ts";

let building: Promise<string> | undefined;
/** Builds the bundle once, for the first test that needs it. */
const built = () => building ??= bundle();

Deno.test("the bundle imports no node: module, so no command pays for Node compatibility", async () => {
  const code = await Deno.readTextFile(await built());
  // The first `node:` import costs a process ~9 ms, most of a short `send`.
  assert.deepEqual(code.match(/\bfrom ?"node:[^"]*"|\bimport ?"node:[^"]*"/g), null);
});

Deno.test("the bundle runs the CLI: --version, and config check reports a bad key by path", async () => {
  await built();
  const version = await cli(["--version"], { entry: "bundle" });
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.split("\n")[0], `hookhost ${denoJson.version}`);
  assert.match(version.stdout, new RegExp(`^deno ${Deno.version.deno}$`, "m"));
  assert.match(version.stdout, /^v8 \d+\.\d+/m);

  const tmp = await tempDir();
  try {
    // zod's messages and key paths survive bundling, which keeps only the parts of zod in use.
    await config(tmp.path, `plugins = "x"\n[session]\nmax_attempts = 0\n`);
    const res = await cli(["config", "check"], { env: envFor(tmp.path), entry: "bundle" });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /hookhost\.toml:3:\d+: session\.max_attempts: Must be from 1 to 1000/);
    // Worded by zod's English locale, the one locale the bundle keeps.
    assert.match(res.stderr, /plugins: Invalid input: expected record, received string, got 'x'/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("the bundle serves a script hook and a module plugin, and prints the plugin types", async () => {
  await built();
  const tmp = await tempDir();
  const env = envFor(tmp.path);
  let d: Proc | undefined;
  try {
    const echo = await script(tmp.path, "echo.sh", 'read -r body; echo "script got $body"');
    const plugins = join(tmp.path, "plugins");
    await Deno.mkdir(plugins);
    await Deno.writeTextFile(
      join(plugins, "hi.ts"),
      `export default {
        async webhook(req) { return new Response("plugin got " + await req.text()); },
      };\n`,
    );
    await config(
      tmp.path,
      `[server]\nbind = "127.0.0.1:0"\n\n${hooksToml([{ name: "echo", script: echo }])}`,
    );
    d = Proc.start(
      ["run", "--name", "b", "--daemon", "--format", "jsonl", "--hook", "echo"],
      { env: { ...env, HOOKHOST_PLUGINS: plugins }, entry: "bundle" },
    );
    const hook = await request(`http://${await d.addr("echo")}/`, { method: "POST", body: "one" });
    assert.equal(hook.status, 200, hook.text);
    // The plugin's Worker starts from src/plugins/worker_main.ts, found from dist/.
    const plugin = await request(`http://${await d.addr("server")}/hooks/hi`, {
      method: "POST",
      body: "two",
    });
    assert.equal(plugin.status, 200, plugin.text);
    assert.equal(plugin.text, "plugin got two");
    await d.waitFor((r) => r.type === "injected" && r.content === "script got one");
    assert.equal(await d.stop(), 0, d.stderr);
    d = undefined;

    const types = await cli(["plugins", "types"], { entry: "bundle" });
    assert.equal(types.code, 0, types.stderr);
    assert.equal(
      types.stdout.trim(),
      (await Deno.readTextFile(new URL("../src/plugins/types.ts", import.meta.url))).trim(),
    );
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
});

Deno.test("a plugin not granted import loads npm: packages only from the cache that `plugins install` fills", async () => {
  await built();
  const tmp = await tempDir();
  try {
    // A cache of this test's own, so that what the plugin fetched (or did not) can be seen.
    const cache = join(tmp.path, "deno-cache");
    // What reaching npm takes on this machine (a proxy, its certificate), if anything.
    const network = ["NODE_EXTRA_CA_CERTS", "DENO_CERT", "HTTPS_PROXY", "https_proxy", "NO_PROXY"]
      .flatMap((k) => Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : []);
    const env = envFor(tmp.path, { DENO_DIR: cache, ...Object.fromEntries(network) });
    await config(tmp.path, "");
    await Deno.mkdir(join(tmp.path, "plugins"));
    await Deno.writeTextFile(
      join(tmp.path, "plugins", "odd.ts"),
      `import isOdd from "npm:is-odd@3.0.1";\nexport default { webhook: () => new Response(String(isOdd(3))) };\n`,
    );
    const fetched = () =>
      Deno.stat(join(cache, "npm", "registry.npmjs.org", "is-odd")).then(() => true, () => false);
    const ls = async () => {
      const r = await cli(["plugins", "ls", "--json"], { env, entry: "bundle" });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim());
    };
    const before = await ls();
    assert.equal(before.state, "failed", JSON.stringify(before));
    assert.match(before.lastError, /cached-only/, before.lastError);
    assert.equal(await fetched(), false, "nothing was downloaded");

    const install = await cli(["plugins", "install"], { env, entry: "bundle" });
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stdout, /Cached the imports of 'odd'/);
    assert.equal(await fetched(), true);
    const after = await ls();
    assert.equal(after.state, "ready", JSON.stringify(after));
  } finally {
    await tmp.cleanup();
  }
});
