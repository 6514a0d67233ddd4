/**
 * The persistent worker protocol, version 1 (docs/workers.md): one JSON object per line each
 * way. hookhost writes a request line to the worker's stdin; the worker writes one answer line
 * per request to its stdout, in any order.
 *
 * @module
 */
import type { HookRequest } from "../webhook/env.ts";
import { VERIFIED_HEADER } from "../webhook/env.ts";

/** The protocol version hookhost writes (`v`). */
export const PROTOCOL_VERSION = 1;

/** A request line, as the worker reads it. */
export interface WorkerRequest {
  /** Protocol version: {@linkcode PROTOCOL_VERSION}. */
  v: 1;
  /** Unique among the requests the worker holds: its answer names it. */
  id: string;
  /** The hook's name. */
  hook: string;
  /** The session's name. */
  session: string;
  /** The request's id (`X-Request-Id`, as `HOOK_REQUEST_ID`). */
  request_id: string;
  /** The `verify` scheme the signature passed, or `""` (as `HOOK_VERIFIED`). */
  verified: string;
  /** HTTP method. */
  method: string;
  /** URL path. */
  path: string;
  /** Query string without `?`. */
  query: string;
  /** Headers, names lower-cased, repeated ones joined with `, `. */
  headers: Record<string, string>;
  /** The body, when it is valid UTF-8. */
  body?: string;
  /** The body in base64, when it is not valid UTF-8. */
  body_base64?: string;
}

/** An answer line, once checked. */
export interface WorkerAnswer {
  /** The request it answers. */
  id: string;
  /** The message to inject; empty or absent means none (204). */
  message?: string;
  /** The 2xx status to answer a message with instead of 200. */
  status?: number;
  /** Set when the worker failed the request (500, logged). */
  error?: string;
}

/**
 * `bytes` as text when they are valid UTF-8, else `null`. A view the decoder refuses for another
 * reason than its bytes is decoded again from a copy of them.
 */
function utf8(bytes: Uint8Array): string | null {
  for (const view of [bytes, null]) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(view ?? bytes.slice());
    } catch {
      // Not UTF-8 (or, the first time, a view it would not read).
    }
  }
  return null;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** The request line (without its newline) of `request` under `id`. */
export function requestLine(
  id: string,
  request: HookRequest,
  options: { hook: string; session: string },
): string {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  // `Headers` iterates lower-cased names and joins repeated ones with ", ".
  for (const [raw, value] of request.headers) {
    const name = raw.toLowerCase();
    if (name === VERIFIED_HEADER) continue;
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const line: WorkerRequest = {
    v: PROTOCOL_VERSION,
    id,
    hook: options.hook,
    session: options.session,
    request_id: request.requestId ?? "",
    verified: request.verified ?? "",
    method: request.method,
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
    headers,
  };
  const text = utf8(request.body);
  if (text !== null) line.body = text;
  else line.body_base64 = base64(request.body);
  return JSON.stringify(line);
}

/** An answer line that breaks the protocol: the worker is restarted. */
export class ProtocolError extends Error {}

/**
 * Parses one line the worker wrote. Throws {@linkcode ProtocolError} for a line that is not a
 * JSON object with a string `id`; a bad `message`, `status` or `error` fails only its request,
 * as an `error`.
 */
export function parseAnswer(line: string): WorkerAnswer {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolError("its line is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("its line is not a JSON object");
  }
  const o = value as Record<string, unknown>;
  if (typeof o.id !== "string") throw new ProtocolError('its line has no string "id"');
  const id = o.id;
  if (o.error !== undefined && o.error !== null) {
    return { id, error: typeof o.error === "string" ? o.error : JSON.stringify(o.error) };
  }
  if (o.message !== undefined && o.message !== null && typeof o.message !== "string") {
    return { id, error: '"message" is not a string' };
  }
  if (
    o.status !== undefined && o.status !== null &&
    !(Number.isInteger(o.status) && (o.status as number) >= 200 && (o.status as number) <= 299)
  ) {
    return { id, error: `"status" ${JSON.stringify(o.status)} is not a 2xx status` };
  }
  const out: WorkerAnswer = { id };
  if (typeof o.message === "string") out.message = o.message;
  if (typeof o.status === "number") out.status = o.status;
  return out;
}
