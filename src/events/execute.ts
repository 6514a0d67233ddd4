/**
 * Running one event hook: a `command` through the shell with the event JSON on stdin, or an
 * `http` request with the event JSON as body. Every outcome is a result, never an exception.
 *
 * @module
 */
import type { Spawner } from "../exec/spawn.ts";
import type { EventHook } from "./hooks_file.ts";
import { signStandardWebhook } from "../auth/schemes.ts";

/** The data every hook receives: `{event, fullEvent, params, timestamp}`. */
export interface EventData {
  /** Short event name. */
  event: string;
  /** `event-<event>`. */
  fullEvent: string;
  /** Event-specific payload. */
  params: Record<string, unknown>;
  /** Unix ms. */
  timestamp: number;
}

/** What one hook run did. */
export interface HookResult {
  /** The hook. */
  hook: EventHook;
  /** Whether it succeeded (exit 0 / 2xx). */
  ok: boolean;
  /** Exit code of a command hook (`null` if killed or not started). */
  exitCode?: number | null;
  /** HTTP status of an http hook. */
  status?: number;
  /** Whether it ran past its timeout. */
  timedOut: boolean;
  /** Wall time in ms. */
  durationMs: number;
  /** Output (stdout then stderr, or the response body), trimmed, at most 4 KiB. */
  output: string;
  /** Why it failed, when it did. */
  error?: string;
}

const MAX_OUTPUT = 4096;
const decoder = new TextDecoder();

function clip(text: string): string {
  const t = text.trim();
  return t.length > MAX_OUTPUT ? t.slice(0, MAX_OUTPUT) + "…" : t;
}

/** Runs `hook` once with `data`. */
export async function runEventHook(
  hook: EventHook,
  data: EventData,
  options: { spawner: Spawner; signal?: AbortSignal },
): Promise<HookResult> {
  const body = JSON.stringify(data);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (hook.type === "command") {
    try {
      const r = await options.spawner.run("/bin/sh", {
        args: ["-c", hook.command],
        stdin: body,
        timeoutMs: hook.timeout,
        signal: options.signal,
        maxOutputBytes: 1024 * 1024,
      });
      const output = clip(
        [decoder.decode(r.stdout).trim(), decoder.decode(r.stderr).trim()].filter(Boolean)
          .join("\n"),
      );
      const ok = !r.timedOut && r.code === 0;
      return {
        hook,
        ok,
        exitCode: r.code,
        timedOut: r.timedOut,
        durationMs: r.durationMs,
        output,
        error: ok
          ? undefined
          : r.timedOut
          ? `timed out after ${hook.timeout} ms and was killed`
          : r.code === null
          ? `killed by ${r.signal}`
          : `exit code ${r.code}`,
      };
    } catch (e) {
      return {
        hook,
        ok: false,
        exitCode: null,
        timedOut: false,
        durationMs: elapsed(),
        output: "",
        error: (e as Error).message,
      };
    }
  }
  let timeout: AbortSignal | undefined;
  try {
    timeout = AbortSignal.timeout(hook.timeout);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const hasBody = hook.method !== "GET" && hook.method !== "HEAD";
    // Configured headers replace the default whatever their case.
    const headers = new Headers({ "content-type": "application/json" });
    for (const [k, v] of Object.entries(hook.headers)) headers.set(k, v);
    const secret = hook.secret_env ? Deno.env.get(hook.secret_env) : undefined;
    if (hook.secret_env) {
      // Checked when the file was read; a variable unset since is a failed run, not unsigned.
      if (!secret) throw new Error(`environment variable '${hook.secret_env}' is not set`);
      const signed = await signStandardWebhook(secret, {
        id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
        body: new TextEncoder().encode(hasBody ? body : ""),
        nowMs: Date.now(),
      });
      for (const [k, v] of Object.entries(signed)) headers.set(k, v);
    }
    const res = await fetch(hook.url, {
      method: hook.method,
      headers,
      body: hasBody ? body : undefined,
      signal,
    });
    const output = clip(await res.text());
    return {
      hook,
      ok: res.ok,
      status: res.status,
      timedOut: false,
      durationMs: elapsed(),
      output,
      error: res.ok ? undefined : `HTTP ${res.status}`,
    };
  } catch (e) {
    const timedOut = timeout?.aborted ?? false;
    return {
      hook,
      ok: false,
      timedOut,
      durationMs: elapsed(),
      output: "",
      error: timedOut ? `timed out after ${hook.timeout} ms` : (e as Error).message,
    };
  }
}
