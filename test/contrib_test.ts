/**
 * The files for running hookhost elsewhere, checked as far as this machine can: the systemd unit
 * with `systemd-analyze verify`, the Dockerfile against the build and the config it relies on
 * (it is not built here), and the cron recipes of docs/operations.md run as written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../scripts/flags.ts";
import { outputFor } from "../scripts/compile.ts";
import { parseArgv, PROGRAM } from "../src/cli/mod.ts";
import { DEFAULT_ADMIN_BIND } from "../src/config/schema.ts";
import { denoRunArgs } from "../scripts/bundle.ts";
import { config, hooksToml, script, tempDir } from "./_helpers.ts";

/** Whether `args` are a hookhost command line its parser accepts as a command to run. */
function parses(args: string[]): boolean {
  return parseArgv(PROGRAM, args).kind !== "print";
}

Deno.test("contrib/hookhost.service passes systemd-analyze verify without a warning and is hardened", async () => {
  const unit = await Deno.readTextFile(join(ROOT, "contrib", "hookhost.service"));
  for (
    const line of [
      "Type=simple",
      "DynamicUser=yes",
      "StateDirectory=hookhost",
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "KillSignal=SIGTERM",
    ]
  ) assert.match(unit, new RegExp(`^${line}$`, "m"), line);
  assert.match(unit, /^LimitNOFILE=\d+$/m);
  const exec = /^ExecStart=(\S+) (.*)$/m.exec(unit)!;
  assert.equal(exec[1], "/usr/local/bin/hookhost");
  assert.ok(parses(exec[2].split(" ")), exec[2]);

  const tmp = await tempDir();
  try {
    // verify wants the executable to exist: point it at one that does.
    const bin = await script(tmp.path, "hookhost", "exit 0");
    const path = join(tmp.path, "hookhost.service");
    await Deno.writeTextFile(path, unit.replaceAll("/usr/local/bin/hookhost", bin));
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    // It exits 0 on unknown keys and bad values too, but names the file and line of each.
    const ours = stderr.split("\n").filter((l) => l.includes("hookhost.service"));
    assert.deepEqual(ours, [], stderr);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("the Dockerfile copies what compile builds, runs as a non-root user and checks the admin /healthz", async () => {
  const file = await Deno.readTextFile(join(ROOT, "Dockerfile"));
  assert.match(file, /^FROM debian:\S+-slim$/m);
  const target = /^ARG TARGET=(\S+)$/m.exec(file)![1];
  const copied = /^COPY --chmod=0755 (\S+) \/usr\/local\/bin\/hookhost$/m.exec(file)![1];
  assert.equal(
    join(ROOT, copied.replace("${TARGET}", target)),
    outputFor(target, true),
    "COPY names the file deno task compile --target writes",
  );
  assert.match(file, /^USER hookhost$/m);
  assert.match(file, /useradd --system --uid 10001/);
  const state = /HOOKHOST_STATE=(\S+)/.exec(file)![1];
  assert.match(file, new RegExp(`^VOLUME \\[.*"${state}".*\\]$`, "m"));
  const port = DEFAULT_ADMIN_BIND.split(":")[1];
  assert.match(file, new RegExp(`HEALTHCHECK [\\s\\S]*http://127\\.0\\.0\\.1:${port}/healthz`));
  assert.match(file, /^ENTRYPOINT \["\/usr\/local\/bin\/hookhost"\]$/m);
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(file)![1]) as string[];
  assert.ok(parses(cmd), cmd.join(" "));
});

/** The crontab block of docs/operations.md: its variables and its commands, as cron runs them. */
async function cronRecipes(): Promise<{ vars: Map<string, string>; commands: string[] }> {
  const doc = await Deno.readTextFile(join(ROOT, "docs", "operations.md"));
  const block = /```crontab\n([\s\S]*?)```/.exec(doc)![1];
  const vars = new Map<string, string>();
  const commands: string[] = [];
  for (const line of block.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const v = /^([A-Z_]+)=(.*)$/.exec(line);
    if (v) vars.set(v[1], v[2]);
    // Five time fields, then the command, in which cron turns `\%` into `%`.
    else commands.push(line.split(/\s+/).slice(5).join(" ").replaceAll("\\%", "%"));
  }
  return { vars, commands };
}

Deno.test("the cron recipes of docs/operations.md run as written: drain, send, drain again, emit", async () => {
  const { vars, commands } = await cronRecipes();
  assert.deepEqual([...vars.keys()], ["HOOKHOST_CONFIG", "HOOKHOST_STATE"]);
  assert.equal(commands.length, 3);
  const [drain, send, emit] = commands;
  assert.match(drain, /^hookhost run --name nightly/);
  assert.match(send, /^hookhost send /);
  assert.match(emit, /^hookhost emit /);

  const tmp = await tempDir();
  try {
    const home = join(tmp.path, "home");
    await Deno.mkdir(home);
    // `hookhost` on PATH, as an installed binary is: this checkout, run as the tests run it.
    const bin = join(tmp.path, "bin");
    await Deno.mkdir(bin);
    const args = denoRunArgs("source").map((a) => `'${a}'`).join(" ");
    await script(bin, "hookhost", `exec '${Deno.execPath()}' ${args} "$@"`);
    await config(tmp.path, hooksToml([]));
    await Deno.writeTextFile(
      join(tmp.path, "hooks.json"),
      JSON.stringify({
        hooks: {
          heartbeat: [{ hooks: [{ type: "command", command: `cat > '${home}/heartbeat.json'` }] }],
        },
      }),
    );
    const env = {
      // What cron gives a command (plus the test's Deno cache), and the crontab's variables with
      // this test's paths.
      PATH: `${bin}:/usr/bin:/bin`,
      HOME: home,
      SHELL: "/bin/sh",
      DENO_DIR: Deno.env.get("DENO_DIR") ||
        join(Deno.env.get("HOME") ?? "/", ".cache", "deno"),
      NO_COLOR: "1",
      HOOKHOST_CONFIG: join(tmp.path, "hookhost.toml"),
      HOOKHOST_STATE: join(tmp.path, "state"),
    };
    const sh = async (command: string) => {
      const out = await new Deno.Command("/bin/sh", {
        args: ["-c", command],
        env,
        clearEnv: true,
        cwd: home,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, `${command}\n${dec.decode(out.stderr)}`);
      return dec.decode(out.stdout);
    };
    await sh(drain); // the first run makes the session
    const id = (await sh(send)).trim();
    assert.match(id, /^[0-9A-Z]{26}$/);
    await sh(drain);
    const records = (await Deno.readTextFile(join(home, "nightly.jsonl")))
      .split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const got = records.find((r) => r.type === "injected" && r.id === id);
    assert.ok(got, JSON.stringify(records));
    // `date +%F` ran in cron's shell: the message names today, not "%F".
    assert.match(got.content, /^Daily report for \d{4}-\d{2}-\d{2}$/);

    await sh(emit);
    const event = JSON.parse(await Deno.readTextFile(join(home, "heartbeat.json")));
    assert.equal(event.event, "heartbeat");
    assert.deepEqual(event.params, { subject: "cron" });
  } finally {
    await tmp.cleanup();
  }
});
