/**
 * Opening the Deno KV database: a local file (its folder is created) or a remote KV Connect URL.
 *
 * @module
 */
import { dirname } from "../path.ts";
import { HookhostError } from "../errors.ts";

/**
 * Opens KV at `location`: `:memory:`, a file path, or an `http(s)://` URL (KV Connect, token in
 * `DENO_KV_ACCESS_TOKEN`).
 */
export async function openKv(location: string): Promise<Deno.Kv> {
  const remote = /^https?:\/\//i.test(location);
  if (!remote && location !== ":memory:") {
    await Deno.mkdir(dirname(location), { recursive: true });
  }
  try {
    return await Deno.openKv(location);
  } catch (e) {
    throw new HookhostError(
      "kv_open_failed",
      `Cannot open KV database '${location}': ${(e as Error).message}`,
      { cause: e },
    );
  }
}
