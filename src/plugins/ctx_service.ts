/**
 * The host side of a module plugin's `ctx`: what its `ctx.inject()`, `ctx.emit()` and
 * `ctx.store` calls do once they cross from the Worker. Every argument comes from plugin code, so
 * each is checked here, and a plugin's store is a KV namespace of its own (`["p", NAME, …]`).
 *
 * @module
 */
import type { Message, NewMessage } from "../inbox/message.ts";
import { SESSION_NAME } from "../inbox/sessions.ts";
import type { CallMethod } from "./protocol.ts";

/** Options of {@linkcode ctxService}. */
export interface CtxServiceOptions {
  /** The host's session: where `ctx.inject()` goes without a `session`. */
  session: string;
  /** KV for the plugins' stores. */
  kv: Deno.Kv;
  /** Stores a message durably in `session`'s inbox and wakes whoever runs it. */
  inject: (session: string, message: NewMessage) => Promise<Message>;
  /** Fires an event (`ctx.emit()`); without it, emitting does nothing. */
  emit?: (event: string, params: Record<string, unknown>) => void;
}

/**
 * Serves `ctx` calls: `(plugin, method, args)` → the value the plugin's call resolves with.
 * Rejects with a `TypeError` for arguments a plugin should not have passed.
 */
export function ctxService(
  options: CtxServiceOptions,
): (plugin: string, method: CallMethod, args: unknown[]) => Promise<unknown> {
  const { kv } = options;
  return async (plugin, method, args) => {
    const storeKey = (key: unknown): Deno.KvKey => {
      if (
        !Array.isArray(key) || !key.every((k) => typeof k === "string" || typeof k === "number")
      ) {
        throw new TypeError("Store keys are strings or lists of strings and numbers");
      }
      return ["p", plugin, ...key];
    };
    switch (method) {
      case "inject": {
        const [content, o] = args as [unknown, { session?: unknown; source?: unknown }];
        if (typeof content !== "string" || !content.trim()) {
          throw new TypeError("inject() needs non-empty text");
        }
        const source = o?.source ?? "background";
        if (source !== "skill" && source !== "background") {
          throw new TypeError(`inject() source must be 'skill' or 'background', not '${source}'`);
        }
        const session = o?.session ?? options.session;
        if (typeof session !== "string" || !SESSION_NAME.test(session)) {
          throw new TypeError(`Invalid session name '${String(session)}'`);
        }
        const m = await options.inject(session, { source, label: `plugin ${plugin}`, content });
        return m.id;
      }
      case "emit": {
        const [event, params] = args as [unknown, unknown];
        if (typeof event !== "string" || !event) throw new TypeError("emit() needs an event name");
        options.emit?.(event, (params ?? {}) as Record<string, unknown>);
        return undefined;
      }
      case "store.get":
        return (await kv.get(storeKey(args[0]))).value;
      case "store.set":
        await kv.set(storeKey(args[0]), args[1]);
        return undefined;
      case "store.delete":
        await kv.delete(storeKey(args[0]));
        return undefined;
      case "store.list": {
        const out = [];
        for await (const e of kv.list({ prefix: storeKey(args[0]) })) {
          out.push({ key: e.key.slice(2), value: e.value });
        }
        return out;
      }
    }
  };
}
