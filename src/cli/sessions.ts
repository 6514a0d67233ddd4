/**
 * `hookhost sessions`: every known session, whether it runs, and its pending messages.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { InboxStore, listSessions, SOURCES } from "../inbox/mod.ts";
import { runningPid } from "../session/mod.ts";
import { context, withKv } from "./context.ts";
import { table } from "./table.ts";

/** Runs the `sessions` command. */
export async function sessions(flags: LocationOptions & { json?: boolean }): Promise<void> {
  const ctx = await context(flags);
  const rows = await withKv(ctx, async (kv) => {
    const store = new InboxStore(kv);
    const out = [];
    for (const s of await listSessions(kv)) {
      const pid = await runningPid(ctx.paths.stateDir, s.name);
      out.push({ name: s.name, running: pid !== null, pid, pending: await store.pending(s.name) });
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
    ["NAME", "RUNNING", "PID", ...SOURCES.map((s) => s.toUpperCase())],
    rows.map((r) => [
      r.name,
      r.running ? "yes" : "no",
      r.pid && r.pid > 0 ? String(r.pid) : "-",
      ...SOURCES.map((s) => String(r.pending[s])),
    ]),
  ));
}
