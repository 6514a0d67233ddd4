/**
 * End-to-end tests of hookhost as a container's first process (src/exec/init.ts, docs/operations.md
 * "Containers"): made PID 1 of a new PID namespace by `unshare --pid --fork --mount-proc`, as
 * `docker run` makes an entrypoint, it reaps the orphans its scripts leave and turns SIGTERM into
 * the daemon's graceful shutdown. Processes are looked at from this side of the namespace, in
 * /proc.
 */
import assert from "node:assert/strict";
import { cli, config, envFor, hooksToml, Proc, request, script, tempDir } from "./_helpers.ts";
import { eventually, exists, until } from "./_poll.ts";
import { join } from "node:path";

/** The pids whose parent is `parent`, with their state (`S`, `Z`, …). */
function childrenOf(parent: number): { pid: number; state: string }[] {
  const found: { pid: number; state: string }[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === parent) found.push({ pid, state: fields[0] });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The one child of `parent`, once it has exactly one. */
async function onlyChild(parent: number): Promise<number> {
  let kids: { pid: number }[] = [];
  await until(() => (kids = childrenOf(parent)).length === 1, () => `children of ${parent}`);
  return kids[0].pid;
}

/** The `unshare` prefix that makes a PID namespace here: as root, or in a user namespace. */
async function unsharePrefix(): Promise<string[]> {
  for (
    const prefix of [
      ["unshare", "--pid", "--fork", "--mount-proc"],
      ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"],
    ]
  ) {
    const ok = await new Deno.Command(prefix[0], {
      args: [...prefix.slice(1), "true"],
      stdout: "null",
      stderr: "null",
    }).output().then((o) => o.success, () => false);
    if (ok) return prefix;
  }
  throw new Error("unshare cannot make a PID namespace on this machine (util-linux, root?)");
}

const FORKS = 5;

/**
 * Starts a daemon whose hook `fork` leaves an orphan (`sh -c 'sleep 0.2 &'`: the `sh` exits, the
 * `sleep` outlives it) and whose hook `slow` takes a second, runs `body` with the pid that
 * orphans go to, and stops it with SIGTERM.
 */
async function withForkingDaemon(
  how: { prefix: string[]; env?: Record<string, string> },
  body: (d: Proc, reaper: number, dir: string) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "fork.sh", "sh -c 'sleep 0.2 &'\necho forked");
    await script(tmp.path, "slow.sh", `touch "${tmp.path}/slow.started"\nsleep 1\necho slow-done`);
    await config(
      tmp.path,
      hooksToml([{ name: "fork", script: "./fork.sh" }, { name: "slow", script: "./slow.sh" }]),
    );
    const d = Proc.start(
      ["run", "--name", "c", "--daemon", "--format", "jsonl", "--hook", "fork", "--hook", "slow"],
      { env: envFor(tmp.path, how.env), prefix: how.prefix },
    );
    try {
      await d.addr("fork");
      await body(d, d.child.pid, tmp.path);
    } finally {
      await d.stop("SIGKILL").catch(() => {});
    }
  } finally {
    await tmp.cleanup();
  }
}

/** Sends the forking requests, then waits for their orphans to have ended. */
async function fork(d: Proc): Promise<void> {
  const base = `http://${await d.addr("fork")}`;
  for (let i = 0; i < FORKS; i++) {
    const res = await request(`${base}/`, { method: "POST" });
    assert.equal(res.status, 200, res.text);
  }
}

Deno.test("as PID 1, hookhost reaps the orphans of its scripts and SIGTERM stops it gracefully", async () => {
  const prefix = await unsharePrefix();
  await withForkingDaemon({ prefix }, async (d, unshare, dir) => {
    const init = await onlyChild(unshare); // PID 1 inside
    const daemon = await onlyChild(init);
    await fork(d);
    // Each orphan becomes the init's child; once it has ended and been reaped, only the daemon
    // is left. A zombie would stay a child for good.
    assert.ok(
      await eventually(() => childrenOf(init).every((c) => c.pid === daemon)),
      `left under PID 1: ${JSON.stringify(childrenOf(init))}`,
    );
    assert.deepEqual(childrenOf(init).filter((c) => c.state === "Z"), []);

    // SIGTERM to PID 1, as `docker stop` sends it, with a request in flight: it is answered.
    const slow = request(`http://${await d.addr("slow")}/`, { method: "POST" });
    await until(() => exists(join(dir, "slow.started")), () => "the slow script to start");
    Deno.kill(init, "SIGTERM");
    const answer = await slow;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(await d.exited(), 0, d.stderr);
    // Accepted during the shutdown, its message waits in the inbox for the next run.
    const printed = d.records.some((r) => r.type === "injected" && r.content === "slow-done");
    const inbox = await cli(["inbox", "ls", "--name", "c", "--json"], { env: envFor(dir) });
    assert.ok(printed || inbox.stdout.includes("slow-done"), `lost: ${inbox.stdout}`);
  });
});

Deno.test("as PID 1 with HOOKHOST_INIT=0 the orphans stay zombies (what the init is for)", async () => {
  const prefix = await unsharePrefix();
  await withForkingDaemon({ prefix, env: { HOOKHOST_INIT: "0" } }, async (d, unshare) => {
    const daemon = await onlyChild(unshare); // PID 1 inside, no init
    await fork(d);
    assert.ok(
      await eventually(() => childrenOf(daemon).filter((c) => c.state === "Z").length >= FORKS),
      `zombies of PID 1: ${JSON.stringify(childrenOf(daemon))}`,
    );
    Deno.kill(daemon, "SIGTERM");
    assert.equal(await d.exited(), 0, d.stderr);
  });
});

Deno.test("HOOKHOST_INIT=1 makes hookhost a subreaper init outside a container too", async () => {
  await withForkingDaemon({ prefix: [], env: { HOOKHOST_INIT: "1" } }, async (d, init) => {
    const daemon = await onlyChild(init);
    await fork(d);
    assert.ok(
      await eventually(() => childrenOf(init).every((c) => c.pid === daemon)),
      `left under the init: ${JSON.stringify(childrenOf(init))}`,
    );
    Deno.kill(init, "SIGTERM");
    assert.equal(await d.exited(), 0, d.stderr);
  });
});
