/**
 * Unit-test helpers for code that works on Deno KV: a real in-memory database per test.
 *
 * @module
 */

/** Runs `fn` with a fresh in-memory KV that is always closed. */
export async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

/** Number of keys under `prefix`. */
export async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

/**
 * Has another SQLite connection (python3's) take the write lock of the database at `path` and
 * hold it for `seconds`, past Deno KV's own 5 s busy wait; resolves once it holds it, with a
 * `done` that resolves when it let go, with its stderr (empty when all went well). `null` where
 * python3 is absent.
 */
export async function holdWriteLock(
  path: string,
  seconds: number,
): Promise<{ done: Promise<string> } | null> {
  const code = `import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")`;
  let holder: Deno.ChildProcess;
  try {
    holder = new Deno.Command("python3", {
      args: ["-c", code, path, String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    return null;
  }
  // Read to the end, never cancelled: a closed pipe would end the holder early (EPIPE).
  const reader = holder.stdout.getReader();
  let said = "";
  while (!said.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    said += new TextDecoder().decode(value);
  }
  if (!said.includes("locked")) throw new Error(`Could not lock '${path}': ${said}`);
  const done = (async () => {
    while (!(await reader.read()).done);
  })().then(async () => {
    const err = await new Response(holder.stderr).text();
    const status = await holder.status;
    return status.success ? err : err || `python3 exited ${status.code}`;
  });
  return { done };
}
