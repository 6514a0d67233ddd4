/**
 * `hookhost schedule add|ls|rm`.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import {
  checkCron,
  describeSpec,
  parseAt,
  parseDuration,
  type ScheduleSpec,
  ScheduleStore,
} from "../schedule/mod.ts";
import { wakeSession } from "../session/mod.ts";
import { checkName, context, readStdin, requireSession, withKv } from "./context.ts";
import { preview, table } from "./table.ts";

/** Flags of `schedule add`. */
export interface AddFlags extends LocationOptions {
  /** Session. */
  name?: string;
  /** `--in 5m` */
  in?: string;
  /** `--at "2026-12-01 09:00"` */
  at?: string;
  /** `--every 1h` */
  every?: string;
  /** `--cron "*\/5 * * * *"` */
  cron?: string;
}

function parseSpec(flags: AddFlags, now: number): ScheduleSpec {
  const given = (["in", "at", "every", "cron"] as const).filter((k) => flags[k] !== undefined);
  if (given.length !== 1) {
    throw new UsageError("Give exactly one of --in, --at, --every or --cron");
  }
  try {
    if (flags.in !== undefined) return { kind: "at", at: now + parseDuration(flags.in) };
    if (flags.at !== undefined) {
      const at = parseAt(flags.at);
      if (at <= now) throw new RangeError(`Time '${flags.at}' is in the past`);
      return { kind: "at", at };
    }
    if (flags.every !== undefined) return { kind: "every", ms: parseDuration(flags.every) };
    checkCron(flags.cron!);
    return { kind: "cron", expr: flags.cron! };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `schedule add`: prints the new schedule's id. */
export async function scheduleAdd(message: string | undefined, flags: AddFlags): Promise<void> {
  const name = checkName(flags.name);
  const spec = parseSpec(flags, Date.now());
  const content = (message ?? await readStdin() ?? "").trim();
  if (!content) throw new UsageError("Message is empty");
  const ctx = await context(flags);
  const record = await withKv(ctx, async (kv) => {
    await requireSession(kv, name);
    try {
      return await new ScheduleStore(kv).add(name, spec, content);
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw new UsageError(e.message);
      throw e;
    }
  });
  // A running daemon arms its own timer for it (KV queue timers wake only their own process).
  await wakeSession(ctx.paths.stateDir, name);
  console.log(record.id);
}

/** `schedule ls`. */
export async function scheduleLs(
  flags: LocationOptions & { name?: string; json?: boolean },
): Promise<void> {
  const ctx = await context(flags);
  const list = await withKv(ctx, (kv) => new ScheduleStore(kv).list(flags.name));
  if (flags.json) {
    for (const s of list) {
      const { token: _t, ...rest } = s;
      console.log(JSON.stringify(rest));
    }
    return;
  }
  if (!list.length) return console.log("No schedules");
  console.log(table(
    ["ID", "SESSION", "NEXT", "WHEN", "FIRED", "MESSAGE"],
    list.map((s) => [
      s.id,
      s.session,
      new Date(s.next_at).toISOString(),
      describeSpec(s.spec),
      String(s.fired),
      preview(s.message, 40),
    ]),
  ));
}

/** `schedule rm ID`. */
export async function scheduleRm(id: string, flags: LocationOptions): Promise<void> {
  const ctx = await context(flags);
  const removed = await withKv(ctx, (kv) => new ScheduleStore(kv).remove(id));
  console.log(`Removed schedule ${removed.id} (${describeSpec(removed.spec)})`);
}
