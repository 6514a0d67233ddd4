/**
 * The one message union spoken between the host and a plugin Worker.
 *
 * @module
 */
import type { PluginEvent, PluginMessage, PluginPermissions } from "./types.ts";

/**
 * Headers as they cross between threads: each name and each value followed by a newline, which
 * neither can contain (repeated names kept, in order). One string costs the structured clone a
 * fraction of what an array of pairs does, once per request on each side.
 */
export type WireHeaders = string;

/** `headers` as {@linkcode WireHeaders}. */
export function toWireHeaders(headers: Headers): WireHeaders {
  let lines = "";
  headers.forEach((value, name) => {
    lines += `${name}\n${value}\n`;
  });
  return lines;
}

/** {@linkcode WireHeaders} as name-value pairs, which `Request` and `Response` take as they are. */
export function fromWireHeaders(lines: WireHeaders): [string, string][] {
  const parts = lines.split("\n");
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) pairs.push([parts[i], parts[i + 1]]);
  return pairs;
}

/** A request as it crosses into the Worker. */
export interface WireRequest {
  /** Method. */
  method: string;
  /** Full URL. */
  url: string;
  /** Headers. */
  headers: WireHeaders;
  /** Raw body. */
  body: Uint8Array<ArrayBuffer> | null;
}

/**
 * What a plugin's `webhook()` answered, as it crosses back. No kind may be `"error"`: that is
 * how {@linkcode WireDone} tells a failed call from a `Response`.
 */
export type WireResult =
  | { kind: "response"; status: number; headers: WireHeaders; body: Uint8Array<ArrayBuffer> }
  | { kind: "text"; text: string }
  | { kind: "none" };

/** One handler call: `id` pairs it with its {@linkcode Done}. */
export type Call =
  // The request's fields, not a nested object: each object costs the structured clone more
  // than its fields do.
  | ({ t: "webhook"; id: number } & WireRequest)
  | { t: "event"; id: number; event: PluginEvent }
  | { t: "message"; id: number; message: PluginMessage };

/** How a handler call ended. */
export type Done =
  | { id: number; ok: true; result?: WireResult }
  | { id: number; ok: false; error: string };

/**
 * A batch of calls as it crosses to the Worker: column by column, one array per field, and every
 * body in one buffer. The structured clone charges for each object and each buffer it copies, so
 * this costs both threads together about a third less per call than an array of {@linkcode Call}
 * objects (measured with batches of 15 calls).
 */
export interface WireCalls {
  /** Each call's id. */
  ids: number[];
  /** Each call's kind; a webhook's request is in the next columns, anything else in `payloads`. */
  kinds: Call["t"][];
  /** Each webhook's method (`""` for other calls). */
  methods: string[];
  /** Each webhook's URL (`""` for other calls). */
  urls: string[];
  /** Each webhook's headers (`""` for other calls). */
  headers: WireHeaders[];
  /** Where each call's body ends in `body`; -1 when it has none. */
  ends: number[];
  /** Every body, one after the other. */
  body: Uint8Array<ArrayBuffer>;
  /** Each event or message (`null` for webhooks). */
  payloads: (PluginEvent | PluginMessage | null)[];
}

/** `calls` as {@linkcode WireCalls}. */
export function packCalls(calls: readonly Call[]): WireCalls {
  const wire: WireCalls = {
    ids: [],
    kinds: [],
    methods: [],
    urls: [],
    headers: [],
    ends: [],
    body: new Uint8Array(),
    payloads: [],
  };
  let size = 0;
  for (const call of calls) {
    wire.ids.push(call.id);
    wire.kinds.push(call.t);
    if (call.t === "webhook") {
      wire.methods.push(call.method);
      wire.urls.push(call.url);
      wire.headers.push(call.headers);
      if (call.body) size += call.body.length;
      wire.ends.push(call.body ? size : -1);
      wire.payloads.push(null);
    } else {
      wire.methods.push("");
      wire.urls.push("");
      wire.headers.push("");
      wire.ends.push(-1);
      wire.payloads.push(call.t === "event" ? call.event : call.message);
    }
  }
  if (size) {
    wire.body = new Uint8Array(size);
    let at = 0;
    for (const call of calls) {
      if (call.t !== "webhook" || !call.body) continue;
      wire.body.set(call.body, at);
      at += call.body.length;
    }
  }
  return wire;
}

/** The calls packed into `wire`, in order; bodies are views into `wire.body`. */
export function unpackCalls(wire: WireCalls): Call[] {
  const calls: Call[] = [];
  let start = 0;
  for (let i = 0; i < wire.ids.length; i++) {
    const id = wire.ids[i];
    const kind = wire.kinds[i];
    if (kind === "webhook") {
      const end = wire.ends[i];
      calls.push({
        t: kind,
        id,
        method: wire.methods[i],
        url: wire.urls[i],
        headers: wire.headers[i],
        body: end < 0 ? null : wire.body.subarray(start, end),
      });
      if (end >= 0) start = end;
    } else if (kind === "event") {
      calls.push({ t: kind, id, event: wire.payloads[i] as PluginEvent });
    } else {
      calls.push({ t: kind, id, message: wire.payloads[i] as PluginMessage });
    }
  }
  return calls;
}

/**
 * How each call ended, as it crosses back, column by column like {@linkcode WireCalls}: a
 * string for a text result, `null` for none, `undefined` for a call with no result (events,
 * messages), otherwise an object (a `Response` result, or an error).
 */
export interface WireDone {
  /** Each call's id. */
  ids: number[];
  /** Each call's outcome. */
  outcomes: (string | null | undefined | WireResult | { kind: "error"; error: string })[];
}

/** `done` as {@linkcode WireDone}. */
export function packDone(done: readonly Done[]): WireDone {
  const wire: WireDone = { ids: [], outcomes: [] };
  for (const d of done) {
    wire.ids.push(d.id);
    if (!d.ok) wire.outcomes.push({ kind: "error", error: d.error });
    else if (d.result?.kind === "text") wire.outcomes.push(d.result.text);
    else if (d.result?.kind === "none") wire.outcomes.push(null);
    else wire.outcomes.push(d.result);
  }
  return wire;
}

/** The results packed into `wire`, in order. */
export function unpackDone(wire: WireDone): Done[] {
  const done: Done[] = [];
  for (let i = 0; i < wire.ids.length; i++) {
    const id = wire.ids[i];
    const o = wire.outcomes[i];
    if (typeof o === "string") done.push({ id, ok: true, result: { kind: "text", text: o } });
    else if (o === null) done.push({ id, ok: true, result: { kind: "none" } });
    else if (o === undefined) done.push({ id, ok: true });
    else if (o.kind === "error") done.push({ id, ok: false, error: o.error });
    else done.push({ id, ok: true, result: o });
  }
  return done;
}

/**
 * Longest a Worker holds back its answer to a batch of calls while some of them still run
 * (ms): the results ready by then go back, and the host may send the next batch.
 */
export const BATCH_ANSWER_MS = 1;

/** Host → Worker. */
export type ToWorker =
  | {
    t: "init";
    /** Absolute file URL of the plugin module. */
    url: string;
    /** Name the host knows it by. */
    name: string;
    /** Session of the host. */
    session: string;
    /** Path readable only for loading the module; revoked after import. */
    revoke?: string;
    /** Load only, to read the declaration (probe). */
    probe: boolean;
  }
  /**
   * Handler calls, in the order they were made. While the Worker has not answered a batch, the
   * host holds new calls back and sends them together once it does: one message, one wake-up of
   * the Worker, for all the calls made meanwhile.
   */
  | ({ t: "calls" } & WireCalls)
  | { t: "reply"; id: number; ok: true; value: unknown }
  | { t: "reply"; id: number; ok: false; error: string };

/** Host calls a plugin makes through `ctx`. */
export type CallMethod =
  | "inject"
  | "emit"
  | "store.get"
  | "store.set"
  | "store.delete"
  | "store.list";

/** Worker → host. */
export type FromWorker =
  | {
    t: "loaded";
    /** Name the plugin gives itself, if any. */
    name?: string;
    /** What it declares. */
    permissions?: PluginPermissions;
    /** Which parts it has: `webhook`, `message`, and `on:EVENT` per event. */
    kinds: string[];
  }
  | { t: "load_error"; error: string }
  | ({
    t: "done";
    /**
     * This answers the last batch of calls: every call of it that is not among these results
     * still runs (and is answered later on its own), and the host may send its next batch.
     */
    batch: boolean;
  } & WireDone)
  | { t: "call"; id: number; method: CallMethod; args: unknown[] }
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; message: string };
