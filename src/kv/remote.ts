/**
 * Remote KV (a KV Connect URL) that stops answering. Deno's client retries a call to an
 * unreachable or failing server forever, so without a deadline a webhook would wait with it for
 * as long as the outage lasts. {@linkcode boundRemoteCalls} gives every write and point read a
 * deadline: past it the call fails with {@linkcode KvUnreachableError}, which the daemon takes for
 * a storage failure (webhooks answered 503, `send` refused, until a probe write succeeds again).
 *
 * A write that timed out may still land once the server answers again (Deno's client is still
 * retrying it): a webhook answered 503 can be delivered anyway, never the other way round.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** How long a remote KV call may take before it fails, in ms. */
export const REMOTE_DEADLINE_MS = 5_000;

/** A remote KV call that got no answer within its deadline. */
export class KvUnreachableError extends HookhostError {
  /** Names the database and the deadline. */
  constructor(location: string, ms: number) {
    super("kv_unreachable", `KV at '${location}' did not answer within ${ms / 1000} s`);
  }
}

function deadline<T>(call: Promise<T>, location: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KvUnreachableError(location, ms)), ms);
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/**
 * Makes `kv`'s commits (`atomic().commit()`, `set`, `delete`) and point reads (`get`,
 * `getMany`) fail with {@linkcode KvUnreachableError} after `options.deadlineMs` (default
 * {@linkcode REMOTE_DEADLINE_MS}); returns `kv`. Lists are left alone: they are the runner's and
 * the commands', which may wait.
 */
export function boundRemoteCalls(
  kv: Deno.Kv,
  location: string,
  options: { deadlineMs?: number } = {},
): Deno.Kv {
  const ms = options.deadlineMs ?? REMOTE_DEADLINE_MS;
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    const commit = op.commit.bind(op);
    op.commit = () => deadline(commit(), location, ms);
    return op;
  };
  const set = kv.set.bind(kv);
  kv.set = (key, value, opts) => deadline(set(key, value, opts), location, ms);
  const del = kv.delete.bind(kv);
  kv.delete = (key) => deadline(del(key), location, ms);
  const get = kv.get.bind(kv);
  kv.get = ((key, opts) => deadline(get(key, opts), location, ms)) as Deno.Kv["get"];
  const getMany = kv.getMany.bind(kv);
  kv.getMany = ((keys, opts) => deadline(getMany(keys, opts), location, ms)) as Deno.Kv["getMany"];
  return kv;
}
