/**
 * Running a session as a process (`hookhost run`): the lock, KV, the control socket and the
 * webhook listeners around an in-process session (open.ts), started in that order and stopped
 * in reverse with a bounded grace period.
 *
 * @module
 */
import type { Config, TlsKeys } from "../config/schema.ts";
import { EXIT_USAGE, HookhostError, UsageError } from "../errors.ts";
import type { Spawner } from "../exec/spawn.ts";
import { openKv } from "../kv/mod.ts";
import type { Format } from "../output/mod.ts";
import { listen, type Listener, type TlsFiles } from "../webhook/server.ts";
import { type ControlServer, serveControl, wakeSession } from "./control.ts";
import { runningPid, SessionLock, sessionPaths } from "./lock.ts";
import { openSession } from "./open.ts";
import { safeHostname } from "./lease.ts";
import { DEFAULT_SERVER_BIND } from "./plugin_host.ts";
import { log } from "../output/log.ts";
import { isLoopback, parseBind } from "../config/bind.ts";

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** Session name. */
  name: string;
  /** Stay alive until `signal` aborts. */
  daemon: boolean;
  /** Output format. */
  format: Format;
  /** Names of `[[hooks]]` to serve. */
  hooks: readonly string[];
  /** The validated config. */
  config: Config;
  /** State folder (locks, sockets). */
  stateDir: string;
  /** KV location. */
  kv: string;
  /** Initial message (source `inject`); empty or absent injects nothing. */
  initial?: string;
  /** Stop request (SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** Event hooks file (hooks.json); none when absent. */
  eventsFile?: string;
  /** Plugins folder; plugins are served by daemons when it exists. */
  pluginsDir?: string;
  /** Process starter; default real processes. */
  spawner?: Spawner;
  /** Where records go; default stdout. */
  writer?: { write(p: Uint8Array): Promise<number> };
}

/** Runs a session until done (one-shot) or until `signal` aborts (daemon). */
export async function runSession(options: SessionOptions): Promise<void> {
  const { name, config } = options;
  for (const hookName of options.hooks) {
    if (!config.hooks.some((h) => h.name === hookName)) {
      throw new UsageError(`Hook '${hookName}' not found in config`, "hook_not_found");
    }
  }
  const lock = await SessionLock.acquire(options.stateDir, name);
  try {
    const kv = await openKv(options.kv);
    try {
      await serveSession(kv, options);
    } finally {
      kv.close();
    }
  } finally {
    await lock.release();
  }
}

async function serveSession(kv: Deno.Kv, options: SessionOptions): Promise<void> {
  const { name, config } = options;
  let control: ControlServer | null = null;
  const listeners: Listener[] = [];
  // Only a daemon with [admin] loads the admin area (and prom-client).
  const admin = config.admin && options.daemon ? await import("../admin/mod.ts") : null;
  const metrics = admin ? new admin.AdminMetrics() : null;
  const token = config.admin?.token_env === undefined
    ? undefined
    : Deno.env.get(config.admin.token_env);
  if (admin && config.admin?.token_env !== undefined && !token) {
    throw new HookhostError(
      "admin_token_missing",
      `[admin] token_env names '${config.admin.token_env}', which is not set or empty`,
      { exitCode: EXIT_USAGE },
    );
  }
  const bound: { hook: string; listener: Listener }[] = [];
  let allBound = false;
  const local = options.kv !== ":memory:" && !/^https?:\/\//i.test(options.kv);
  const session = await openSession({
    ...options,
    kv,
    // The KV file and the lock: deleting either (or the state folder) is noticed.
    storageFiles: local ? [options.kv, sessionPaths(options.stateDir, name).lock] : [],
    lockName: `${safeHostname()}:${await Deno.realPath(sessionPaths(options.stateDir, name).lock)}`,
    wake: (target) => wakeSession(options.stateDir, target),
    observe: metrics ? (r) => metrics.observe(r) : undefined,
    onStopAccepting: async () => {
      await control?.close();
      await Promise.all(listeners.map((l) => l.shutdown()));
    },
  });
  try {
    control = await serveControl(sessionPaths(options.stateDir, name).socket, session.control);
    for (const hook of session.hooks) {
      const table = hook === "server" ? config.server : config.hooks.find((h) => h.name === hook)!;
      const bind = table?.bind ?? DEFAULT_SERVER_BIND;
      let listener: Listener;
      try {
        listener = listen(bind, (req) => session.handle(hook, req), {
          log: log("webhook"),
          tls: tlsFiles(table),
          connections: {
            headerTimeout: config.limits.header_timeout,
            idleTimeout: config.limits.idle_timeout,
            maxConnections: config.limits.max_connections ??
              defaultMaxConnections(session.hooks.length),
          },
        });
      } catch (e) {
        if (e instanceof HookhostError) throw e;
        const what = hook === "server" ? "Plugin server" : `Hook '${hook}'`;
        // Two sessions started from one folder both serve its plugins folder on [server] bind.
        const hint = hook !== "server"
          ? ""
          : e instanceof Deno.errors.AddrInUse
          ? "; another daemon may serve plugins there: give this one another [server] bind, or --plugins another folder"
          : " (set [server] bind)";
        throw new HookhostError(
          "listen_failed",
          `${what} cannot listen on '${bind}': ${(e as Error).message}${hint}`,
          { cause: e },
        );
      }
      listeners.push(listener);
      bound.push({ hook, listener });
      session.record({
        type: "listening",
        hook,
        addr: listener.addr,
        ...(tlsFiles(table) ? { tls: true as const } : {}),
      });
      const open = openListenerWarning(config, hook, bind);
      if (open) log("webhook").warn("{warning}", { warning: open });
    }
    allBound = true;
    if (admin && metrics && config.admin) {
      const source = session.admin({
        listeners: () =>
          bound.map((b) => ({
            hook: b.hook,
            addr: b.listener.addr,
            in_flight: b.listener.inFlight,
          })),
        serving: () => (allBound ? [] : ["listeners not bound yet"]),
        running: async (other) => (await runningPid(options.stateDir, other)) !== null,
      });
      let listener: Listener;
      try {
        listener = listen(config.admin.bind, admin.adminHandler({ source, metrics, token }), {
          log: log("admin"),
          // Its own small share: a flood of admin connections leaves the hooks their fds.
          connections: {
            headerTimeout: config.limits.header_timeout,
            idleTimeout: config.limits.idle_timeout,
            maxConnections: 64,
          },
        });
      } catch (e) {
        throw new HookhostError(
          "listen_failed",
          `Admin listener cannot listen on '${config.admin.bind}': ${(e as Error).message}`,
          { cause: e },
        );
      }
      listeners.push(listener);
      session.record({ type: "listening", hook: "admin", addr: listener.addr });
    }
    await session.run();
  } finally {
    // Closes the control socket and the listeners too (onStopAccepting), a request that never
    // ends cut off shortly after the grace period.
    await session.stop();
  }
}

/**
 * `max_connections` of each of `listeners` listeners when unset: an equal share of four fifths
 * of the process's fd limit (which Deno raises to the hard limit at start), so that connections
 * leave fds for KV, scripts and the control socket. 1000 where the limit cannot be read.
 */
export function defaultMaxConnections(listeners: number, limits?: string): number {
  let text = limits;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/limits");
    } catch {
      return 1000;
    }
  }
  const soft = Number(/^Max open files\s+(\d+)/m.exec(text)?.[1]);
  if (!(soft > 0)) return 1000;
  return Math.max(16, Math.floor((soft * 0.8) / Math.max(1, listeners)));
}

/**
 * The warning for a listener other machines can reach that checks no signature (a `[[hooks]]`
 * entry without `verify`, or the plugin server), or `undefined` for one that needs none.
 */
export function openListenerWarning(
  config: Config,
  hook: string,
  bind: string,
): string | undefined {
  if (isLoopback(parseBind(bind))) return undefined;
  if (hook === "server") {
    return `Plugin server listens on '${bind}', reachable from other machines: plugin routes without 'verify' in [plugins.NAME] accept unsigned requests`;
  }
  if (config.hooks.find((h) => h.name === hook)?.verify) return undefined;
  return `Hook '${hook}' listens on '${bind}', reachable from other machines, without 'verify': anyone who reaches it can run its script`;
}

/** The TLS files of a `[[hooks]]` entry or `[server]`, when it has them. */
export function tlsFiles(table: TlsKeys | undefined): TlsFiles | undefined {
  return table?.tls_cert && table.tls_key
    ? { cert: table.tls_cert, key: table.tls_key }
    : undefined;
}
