/**
 * `hookhost inbox ls|dead|replay`.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { InboxStore } from "../inbox/mod.ts";
import { wakeSession } from "../session/mod.ts";
import { checkName, context, requireSession, withKv } from "./context.ts";
import { preview, printRows } from "./table.ts";

type Flags = LocationOptions & { name?: string; json?: boolean };

/** `inbox ls`: pending messages in drain order. */
export async function inboxLs(flags: Flags): Promise<void> {
  const name = checkName(flags.name);
  const ctx = await context(flags);
  const messages = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    return await new InboxStore(kv).list(name);
  });
  printRows(messages, {
    json: flags.json,
    empty: `Inbox of '${name}' is empty`,
    headers: ["ID", "SOURCE", "LABEL", "ATTEMPTS", "CONTENT"],
    cells: (m) => [m.id, m.source, m.label, String(m.attempts), preview(m.content)],
  });
}

/** `inbox dead`: messages whose handler attempts ran out. */
export async function inboxDead(flags: Flags): Promise<void> {
  const name = checkName(flags.name);
  const ctx = await context(flags);
  const dead = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    return await new InboxStore(kv).dead(name);
  });
  printRows(dead, {
    json: flags.json,
    empty: `No dead letters in '${name}'`,
    headers: ["ID", "SOURCE", "FAILED", "ATTEMPTS", "ERROR", "CONTENT"],
    cells: (m) => [
      m.id,
      m.source,
      new Date(m.failed_at).toISOString(),
      String(m.attempts),
      preview(m.error, 50),
      preview(m.content, 40),
    ],
  });
}

/** `inbox replay`: dead letters back into the inbox (all, or those named). */
export async function inboxReplay(ids: string[], flags: Flags): Promise<void> {
  const name = checkName(flags.name);
  const ctx = await context(flags);
  const replayed = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    return await new InboxStore(kv).replay(name, ids);
  });
  // A running session picks them up now rather than at its next periodic check.
  await wakeSession(ctx.paths.stateDir, name);
  console.log(`Replayed ${replayed.length} message(s) into '${name}'`);
}
