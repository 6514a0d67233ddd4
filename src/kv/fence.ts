/**
 * Fenced writes: a write that carries the check of a lease's fencing record commits only while
 * the writer still holds the lease (src/session/lease.ts); otherwise it changes nothing and
 * fails with {@linkcode LostLeaseError}.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** A write of a daemon that lost its session's lease: it changed nothing. */
export class LostLeaseError extends HookhostError {
  /** Says which session's lease was lost. */
  constructor(session: string) {
    super("lease_lost", `This daemon no longer holds the lease of session '${session}'`);
  }
}

/**
 * Commits `op` with `fence` added (when given); throws {@linkcode LostLeaseError} when a fenced
 * commit fails (under a lease only its holder writes what `op` checks besides, so the fence is
 * what failed), else returns the commit's result.
 */
export async function commitFenced(
  op: Deno.AtomicOperation,
  fence: Deno.AtomicCheck | undefined,
  options: { session: string },
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  if (fence) op.check(fence);
  const res = await op.commit();
  if (!res.ok && fence) throw new LostLeaseError(options.session);
  return res;
}
