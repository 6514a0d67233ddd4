/**
 * End-to-end test helpers: the real CLI as a subprocess (same flags as `deno task hookhost`),
 * temp state folders, scripts, and JSONL record readers.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { denoRunArgs } from "../scripts/bundle.ts";
import { scaled, WAIT_MS } from "./_poll.ts";
import { RecordReader } from "./_records.ts";

/** What runs: `main.ts` as `deno task hookhost` does, or the bundle `deno task compile` builds. */
export type Entry = "source" | "bundle";

/** A fresh short temp folder (Unix socket paths must stay short); removed by `cleanup`. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ dir: "/tmp", prefix: "hh" });
  return { path, cleanup: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** Writes an executable script `name` into `dir` and returns its path. */
export async function script(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, body.startsWith("#!") ? body : `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Environment pointing hookhost at `dir` (state and config in it). */
export function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOOKHOST_STATE: join(dir, "state"),
    HOOKHOST_CONFIG: join(dir, "hookhost.toml"),
    ...extra,
  };
}

/** Deno's cache, kept for the children whatever their `HOME` (else each would fetch npm anew). */
const DENO_DIR = Deno.env.get("DENO_DIR") ||
  join(Deno.env.get("XDG_CACHE_HOME") || join(Deno.env.get("HOME") ?? "/", ".cache"), "deno");

let emptyDir: string | undefined;

/**
 * Where a child runs and what it inherits, so that no test sees the repo's `hookhost.toml` or
 * `plugins/`, the developer's `~/.config/hookhost`, or `HOOKHOST_*` variables of the shell that
 * runs the tests: the working directory is the test's temp folder (the parent of its
 * `HOOKHOST_STATE`) or an empty one, `HOME` is that folder, and the environment holds only `PATH`,
 * Deno's cache and what the test passes.
 */
function hermetic(
  env: Record<string, string> | undefined,
  cwd: string | undefined,
): { env: Record<string, string>; cwd: string; clearEnv: true } {
  const state = env?.HOOKHOST_STATE;
  const dir = cwd ?? (state ? dirname(state) : (emptyDir ??= Deno.makeTempDirSync({
    dir: "/tmp",
    prefix: "hhcwd",
  })));
  return {
    cwd: dir,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: dir,
      DENO_DIR,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...env,
    },
  };
}

globalThis.addEventListener("unload", () => {
  if (emptyDir) Deno.removeSync(emptyDir, { recursive: true });
});

/** Result of a finished CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hookhost ARGS…` to completion. */
export async function cli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string; entry?: Entry } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...denoRunArgs(options.entry ?? "source"), ...args],
    ...hermetic(options.env, options.cwd),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export type { Rec } from "./_records.ts";

/** A running `hookhost run …` subprocess whose stdout is read as JSONL records. */
export class Proc extends RecordReader {
  readonly child: Deno.ChildProcess;
  #reading: Promise<void>;
  /** While set, stdout is not read (a reader that stopped reading); see `pause()`. */
  #paused: PromiseWithResolvers<void> | null = null;

  private constructor(child: Deno.ChildProcess) {
    super();
    this.child = child;
    const dec = new TextDecoder();
    const readErr = (async () => {
      for await (const chunk of child.stderr) {
        this.stderr += dec.decode(chunk, { stream: true });
      }
    })();
    const readOut = (async () => {
      for await (const chunk of child.stdout) {
        this.take(chunk);
        if (this.#paused) await this.#paused.promise;
      }
      this.notify();
    })();
    this.#reading = Promise.all([readErr, readOut]).then(() => {});
  }

  /** Starts `hookhost ARGS…` (add `--format jsonl` yourself). */
  static start(
    args: string[],
    options: {
      env?: Record<string, string>;
      cwd?: string;
      entry?: Entry;
      /** A command that execs the rest, such as `["prlimit", "--nofile=256"]`. */
      prefix?: string[];
    } = {},
  ): Proc {
    const command = [
      ...options.prefix ?? [],
      Deno.execPath(),
      ...denoRunArgs(options.entry ?? "source"),
      ...args,
    ];
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      ...hermetic(options.env, options.cwd),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new Proc(child);
  }

  /** Stops reading stdout after the chunk in hand, so that the pipe fills up. */
  pause(): void {
    this.#paused ??= Promise.withResolvers<void>();
  }

  /** Reads stdout again. */
  resume(): void {
    this.#paused?.resolve();
    this.#paused = null;
  }

  /** Sends `signal` and waits for the process to end; returns its exit code. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    this.resume();
    try {
      this.child.kill(signal);
    } catch {
      // Already ended.
    }
    return await this.exited();
  }

  /** Waits for the process to end on its own; returns its exit code. */
  async exited(): Promise<number> {
    const status = await this.child.status;
    await this.#reading;
    return status.code;
  }
}

/** One `[[hooks]]` table, bound to `127.0.0.1:0`. */
export interface HookSpec {
  name: string;
  script: string;
  mode?: string;
  concurrency?: number;
  timeout?: number;
  max_body?: number;
  methods?: string[];
  queue?: number;
  max_attempts?: number;
  retry_backoff?: number | number[];
}

/** `[[hooks]]` tables for `hooks`. */
export function hooksToml(hooks: HookSpec[]): string {
  return hooks.map((h) => {
    const lines = ["[[hooks]]", `name = "${h.name}"`, `bind = "127.0.0.1:0"`];
    lines.push(`script = "${h.script}"`);
    if (h.mode !== undefined) lines.push(`mode = "${h.mode}"`);
    if (h.concurrency !== undefined) lines.push(`concurrency = ${h.concurrency}`);
    if (h.timeout !== undefined) lines.push(`timeout = ${h.timeout}`);
    if (h.max_body !== undefined) lines.push(`max_body = ${h.max_body}`);
    if (h.queue !== undefined) lines.push(`queue = ${h.queue}`);
    if (h.max_attempts !== undefined) lines.push(`max_attempts = ${h.max_attempts}`);
    if (h.retry_backoff !== undefined) {
      lines.push(`retry_backoff = ${JSON.stringify(h.retry_backoff)}`);
    }
    if (h.methods !== undefined) lines.push(`methods = ${JSON.stringify(h.methods)}`);
    return lines.join("\n") + "\n";
  }).join("\n");
}

/** Writes `hookhost.toml` into `dir`. */
export async function config(dir: string, toml: string): Promise<string> {
  const path = join(dir, "hookhost.toml");
  await Deno.writeTextFile(path, toml);
  return path;
}

/** A finished HTTP exchange (the body is always consumed). */
export interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

/** `fetch` that always reads the body and gives up after `ms`, scaled (so a hang fails the test). */
export async function request(url: string, init: RequestInit = {}, ms = WAIT_MS): Promise<Answer> {
  ms = scaled(ms);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no answer from ${url} within ${ms} ms`)), ms);
  try {
    const res = await fetch(url, { ...init, signal: ac.signal });
    return { status: res.status, text: await res.text(), headers: res.headers };
  } finally {
    clearTimeout(timer);
  }
}

/** A real HTTP receiver recording every request. */
export function receiver(answer: (req: Request) => Response = () => new Response("received")) {
  const requests: { method: string; path: string; contentType: string | null; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests.push({
      method: req.method,
      path: new URL(req.url).pathname,
      contentType: req.headers.get("content-type"),
      body: await req.text(),
    });
    return answer(req);
  });
  return { server, requests, port: server.addr.port, url: `http://127.0.0.1:${server.addr.port}` };
}
