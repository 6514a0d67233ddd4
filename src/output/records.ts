/**
 * The output records (docs/cli.md): one JSON object per line in `--format jsonl`.
 *
 * @module
 */
import type { Source } from "../inbox/message.ts";

/** Output records without the common `type`, `session_id` and `ts` fields' values filled in. */
export type OutputRecord =
  | { type: "ready"; pid: number }
  | { type: "listening"; hook: string; addr: string; tls?: true }
  | {
    type: "injected";
    id: string;
    source_kind: Source;
    source_label: string;
    content: string;
    request_id?: string;
  }
  | { type: "reply"; id: string; content: string }
  | {
    type: "hook_run";
    hook: string;
    status: number;
    exit_code: number | null;
    duration_ms: number;
    reason?: string;
    duplicate?: boolean;
    request_id?: string;
    worker?: number;
  }
  | { type: "status"; message: string }
  | { type: "error"; message: string };

/** Output formats. */
export const FORMATS = ["text", "jsonl"] as const;
/** An output format. */
export type Format = typeof FORMATS[number];

/** A record as printed: with `session_id` and `ts` (RFC 3339 UTC). */
export type Stamped = OutputRecord & { session_id: string; ts: string };

function clock(ts: string): string {
  return ts.slice(11, 19);
}

/** Renders a stamped record for people (`--format text`), without the trailing newline. */
export function renderText(r: Stamped): string {
  const head = `${clock(r.ts)} [${r.session_id}]`;
  switch (r.type) {
    case "ready":
      return `${head} ready (pid ${r.pid})`;
    case "listening":
      return `${head} hook '${r.hook}' listening on ${r.tls ? "https" : "http"}://${r.addr}/`;
    case "injected":
      return `${head} ${r.source_label} (${r.id}):\n${indent(r.content)}`;
    case "reply":
      return `${head} reply to ${r.id}:\n${indent(r.content)}`;
    case "hook_run":
      if (r.duplicate) return `${head} hook '${r.hook}' answered ${r.status} (duplicate delivery)`;
      if (r.reason) return `${head} hook '${r.hook}' answered ${r.status} (${r.reason})`;
      // A persistent worker's answer: it stays.
      if (r.worker !== undefined) {
        return `${head} hook '${r.hook}' answered ${r.status} (worker ${r.worker}, ${r.duration_ms} ms)`;
      }
      // A plugin's answer: no process exited.
      if (r.exit_code === null && r.status < 500) {
        return `${head} hook '${r.hook}' answered ${r.status} (${r.duration_ms} ms)`;
      }
      return `${head} hook '${r.hook}' answered ${r.status} (exit ${
        r.exit_code ?? "signal"
      }, ${r.duration_ms} ms)`;
    case "status":
      return `${head} ${r.message}`;
    case "error":
      return `${head} error: ${r.message}`;
  }
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
