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

/** What a plugin's `webhook()` answered, as it crosses back. */
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
  | {
    t: "calls";
    /**
     * Handler calls, in the order they were made. While the Worker has not answered a batch,
     * the host holds new calls back and sends them together once it does: one message, one
     * wake-up of the Worker, for all the calls made meanwhile.
     */
    calls: Call[];
  }
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
  | {
    t: "done";
    /**
     * This answers the last batch of calls: every call of it that is not among `results`
     * still runs (and is answered later on its own), and the host may send its next batch.
     */
    batch: boolean;
    /** Calls that ended. */
    results: Done[];
  }
  | { t: "call"; id: number; method: CallMethod; args: unknown[] }
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; message: string };
