/**
 * `hookhost jobs ls|dead|replay`: async hooks' jobs, like `inbox` for messages.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { wakeSession } from "../session/mod.ts";
import { deadJobs, type JobRow, pendingJobs } from "../webhook/job_list.ts";
import { JobStore } from "../webhook/job_store.ts";
import { checkName, context, requireSession, withKv } from "./context.ts";
import { preview, printRows } from "./table.ts";

type Flags = LocationOptions & { name?: string; hook?: string; json?: boolean };

const when = (ms: number | undefined) => (ms === undefined ? "-" : new Date(ms).toISOString());
const body = (j: JobRow) => j.body ?? `(base64) ${j.body_base64}`;

async function read(flags: Flags, list: typeof pendingJobs): Promise<[string, JobRow[]]> {
  const name = checkName(flags.name);
  const ctx = await context(flags);
  const rows = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    return await list(new JobStore(kv), name, { hook: flags.hook });
  });
  return [name, rows];
}

/** `jobs ls`: jobs not done, each hook's in order of acceptance. */
export async function jobsLs(flags: Flags): Promise<void> {
  const [name, rows] = await read(flags, pendingJobs);
  printRows(rows, {
    json: flags.json,
    empty: `No pending jobs in '${name}'`,
    headers: ["ID", "HOOK", "ATTEMPTS", "NEXT RUN", "LAST ERROR", "BODY"],
    cells: (j) => [
      j.id,
      j.hook,
      String(j.attempts),
      j.due === undefined ? "queued" : when(j.due),
      j.error ?? "-",
      preview(body(j), 40),
    ],
  });
}

/** `jobs dead`: jobs whose runs failed `max_attempts` times. */
export async function jobsDead(flags: Flags): Promise<void> {
  const [name, rows] = await read(flags, deadJobs);
  printRows(rows, {
    json: flags.json,
    empty: `No dead jobs in '${name}'`,
    headers: ["ID", "HOOK", "FAILED", "ATTEMPTS", "ERROR", "BODY"],
    cells: (j) => [
      j.id,
      j.hook,
      when(j.failed_at),
      String(j.attempts),
      j.error ?? "-",
      preview(body(j), 40),
    ],
  });
}

/** `jobs replay`: dead jobs run again, with fresh attempts (all, or those named). */
export async function jobsReplay(ids: string[], flags: Flags): Promise<void> {
  const name = checkName(flags.name);
  const ctx = await context(flags);
  const replayed = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    return await new JobStore(kv).retries.replay(name, { ids, now: Date.now() });
  });
  // A running daemon serving their hook runs them now rather than within a minute.
  await wakeSession(ctx.paths.stateDir, name);
  console.log(`Replayed ${replayed.length} job(s) in '${name}'`);
}
