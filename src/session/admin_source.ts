/**
 * A daemon as its admin listener sees it (src/admin): a {@linkcode Snapshot} put together from
 * the session's parts when asked, and replays of its dead letters and dead jobs.
 *
 * @module
 */
import type { AdminSource, DeadRow, Snapshot } from "../admin/snapshot.ts";
import type { EventBus } from "../events/mod.ts";
import type { InboxStore } from "../inbox/store.ts";
import { listSessions } from "../inbox/sessions.ts";
import type { StorageHealth } from "../kv/storage_health.ts";
import type { PluginStatus } from "../plugins/manager.ts";
import type { ScheduleStore } from "../schedule/store.ts";
import type { BodyBudget } from "../webhook/body_limit.ts";
import type { JobStore } from "../webhook/job_store.ts";

/** The parts of a session an {@linkcode adminSource} reads. */
export interface AdminParts {
  /** Session name. */
  session: string;
  /** When it started (Unix ms). */
  startedAt: number;
  /** Its KV database. */
  kv: Deno.Kv;
  /** The inbox. */
  store: InboxStore;
  /** Async hooks' jobs. */
  jobs: JobStore;
  /** Schedules. */
  schedules: ScheduleStore;
  /** Whether KV takes writes. */
  storage: StorageHealth;
  /** Event hooks. */
  bus: EventBus;
  /** Bodies in memory. */
  budget: BodyBudget;
  /** Its plugins' status rows. */
  plugins: () => PluginStatus[];
  /** Its persistent hooks' workers, by hook. */
  workers: () => Snapshot["workers"];
  /** Why it is not serving yet or any more (listeners not bound, stopping); empty when it is. */
  serving: () => string[];
  /** Its listeners. */
  listeners: () => { hook: string; addr: string; in_flight: number }[];
  /** Whether a process runs session `name`. */
  running: (name: string) => Promise<boolean>;
  /** Wakes the session after a replay (its runner and async hooks look again). */
  wake: () => Promise<void>;
  /** Clock; default `Date.now`. */
  now?: () => number;
}

const preview = (s: string) => (s.length > 200 ? s.slice(0, 199) + "…" : s);

/** The daemon of `parts` as an {@linkcode AdminSource}. */
export function adminSource(parts: AdminParts): AdminSource {
  const { session, kv, store, jobs } = parts;
  const now = parts.now ?? Date.now;
  return {
    async snapshot(): Promise<Snapshot> {
      const plugins = parts.plugins();
      const notReady = [...parts.serving()];
      if (parts.storage.problem) notReady.push(parts.storage.problem);
      for (const p of plugins) {
        if (p.state === "starting") notReady.push(`plugin '${p.name}' starting`);
      }
      // Read once: counted for its row, listed for the dead table.
      const ownDead = await store.dead(session);
      const ownDeadJobs = await jobs.retries.dead(session);
      const sessions = [];
      for (const s of await listSessions(kv)) {
        const own = s.name === session;
        sessions.push({
          name: s.name,
          running: own || await parts.running(s.name),
          pending: await store.pending(s.name),
          dead: (own ? ownDead : await store.dead(s.name)).length,
          jobs: await jobs.count(s.name),
          dead_jobs: (own ? ownDeadJobs : await jobs.retries.dead(s.name)).length,
        });
      }
      const dead: DeadRow[] = [
        ...ownDead.map((d) => ({
          kind: "inbox" as const,
          id: d.id,
          where: d.source,
          attempts: d.attempts,
          error: d.error,
          failed_at: d.failed_at,
          preview: preview(d.content),
        })),
        ...ownDeadJobs.map((d) => ({
          kind: "job" as const,
          id: d.id,
          where: d.hook,
          attempts: d.attempts,
          error: d.error,
          failed_at: d.failed_at,
          preview: preview(new TextDecoder().decode(d.body)),
        })),
      ].sort((a, b) => a.failed_at - b.failed_at);
      const schedules = (await parts.schedules.list(session)).map((s) => ({
        id: s.id,
        next: s.next_at,
        ...(s.spec.kind === "every" ? { every: `${s.spec.ms / 1000}s` } : {}),
        ...(s.spec.kind === "cron" ? { cron: s.spec.expr } : {}),
        message: preview(s.message),
      }));
      return {
        session,
        pid: Deno.pid,
        started_at: parts.startedAt,
        not_ready: notReady,
        listeners: parts.listeners(),
        sessions,
        dead,
        schedules,
        plugins: plugins.map((p) => ({
          name: p.name,
          state: p.state,
          permissions: p.permissions,
          ...(p.declared !== undefined ? { declared: p.declared } : {}),
          ...(p.missing !== undefined ? { missing: p.missing } : {}),
          ...(p.rss !== undefined ? { rss: p.rss } : {}),
          ...(p.restarts !== undefined ? { restarts: p.restarts } : {}),
        })),
        workers: parts.workers(),
        events: parts.bus.stats(),
        body_bytes_in_flight: parts.budget.held,
        rss: Deno.memoryUsage().rss,
      };
    },
    async replay(kind, ids) {
      const replayed = kind === "inbox"
        ? await store.replay(session, ids)
        : await jobs.retries.replay(session, { ids, now: now() });
      await parts.wake();
      return replayed;
    },
  };
}
