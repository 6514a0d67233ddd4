/**
 * End-to-end tests of `hookhost init` (docs/cli.md): the project it writes passes `config check`
 * and runs with `hookhost run --name demo --daemon` as written, its hook, plugin, event hook and
 * admin listener working; and it never overwrites anything.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, Proc, request, tempDir } from "./_helpers.ts";
import { until } from "./_poll.ts";

const FILES = ["hookhost.toml", "scripts/hello.sh", "plugins/greet.ts", "hooks.json"];

/** The project's config with its fixed ports made free ones, so that no test binds a fixed port. */
async function freePorts(project: string): Promise<void> {
  const path = join(project, "hookhost.toml");
  const toml = await Deno.readTextFile(path);
  const changed = toml.replace(/"127\.0\.0\.1:(9000|9100|9180)"/g, '"127.0.0.1:0"');
  assert.equal(changed.match(/127\.0\.0\.1:0"/g)?.length, 3, "the three binds");
  await Deno.writeTextFile(path, changed);
}

Deno.test("hookhost init writes a project that config check accepts and `run --name demo --daemon` runs", async () => {
  const tmp = await tempDir();
  try {
    const made = await cli(["init", "proj"], { cwd: tmp.path });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /hookhost run --name demo --daemon --hook hello/);
    const project = join(tmp.path, "proj");
    for (const f of FILES) assert.ok((await Deno.stat(join(project, f))).isFile, f);
    assert.equal((await Deno.stat(join(project, "scripts/hello.sh"))).mode! & 0o111, 0o111);

    const env = { HOOKHOST_STATE: join(tmp.path, "state") };
    const checked = await cli(["config", "check"], { cwd: project, env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /hookhost\.toml: ok, 1 hook\(s\)/);
    assert.match(checked.stdout, /hooks\.json: ok, 1 event hook\(s\) for 1 event\(s\)/);
    assert.match(checked.stdout, /plugins: ok, 1 plugin\(s\)/);

    await freePorts(project);
    // As the note init prints says: from the project's folder, the config found there.
    for (const args of [[], ["--hook", "hello"]]) {
      const d = Proc.start(["run", "--name", "demo", "--daemon", "--format", "jsonl", ...args], {
        cwd: project,
        env,
      });
      try {
        const greet = await request(`http://${await d.addr("server")}/hooks/greet`, {
          method: "POST",
          body: "hi there",
        });
        assert.equal(greet.status, 200, `${greet.text}\n${d.stderr}`);
        await d.waitFor((r) => r.type === "injected" && r.content === "greet plugin: hi there");
        const health = await request(`http://${await d.addr("admin")}/healthz`);
        assert.equal(health.status, 200);
        // hooks.json's message_received hook writes its line to the log.
        await until(() => d.stderr.includes("event: a message arrived"), () => d.stderr);
        if (args.length) {
          const hello = await request(`http://${await d.addr("hello")}/`, {
            method: "POST",
            body: "hi there",
          });
          assert.equal(hello.status, 200, hello.text);
          await d.waitFor((r) =>
            r.type === "injected" && r.content === "hello hook: POST /: hi there"
          );
        } else {
          assert.ok(!d.records.some((r) => r.type === "listening" && r.hook === "hello"));
        }
      } finally {
        assert.equal(await d.stop(), 0, d.stderr);
      }
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("hookhost init refuses to overwrite: one line, exit 1, and no file written or changed", async () => {
  const tmp = await tempDir();
  try {
    assert.equal((await cli(["init"], { cwd: tmp.path })).code, 0);
    const mine = "# my own config\n";
    await Deno.writeTextFile(join(tmp.path, "hookhost.toml"), mine);
    await Deno.remove(join(tmp.path, "hooks.json"));
    const again = await cli(["init"], { cwd: tmp.path });
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      "hookhost: './hookhost.toml' exists; init writes only new files and wrote none\n",
    );
    assert.equal(await Deno.readTextFile(join(tmp.path, "hookhost.toml")), mine);
    await assert.rejects(Deno.stat(join(tmp.path, "hooks.json")), Deno.errors.NotFound);

    // A folder holding only an unrelated file is fine; a dangling symlink named like one is not.
    const other = join(tmp.path, "other");
    await Deno.mkdir(join(other, "plugins"), { recursive: true });
    await Deno.symlink("/nonexistent/target", join(other, "plugins", "greet.ts"));
    const linked = await cli(["init", other], { cwd: tmp.path });
    assert.equal(linked.code, 1);
    assert.match(linked.stderr, /plugins\/greet\.ts' exists/);
    await assert.rejects(Deno.stat(join(other, "hookhost.toml")), Deno.errors.NotFound);
  } finally {
    await tmp.cleanup();
  }
});
