/**
 * A webhook served by a script (docs/webhook-scripts.md): the body on stdin, `HOOK_*` in the
 * environment, and the outcome mapped to the HTTP answer. Output is injected, durably, before 200
 * is answered.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { Spawner } from "../exec/spawn.ts";
import { ChildLostError, SpawnError } from "../exec/spawn.ts";
import {
  compose,
  type InjectMeta,
  type Middleware,
  storeMessage,
  text,
  withoutHeader,
} from "./chain.ts";
import { limitBody, type LimitBodyOptions, retryLater } from "./body_limit.ts";
import type { Slots } from "./slots.ts";
import { hookEnv, type HookRequest } from "./env.ts";
import type { WorkerPool } from "../worker/pool.ts";

/** The outcome of one request, as reported in `hook_run` records. */
export interface HookRun {
  /** Hook name. */
  hook: string;
  /** HTTP status answered. */
  status: number;
  /** Script exit code; `null` when it could not start or was killed. */
  exit_code: number | null;
  /** Script wall time in ms. */
  duration_ms: number;
  /** Why nothing ran: `signature mismatch`, `missing header`, `unmatched`, … */
  reason?: string;
  /** Set when the request repeated a delivery already answered (and so ran nothing). */
  duplicate?: boolean;
  /** The request's id (`X-Request-Id`), when the run answers a request. */
  request_id?: string;
  /** The persistent worker that served it (its index), when one did. */
  worker?: number;
}

/** What a script hook needs from its host. */
export interface ScriptHookOptions {
  /** Hook name (`HOOK_NAME`). */
  name: string;
  /** Absolute script path. */
  script: string;
  /** Timeout in seconds. */
  timeout: number;
  /** Largest accepted body in bytes. */
  maxBody: number;
  /** Session name (`HOOK_SESSION`). */
  session: string;
  /** Starts the script. */
  spawner: Spawner;
  /**
   * Puts `content` into the session's inbox as source `webhook`; resolves once it is durable
   * there or already written to the output (see `SessionRunner.deliver()`). `meta.also` are
   * writes to commit with the message (a delivery id's record): with them, it is always stored.
   */
  inject: (content: string, meta: InjectMeta) => Promise<unknown>;
  /** Steps between reading the body and running the script (verify, dedupe, match, slots). */
  steps?: readonly Middleware[];
  /** Steps before the body is read (the method check). */
  before?: readonly Middleware[];
  /** How bodies are read: the shared budget, the stall timeout. */
  body?: Omit<LimitBodyOptions, "signal">;
  /**
   * Slots of the script (`concurrency`, `queue`): a request waits for one before its script
   * starts and frees it when the script ends; with none free and the queue full, it is answered
   * 503 with `Retry-After`, its `hook_run` saying `reason: "queue full"`.
   */
  slots?: Slots;
  /** Told about every finished request. */
  onRun?: (run: HookRun) => void;
  /** Where failures are logged. */
  log: Logger;
  /** Aborting kills running scripts (shutdown past its grace). */
  signal?: AbortSignal;
  /** The hook's persistent workers (`persistent = true`): requests go to them, not to `spawner`. */
  pool?: WorkerPool;
}

const decoder = new TextDecoder();

function excerpt(bytes: Uint8Array): string {
  const s = decoder.decode(bytes.subarray(0, 4096)).trim();
  return s.length ? s : "(no output)";
}

/** How a script run ended, as the HTTP status a sync hook answers. */
export interface ScriptOutcome {
  /** 200 (output to inject), 204 (no output), 500 (failed or could not start), 504 (timed out). */
  status: 200 | 204 | 500 | 504;
  /** Exit code; `null` when it could not start or was killed. */
  exit_code: number | null;
  /** Wall time in ms. */
  duration_ms: number;
  /** Trimmed stdout (empty unless `status` is 200). */
  output: string;
  /** False when the script could not be started at all. */
  started: boolean;
  /** The 2xx status a persistent worker asked its message to be answered with. */
  answer?: number;
  /** The persistent worker that served it (its index), when one did. */
  worker?: number;
}

/**
 * Runs a hook's script once for a request (body on stdin, `HOOK_*` env) and classifies the
 * outcome; failures are logged. Shared by sync hooks and the runner of async hooks.
 */
export async function runHookScript(
  options:
    & Pick<
      ScriptHookOptions,
      "name" | "script" | "timeout" | "session" | "spawner" | "log" | "signal" | "pool"
    >
    & { nice?: number },
  request: HookRequest,
): Promise<ScriptOutcome> {
  const { name, log } = options;
  if (options.pool) {
    // The pool logs its failures; a worker's outcome has no exit code.
    const o = await options.pool.run(request, {
      timeoutMs: options.timeout * 1000,
      signal: options.signal,
    });
    return { ...o, exit_code: null, started: true };
  }
  const at = { hook: name, request_id: request.requestId ?? "" };
  let result;
  try {
    result = await options.spawner.run(options.script, {
      stdin: request.body,
      env: hookEnv(request, { hook: name, session: options.session }),
      timeoutMs: options.timeout * 1000,
      signal: options.signal,
      nice: options.nice,
    });
  } catch (e) {
    if (e instanceof ChildLostError) {
      // It ran, but how it ended is unknown: a failure, never a success.
      log.error("hook '{hook}' (request {request_id}): {reason}", { ...at, reason: e.message });
      return { status: 500, exit_code: null, duration_ms: 0, output: "", started: true };
    }
    if (!(e instanceof SpawnError)) throw e;
    log.error("hook '{hook}' (request {request_id}): {reason}", { ...at, reason: e.message });
    return { status: 500, exit_code: null, duration_ms: 0, output: "", started: false };
  }
  const ran = { exit_code: result.code, duration_ms: result.durationMs, started: true };
  if (result.timedOut) {
    log.error(
      "hook '{hook}' (request {request_id}): script timed out after {timeout} s and was killed",
      {
        ...at,
        timeout: options.timeout,
      },
    );
    return { status: 504, ...ran, exit_code: null, output: "" };
  }
  if (result.code !== 0) {
    log.error("hook '{hook}' (request {request_id}): script exited with {code}: {stderr}", {
      ...at,
      code: result.code ?? result.signal,
      stderr: excerpt(result.stderr),
    });
    return { status: 500, ...ran, output: "" };
  }
  const output = decoder.decode(result.stdout).trim();
  return { status: output ? 200 : 204, ...ran, output };
}

/** Builds the `(Request) => Promise<Response>` of a script hook. */
export function scriptHookHandler(options: ScriptHookOptions): (req: Request) => Promise<Response> {
  const { name, log } = options;
  if (!(options.timeout >= 1)) throw new RangeError(`timeout must be >= 1, got ${options.timeout}`);
  const steps = [
    ...options.before ?? [],
    limitBody(options.maxBody, { ...options.body, signal: options.signal }),
    ...options.steps ?? [],
  ];
  return compose(steps, async (ctx) => {
    const release = options.slots ? await options.slots.acquire() : () => {};
    if (!release) {
      options.onRun?.({
        hook: name,
        status: 503,
        exit_code: null,
        duration_ms: 0,
        reason: "queue full",
        request_id: ctx.requestId,
      });
      return retryLater("Too many requests waiting for this hook; retry later\n");
    }
    let outcome: ScriptOutcome;
    try {
      outcome = await runHookScript(options, {
        method: ctx.request.method,
        url: ctx.request.url,
        headers: withoutHeader(ctx.request.headers, ctx.secretHeader),
        body: ctx.body,
        verified: ctx.verified,
        requestId: ctx.requestId,
      });
    } finally {
      release();
    }
    const report = (status: number) =>
      options.onRun?.({
        hook: name,
        status,
        exit_code: outcome.exit_code,
        duration_ms: outcome.duration_ms,
        request_id: ctx.requestId,
        ...(outcome.worker === undefined ? {} : { worker: outcome.worker }),
      });
    if (outcome.status !== 200) {
      report(outcome.status);
      return text(
        outcome.status,
        outcome.status === 204
          ? null
          : outcome.status === 504
          ? "Script timed out\n"
          : !outcome.started
          ? "Script could not start\n"
          : "Script failed\n",
      );
    }
    const answer = await storeMessage(outcome.output, {
      inject: options.inject,
      log,
      who: `hook '${name}'`,
      requestId: ctx.requestId,
      dedupe: ctx.dedupe,
      status: outcome.answer,
    });
    report(answer.status);
    return answer;
  });
}
