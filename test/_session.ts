/**
 * In-process sessions for tests: the real session (`openSession`), real KV in the test's temp
 * folder, real scripts, real HTTP on loopback through the same `listen()` the daemon uses, but no
 * `deno run` child. {@linkcode InSession} reads like {@linkcode Proc} (records, `waitFor`,
 * `addr`, `stderr`, `stop`), so a test moves between the two by changing how it starts.
 *
 * What needs a process stays on `Proc`: exit codes, signals, `kill -9`, the lock, the control
 * socket, the daemon's own environment as scripts see it.
 *
 * @module
 */
import { join } from "node:path";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { loadConfig } from "../src/config/load.ts";
import { openKv } from "../src/kv/open.ts";
import { log, renderLog } from "../src/output/log.ts";
import type { ControlRequest, ControlResponse } from "../src/session/control.ts";
import { type OpenSession, openSession } from "../src/session/open.ts";
import { listen, type Listener } from "../src/webhook/server.ts";
import { tlsFiles } from "../src/session/host.ts";
import { SessionLock, sessionPaths } from "../src/session/lock.ts";
import { safeHostname } from "../src/session/lease.ts";
import { type Rec, RecordReader } from "./_records.ts";

/** Open sessions, each collecting the log lines written while it is open. */
const open = new Set<InSession>();

async function captureLogs(): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      each: (r: LogRecord) => {
        const line = renderLog(r);
        for (const s of open) s.stderr += line;
      },
    },
    loggers: [
      { category: ["hookhost"], lowestLevel: "info", sinks: ["each"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
}

/** Options of {@linkcode InSession.open}. */
export interface InSessionOptions {
  /** The test's temp folder: `hookhost.toml` is read from it, KV lives in `state/` there. */
  dir: string;
  /** Session name; default `default`. */
  name?: string;
  /** Run as a daemon (until `stop()`); default true. */
  daemon?: boolean;
  /** Hooks to serve (each on its `bind`, as `run --hook` does). */
  hooks?: string[];
  /** The initial message, as `run MESSAGE`. */
  initial?: string;
  /** hooks.json; default none. */
  eventsFile?: string;
  /** Plugins folder; default none. */
  pluginsDir?: string;
  /** How often TLS files are looked at (ms); default the daemon's. */
  tlsCheckMs?: number;
}

/** A session opened in this process, its output parsed as JSONL records. */
export class InSession extends RecordReader {
  /** The session. */
  session!: OpenSession;
  /** Settles when the session ended (`stop()` or, one-shot, drained). */
  done!: Promise<void>;
  #kv!: Deno.Kv;
  #lock: SessionLock | null = null;
  #listeners: Listener[] = [];
  #stopped: Promise<void> | null = null;
  /** While set, writes of the output wait (a reader of stdout that stopped reading). */
  #paused: PromiseWithResolvers<void> | null = null;

  private constructor() {
    super();
  }

  /** Opens and runs a session over `dir`'s config and state, its hooks bound to their binds. */
  static async open(options: InSessionOptions): Promise<InSession> {
    const s = new InSession();
    if (open.size === 0) await captureLogs();
    open.add(s);
    try {
      const config = await loadConfig(join(options.dir, "hookhost.toml"), options.dir);
      // The session's lock, as `hookhost run` takes it (host.ts): one run per state folder.
      const state = join(options.dir, "state");
      const name = options.name ?? "default";
      s.#lock = await SessionLock.acquire(state, name);
      s.#kv = await openKv(join(state, "hookhost.kv"));
      s.session = await openSession({
        name,
        daemon: options.daemon ?? true,
        hooks: options.hooks,
        config,
        kv: s.#kv,
        format: "jsonl",
        writer: {
          write: async (p) => {
            while (s.#paused) await s.#paused.promise;
            return s.#write(p);
          },
        },
        initial: options.initial,
        eventsFile: options.eventsFile,
        pluginsDir: options.pluginsDir,
        onStopAccepting: () => s.#closeListeners(),
        lockName: `${safeHostname()}:${await Deno.realPath(sessionPaths(state, name).lock)}`,
      });
      for (const hook of s.session.hooks) {
        const table = hook === "server"
          ? config.server
          : config.hooks.find((h) => h.name === hook)!;
        const bind = table?.bind ?? "127.0.0.1:0";
        const listener = listen(bind, (req) => s.session.handle(hook, req), {
          log: log("webhook"),
          tls: tlsFiles(table),
          tlsCheckMs: options.tlsCheckMs,
        });
        s.#listeners.push(listener);
        s.session.record({ type: "listening", hook, addr: listener.addr });
      }
      s.done = s.session.run();
      s.done.catch(() => {}); // seen by whoever awaits `done` or `stop()`
    } catch (e) {
      await s.#release();
      throw e;
    }
    return s;
  }

  #write(p: Uint8Array): number {
    this.take(p);
    return p.length;
  }

  async #closeListeners(): Promise<void> {
    await Promise.all(this.#listeners.splice(0).map((l) => l.shutdown()));
  }

  /** Holds the output's writes back, as a reader of stdout that stopped reading does. */
  pause(): void {
    this.#paused ??= Promise.withResolvers<void>();
  }

  /** Lets the output's writes through again. */
  resume(): void {
    this.#paused?.resolve();
    this.#paused = null;
  }

  /** A control message, as `hookhost send` and friends deliver it through the socket. */
  control(req: ControlRequest): Promise<ControlResponse> {
    return this.session.control(req);
  }

  /** Stops the session (graceful), closes its KV and rethrows a failure of its run. */
  async stop(): Promise<void> {
    await (this.#stopped ??= this.#release());
    await this.done;
  }

  async #release(): Promise<void> {
    this.resume();
    try {
      await this.session?.stop();
      await this.#closeListeners();
    } finally {
      try {
        this.#kv?.close();
      } catch {
        // Already closed.
      }
      this.#lock?.release();
      this.#lock = null;
      open.delete(this);
      if (open.size === 0) await reset();
    }
  }
}

/**
 * A one-shot run in-process, as `hookhost run --name NAME [MESSAGE]`: injects `initial`, drains
 * the inbox of `dir`'s state and returns the records it printed.
 */
export async function runOnce(
  dir: string,
  name: string,
  options: { initial?: string; hooks?: string[]; eventsFile?: string } = {},
): Promise<Rec[]> {
  const s = await InSession.open({ dir, name, daemon: false, ...options });
  try {
    await s.done;
  } finally {
    await s.stop();
  }
  return s.records;
}
