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
 * Commits `op` with `fence` added (when given); throws {@linkcode LostLeaseError} when only the
 * fence can have failed it (`op` has no other check), else returns the commit's result.
 */
export async function commitFenced(
  op: Deno.AtomicOperation,
  fence: Deno.AtomicCheck | undefined,
  options: { session: string; otherChecks?: boolean },
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  if (fence) op.check(fence);
  const res = await op.commit();
  if (!res.ok && fence && !options.otherChecks) throw new LostLeaseError(options.session);
  return res;
}
