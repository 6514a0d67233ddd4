/**
 * The one message union spoken between the host and a plugin Worker.
 *
 * @module
 */
import type { PluginEvent, PluginMessage, PluginPermissions } from "./types.ts";

/** A request as it crosses into the Worker. */
export interface WireRequest {
  /** Method. */
  method: string;
  /** Full URL. */
  url: string;
  /** Header pairs (repeated names kept). */
  headers: [string, string][];
  /** Raw body. */
  body: Uint8Array<ArrayBuffer> | null;
}

/** What a plugin's `webhook()` answered, as it crosses back. */
export type WireResult =
  | { kind: "response"; status: number; headers: [string, string][]; body: Uint8Array<ArrayBuffer> }
  | { kind: "text"; text: string }
  | { kind: "none" };

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
  | { t: "webhook"; id: number; request: WireRequest }
  | { t: "event"; id: number; event: PluginEvent }
  | { t: "message"; id: number; message: PluginMessage }
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
  | { t: "done"; id: number; ok: true; result?: WireResult }
  | { t: "done"; id: number; ok: false; error: string }
  | { t: "call"; id: number; method: CallMethod; args: unknown[] }
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; message: string };
