/**
 * A daemon's part among the daemons of one session on one KV store: it drains the inbox (and
 * runs the async hooks' jobs) only while it holds the session's lease, and otherwise stands by,
 * serving its webhooks and `send` into the shared inbox, until the holder stops or dies.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { LostLeaseError } from "../kv/fence.ts";
import { safeHostname, type SessionLease } from "./lease.ts";
import { sleep } from "./notifier.ts";
import { type Member, removeMember, watchWake, writeMember } from "./members.ts";

/** Options of {@linkcode lead}. */
export interface LeadOptions {
  /** The KV store the daemons share. */
  kv: Deno.Kv;
  /** Session name. */
  session: string;
  /** This daemon's side of the lease. */
  lease: SessionLease;
  /**
   * The holder's work: drains and runs jobs until `term` aborts (the lease was lost, or the
   * daemon stops). May reject with `LostLeaseError` when a write found the lease gone.
   */
  hold: (term: AbortSignal) => Promise<void>;
  /** Told when this daemon becomes the holder or a standby (the first time too). */
  onRole?: (role: Member["role"]) => void;
  /** Wakes the holder's runner when a standby stored something (remote KV's `watch`). */
  onWake?: () => void;
  /** Where role changes and KV failures are logged. */
  log: Logger;
}

/**
 * Holds the lease when it can, runs `hold` while holding it, and stands by otherwise, until
 * `signal` aborts; then releases the lease and the member record, so a standby takes over at
 * once. Rejects only with what `hold` rejects with, other than a lost lease.
 */
export async function lead(signal: AbortSignal, options: LeadOptions): Promise<void> {
  const { kv, session, lease, log } = options;
  let role: Member["role"] | null = null;
  const announce = (next: Member["role"]) => {
    if (role === next) return;
    role = next;
    options.onRole?.(next);
    refreshMember().catch(() => {});
  };
  const refreshMember = () =>
    writeMember(kv, session, {
      member: {
        id: lease.id,
        pid: Deno.pid,
        host: safeHostname(),
        role: lease.held ? "holder" : "standby",
        seen: Date.now(),
      },
      ttlMs: lease.ttlMs * 3,
    });
  const onError = (e: unknown) =>
    log.warn("session '{session}': could not renew or take the lease: {reason}", {
      session,
      reason: (e as Error)?.message ?? String(e),
    });
  // The first try before anything is said (openSession may have made it already): a lone
  // daemon holds it at once and says nothing.
  if (!lease.held) await lease.refresh().catch(onError);
  const keeping = lease.maintain(signal, { onError, delayFirst: true });
  const members = setInterval(() => refreshMember().catch(() => {}), lease.ttlMs / 3);
  try {
    announce(lease.held ? "holder" : "standby");
    while (!signal.aborted) {
      await lease.whenHeld(signal);
      if (signal.aborted) break;
      announce("holder");
      const term = new AbortController();
      const end = () => term.abort();
      signal.addEventListener("abort", end, { once: true });
      const unsubscribe = lease.onLost(end);
      const watching = options.onWake
        ? watchWake(kv, session, { signal: term.signal, onWake: options.onWake }).catch(() => {})
        : Promise.resolve();
      try {
        await options.hold(term.signal);
      } catch (e) {
        if (!(e instanceof LostLeaseError)) throw e;
      } finally {
        term.abort();
        unsubscribe();
        signal.removeEventListener("abort", end);
        await watching;
      }
      if (signal.aborted) break;
      // The lease lapsed or went to another daemon: check which at once, and stand by if it went.
      if (!(await lease.refresh().catch(() => false))) {
        if (lease.held) {
          // Still ours but not renewed (KV failing): try again shortly, not in a tight loop.
          await sleep(Math.min(1000, lease.ttlMs / 10), signal);
          continue;
        }
        log.warn("session '{session}': another daemon holds the inbox now; standing by", {
          session,
        });
        announce("standby");
      }
    }
  } finally {
    clearInterval(members);
    await keeping;
    await lease.release().catch(() => {});
    await removeMember(kv, session, lease.id).catch(() => {});
  }
}
