/**
 * A webhook served by a script (§4): the body on stdin, `HOOK_*` in the environment, and the
 * outcome mapped to the HTTP answer. Output is injected, durably, before 200 is answered.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Spawner } from "../exec/spawn.ts";
import { SpawnError } from "../exec/spawn.ts";
import { compose, limitBody, storeMessage, text } from "./chain.ts";
import { hookEnv } from "./env.ts";

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
  /** Stores `content` in the session's inbox as source `webhook`; resolves once durable. */
  inject: (content: string) => Promise<unknown>;
  /** Told about every finished request. */
  onRun?: (run: HookRun) => void;
  /** Where failures are logged. */
  log: Logger;
  /** Aborting kills running scripts (shutdown past its grace). */
  signal?: AbortSignal;
}

const decoder = new TextDecoder();

function excerpt(bytes: Uint8Array): string {
  const s = decoder.decode(bytes.subarray(0, 4096)).trim();
  return s.length ? s : "(no output)";
}

/** Builds the `(Request) => Promise<Response>` of a script hook. */
export function scriptHookHandler(options: ScriptHookOptions): (req: Request) => Promise<Response> {
  const { name, script, spawner, log } = options;
  if (!(options.timeout >= 1)) throw new RangeError(`timeout must be >= 1, got ${options.timeout}`);
  return compose([limitBody(options.maxBody, { signal: options.signal })], async (ctx) => {
    const report = (status: number, exit_code: number | null, duration_ms: number) => {
      options.onRun?.({ hook: name, status, exit_code, duration_ms });
    };
    let result;
    try {
      result = await spawner.run(script, {
        stdin: ctx.body,
        env: hookEnv(ctx.request, { hook: name, session: options.session }),
        timeoutMs: options.timeout * 1000,
        signal: options.signal,
      });
    } catch (e) {
      if (!(e instanceof SpawnError)) throw e;
      log.error("hook '{hook}': {reason}", { hook: name, reason: e.message });
      report(500, null, 0);
      return text(500, "Script could not start\n");
    }
    if (result.timedOut) {
      log.error("hook '{hook}': script timed out after {timeout} s and was killed", {
        hook: name,
        timeout: options.timeout,
      });
      report(504, null, result.durationMs);
      return text(504, "Script timed out\n");
    }
    if (result.code !== 0) {
      log.error("hook '{hook}': script exited with {code}: {stderr}", {
        hook: name,
        code: result.code ?? result.signal,
        stderr: excerpt(result.stderr),
      });
      report(500, result.code, result.durationMs);
      return text(500, "Script failed\n");
    }
    const answer = await storeMessage(decoder.decode(result.stdout), {
      inject: options.inject,
      log,
      who: `hook '${name}'`,
    });
    report(answer.status, 0, result.durationMs);
    return answer;
  });
}
