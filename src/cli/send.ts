/**
 * `hookhost send`: put a message into a session's inbox, through the running daemon when there
 * is one, else straight into KV for its next run.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { HookhostError, UsageError } from "../errors.ts";
import { isSource } from "../inbox/message.ts";
import { InboxStore } from "../inbox/store.ts";
import { controlRequest, NotRunningError, sessionPaths } from "../session/mod.ts";
import { checkName, context, readStdin, requireSession, withKv } from "./context.ts";

/** Runs the `send` command; prints the stored message's id. */
export async function send(
  message: string | undefined,
  flags: LocationOptions & { name?: string; source?: string; label?: string },
): Promise<void> {
  const name = checkName(flags.name);
  const content = (message ?? await readStdin() ?? "").trim();
  if (!content) throw new UsageError("Message is empty");
  const source = flags.source ?? "inject";
  if (!isSource(source)) throw new UsageError(`Unknown source '${source}'`);
  const label = flags.label;
  if (label !== undefined && label.length > 1024) {
    throw new UsageError("Label is longer than 1024 characters");
  }
  const ctx = await context(flags, { logging: false });
  const socket = sessionPaths(ctx.paths.stateDir, name).socket;
  let id: string;
  try {
    const answer = await controlRequest(socket, { op: "send", content, source, label });
    if (!answer.ok) throw new HookhostError("send_failed", `Session '${name}': ${answer.error}`);
    id = answer.id!;
  } catch (e) {
    if (!(e instanceof NotRunningError)) throw e;
    id = await withKv(ctx, async (kv) => {
      await requireSession(kv, name);
      const [m] = await new InboxStore(kv).add(name, [{ source, label, content }]);
      return m.id;
    });
    const { log, setupLogging } = await import("../output/log.ts");
    await setupLogging();
    log("send").warn(
      "Session '{name}' is not running; the message is stored and will be delivered when it runs again",
      { name },
    );
  }
  console.log(id);
}
