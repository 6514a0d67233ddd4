/**
 * The Worker side of a module plugin: loads the plugin, runs its handlers on request, and gives
 * it a `ctx` whose calls travel to the host. It runs with exactly the plugin's permissions.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import {
  BATCH_ANSWER_MS,
  type Call,
  type CallMethod,
  type Done,
  fromWireHeaders,
  type FromWorker,
  packDone,
  toWireHeaders,
  type ToWorker,
  unpackCalls,
  type WireRequest,
  type WireResult,
} from "./protocol.ts";
import type { Plugin, PluginContext, StoreKey } from "./types.ts";
import { lazyRequest } from "./lazy_request.ts";

let plugin: Plugin | null = null;
let ctx: PluginContext;
let nextCall = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

function send(msg: FromWorker): void {
  self.postMessage(msg);
}

function call(method: CallMethod, ...args: unknown[]): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ t: "call", id, method, args });
  });
}

function describeError(e: unknown): string {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } catch {
    // `throw Object.create(null)`: no string at all. `run()` must still settle its call.
    return "a value that cannot be shown as text";
  }
}

function makeContext(name: string, session: string): PluginContext {
  const log = (level: "debug" | "info" | "warn" | "error") => (message: string) =>
    send({ t: "log", level, message: String(message) });
  const key = (k: StoreKey) => (Array.isArray(k) ? k : [k]);
  return {
    name,
    session,
    inject: (content, options) => call("inject", content, options ?? {}) as Promise<string>,
    emit: async (event, params) => void (await call("emit", event, params ?? {})),
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    store: {
      get: (k) => call("store.get", key(k)) as Promise<never>,
      set: async (k, v) => void (await call("store.set", key(k), v)),
      delete: async (k) => void (await call("store.delete", key(k))),
      list: (prefix) =>
        call("store.list", prefix === undefined ? [] : key(prefix)) as Promise<never>,
    },
  };
}

function toRequest(w: WireRequest): Request {
  const hasBody = w.body && w.method !== "GET" && w.method !== "HEAD";
  return new Request(w.url, {
    method: w.method,
    // Pairs, not a `Headers`: the constructor copies a `Headers` through its iterator, which
    // made building the request take 10 µs instead of 4.
    headers: fromWireHeaders(w.headers),
    body: hasBody ? w.body : undefined,
  });
}

/** A `webhook()` answer as it crosses back; a promise only for a `Response`, whose body is read. */
function toResult(value: unknown): WireResult | Promise<WireResult> {
  if (typeof value === "string") return { kind: "text", text: value };
  if (value instanceof Response) {
    return value.arrayBuffer().then((body) => ({
      kind: "response",
      status: value.status,
      headers: toWireHeaders(value.headers),
      body: new Uint8Array(body),
    }));
  }
  if (value === undefined || value === null) return { kind: "none" };
  throw new TypeError(
    `webhook() must return a Response, a string or nothing, not ${typeof value}`,
  );
}

/** Runs one handler call; never rejects. */
async function run(call: Call): Promise<Done> {
  try {
    if (!plugin) throw new Error("Plugin not loaded");
    let result: WireResult | undefined;
    if (call.t === "webhook") {
      const returned = toResult(await plugin.webhook?.(lazyRequest(() => toRequest(call)), ctx));
      result = returned instanceof Promise ? await returned : returned;
    } else if (call.t === "event") {
      await plugin.on?.[call.event.event]?.(call.event, ctx);
    } else {
      await plugin.message?.(call.message, ctx);
    }
    return { id: call.id, ok: true, result };
  } catch (e) {
    return { id: call.id, ok: false, error: describeError(e) };
  }
}

// The host sends its next batch of calls once this one is answered (see `ToWorker` "calls").
/** Results held for the answer to the last batch. */
let outbox: Done[] = [];
/** Calls of the last batch still running, before its answer; -1 once it is answered. */
let open = -1;
/** Sequence number of the last batch, so a call knows whether the pending answer is its own. */
let batchNo = 0;
let answerTimer: ReturnType<typeof setTimeout> | undefined;

function answer(): void {
  clearTimeout(answerTimer);
  open = -1;
  const results = outbox;
  outbox = [];
  send({ t: "done", batch: true, ...packDone(results) });
}

function finished(done: Done, batch: number): void {
  if (open < 0) return send({ t: "done", batch: false, ...packDone([done]) });
  // Any result ready while an answer is pending travels with it.
  outbox.push(done);
  if (batch === batchNo && --open === 0) answer();
}

function startCalls(calls: Call[]): void {
  const batch = ++batchNo;
  open = calls.length;
  // Plugin handlers usually finish within this task; one that waits (on I/O, a timer) must not
  // hold the others' results, nor the host's next batch, for longer than this.
  answerTimer = setTimeout(answer, BATCH_ANSWER_MS);
  for (const call of calls) void run(call).then((done) => finished(done, batch));
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.t) {
    case "init": {
      try {
        const mod = await import(msg.url);
        if (msg.revoke) await Deno.permissions.revoke({ name: "read", path: msg.revoke });
        const p = mod.default as Plugin;
        if (typeof p !== "object" || p === null) {
          throw new TypeError("The default export must be a plugin object");
        }
        plugin = p;
        ctx = makeContext(msg.name, msg.session);
        const kinds: string[] = [];
        if (typeof p.webhook === "function") kinds.push("webhook");
        if (typeof p.message === "function") kinds.push("message");
        for (const [event, fn] of Object.entries(p.on ?? {})) {
          if (typeof fn === "function") kinds.push(`on:${event}`);
        }
        send({
          t: "loaded",
          name: typeof p.name === "string" ? p.name : undefined,
          permissions: p.permissions,
          kinds,
        });
      } catch (e) {
        send({ t: "load_error", error: describeError(e) });
      }
      return;
    }
    case "reply": {
      const waiter = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) waiter?.resolve(msg.value);
      else waiter?.reject(new Error(msg.error));
      return;
    }
    case "calls":
      return startCalls(unpackCalls(msg));
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => void handle(e.data);
// A plugin's console.log() would write into the host's stdout: the daemon's JSONL, or the frames
// of a plugin process. Everything it prints goes to stderr instead, which is the host's log.
console.log = console.info = console.debug = console.error;
// A plugin's stray exception or rejection (in a timer, say) is reported, not fatal: the Worker
// keeps serving, and Deno prints no stack trace of its own.
self.addEventListener("error", (e) => {
  e.preventDefault();
  send({
    t: "log",
    level: "error",
    message: `uncaught error: ${describeError(e.error ?? e.message)}`,
  });
});
self.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  send({ t: "log", level: "error", message: `unhandled rejection: ${describeError(e.reason)}` });
});
