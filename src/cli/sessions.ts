/**
 * `hookhost sessions`: every known session, whether it runs, its pending messages, and the
 * requests its async hooks accepted whose scripts have not run yet.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { InboxStore, listSessions, SOURCES } from "../inbox/mod.ts";
import {
  controlRequest,
  listMembers,
  readLease,
  runningPid,
  sessionPaths,
} from "../session/mod.ts";
import { JobStore } from "../webhook/job_store.ts";
import { context, withKv } from "./context.ts";
import { table } from "./table.ts";

/**
 * What only the running daemon of `name` knows: event hook runs refused since it started, by
 * event, and its persistent hooks' workers, by hook; empty when it cannot say.
 */
async function ping(
  stateDir: string,
  name: string,
): Promise<{ refusals: Record<string, number>; workers: Record<string, unknown[]> }> {
  try {
    const answer = await controlRequest(sessionPaths(stateDir, name).socket, { op: "ping" });
    if (answer.ok) return { refusals: answer.refusals ?? {}, workers: answer.workers ?? {} };
  } catch {
    // Not running (any more).
  }
  return { refusals: {}, workers: {} };
}

/** Runs the `sessions` command. */
export async function sessions(flags: LocationOptions & { json?: boolean }): Promise<void> {
  const ctx = await context(flags);
  const rows = await withKv(ctx, async (kv) => {
    const store = new InboxStore(kv);
    const jobs = new JobStore(kv);
    const out = [];
    for (const s of await listSessions(kv)) {
      const pid = await runningPid(ctx.paths.stateDir, s.name);
      // Daemons of any state folder or host on this KV: the lease's holder, and who stands by.
      const lease = await readLease(kv, s.name);
      const standbys = (await listMembers(kv, s.name)).filter((m) => m.role === "standby")
        .map((m) => ({ pid: m.pid, host: m.host }));
      out.push({
        name: s.name,
        running: pid !== null,
        pid,
        pending: await store.pending(s.name),
        jobs: await jobs.count(s.name),
        // Only the running daemon knows (counted since it started).
        ...(pid === null
          ? { event_refusals: {}, workers: {} }
          : await ping(ctx.paths.stateDir, s.name).then((p) => ({
            event_refusals: p.refusals,
            workers: p.workers,
          }))),
        holder: lease ? { pid: lease.pid, host: lease.host } : null,
        standbys,
      });
    }
    return out;
  });
  if (flags.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  if (!rows.length) {
    console.log("No sessions yet (start one with: hookhost run --name NAME)");
    return;
  }
  console.log(table(
    [
      "NAME",
      "RUNNING",
      "PID",
      ...SOURCES.map((s) => s.toUpperCase()),
      "JOBS",
      "HOLDER",
      "STANDBYS",
    ],
    rows.map((r) => [
      r.name,
      r.running ? "yes" : "no",
      r.pid && r.pid > 0 ? String(r.pid) : "-",
      ...SOURCES.map((s) => String(r.pending[s])),
      String(r.jobs),
      r.holder ? `${r.holder.pid}@${r.holder.host}` : "-",
      r.standbys.length ? r.standbys.map((s) => `${s.pid}@${s.host}`).join(",") : "-",
    ]),
  ));
}
