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
