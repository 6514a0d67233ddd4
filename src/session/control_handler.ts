/**
 * What a session answers on its control channel (`hookhost send`, `ping`, `plugins`, `wake`,
 * `emit`),
 * apart from the socket that carries it (control.ts).
 *
 * @module
 */
import { isSource, type NewMessage } from "../inbox/message.ts";
import type { ScheduleStore } from "../schedule/store.ts";
import type { ControlRequest, ControlResponse } from "./control.ts";
import type { SessionRunner } from "./runner.ts";

/** Options of {@linkcode controlHandler}. */
export interface ControlHandlerOptions {
  /** Session name (`ping` answers it). */
  session: string;
  /** A daemon also arms other sessions' schedules on `wake`. */
  daemon: boolean;
  /** The schedules (`wake` fires the due ones). */
  schedules: ScheduleStore;
  /** The runner (`wake` wakes it). */
  runner: SessionRunner;
  /** Also told on `wake`: async hooks look for jobs due again (`jobs replay`). */
  onWake?: () => void;
  /** Stores one message durably in this session's inbox. */
  inject: (message: NewMessage) => Promise<{ id: string }>;
  /** The plugins' status rows (`plugins`). */
  plugins: () => unknown[];
  /** Event hook runs refused since start, by event (`ping`). */
  refusals?: () => Record<string, number>;
  /** The persistent hooks' workers, by hook (`ping`). */
  workers?: () => Record<string, unknown[]>;
  /** Hands an event to the plugins' `on.EVENT` handlers (`emit`); how many got it. */
  emitToPlugins?: (event: string, params: Record<string, unknown>) => Promise<number>;
  /** Process id `ping` reports; default `Deno.pid`. */
  pid?: number;
}

/** The control channel's answers for one session. Never throws for a well-formed request. */
export function controlHandler(
  options: ControlHandlerOptions,
): (req: ControlRequest) => Promise<ControlResponse> {
  const { session, schedules, runner } = options;
  return async (req) => {
    switch (req.op) {
      case "send": {
        const source = req.source ?? "inject";
        if (!isSource(source)) return { ok: false, error: `Unknown source '${source}'` };
        const m = await options.inject({ source, label: req.label, content: req.content });
        return { ok: true, id: m.id };
      }
      case "ping":
        return {
          ok: true,
          pid: options.pid ?? Deno.pid,
          name: session,
          refusals: options.refusals?.() ?? {},
          workers: options.workers?.() ?? {},
        };
      case "plugins":
        return { ok: true, plugins: options.plugins() };
      case "emit": {
        if (typeof req.event !== "string" || typeof req.params !== "object" || !req.params) {
          return { ok: false, error: "emit needs an event name and params" };
        }
        const delivered = await options.emitToPlugins?.(req.event, req.params) ?? 0;
        return { ok: true, delivered };
      }
      case "wake":
        if (options.daemon) await schedules.armForeign(session);
        await schedules.fireDue(session);
        runner.wake();
        options.onWake?.();
        return { ok: true };
      default:
        return { ok: false, error: `Unknown op '${(req as { op?: unknown }).op}'` };
    }
  };
}
