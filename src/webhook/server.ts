/**
 * Serving a handler on a bind address with `Deno.serve`, over HTTP or, with PEM files, HTTPS whose
 * certificate is reloaded when the files change.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { formatAddr, parseBind } from "../config/bind.ts";
import { ConnGuard } from "./conn_guard.ts";
import { openSocketTable, type SocketTable } from "./socket_table.ts";

/** A running listener. */
export interface Listener {
  /** The real `host:port` (the chosen port when bound to port 0). */
  addr: string;
  /** Stops accepting and waits for in-flight requests. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Requests being answered right now. */
  readonly inFlight: number;
}

/** PEM files of an HTTPS listener. */
export interface TlsFiles {
  /** Certificate (chain), PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** Where request failures and certificate reloads are logged. */
  log?: Logger;
  /** Serve HTTPS with these files, reloaded when they change. */
  tls?: TlsFiles;
  /** How often the TLS files are looked at, in ms; default 2000. */
  tlsCheckMs?: number;
  /**
   * Connection limits kept by a {@linkcode ConnGuard} (seconds, and connections at most); none
   * when unset. Without FFI (or off Linux) they are off, which is logged once.
   */
  connections?: { headerTimeout: number; idleTimeout: number; maxConnections: number };
  /** Where the guard reads connections from; default the kernel's (FFI). */
  sockets?: () => SocketTable;
  /** Ms to wait before serving again when accepting failed (doubling to 2000); default 50. */
  retryMs?: number;
}

/** What identifies a version of the TLS files: their modification times and sizes. */
function stamp(files: TlsFiles): string {
  return [files.cert, files.key].map((f) => {
    const info = Deno.statSync(f); // Follows symlinks, as certbot's `live/` ones are.
    return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
  }).join("|");
}

/**
 * Serves `handler` on `bind` (`host:port`). Throws if the address cannot be bound or the TLS
 * files cannot be used.
 *
 * With `tls`, the files are checked every `tlsCheckMs`; when they changed, a server with the new
 * certificate starts on the same port (`SO_REUSEPORT`) and the old one stops accepting and
 * finishes its requests: renewing a certificate needs no restart and drops no request in
 * flight. New files that cannot be used are logged and the old certificate stays.
 */
export function listen(
  bind: string,
  handler: (req: Request) => Promise<Response>,
  options: ListenOptions = {},
): Listener {
  const addr = parseBind(bind);
  const log = options.log;
  let guard: ConnGuard | undefined;
  let inFlight = 0;
  const serveHandler = async (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
    inFlight++;
    const conn = guard?.requested(info.remoteAddr);
    let answer: Response | null = null;
    try {
      return answer = await handler(req);
    } finally {
      inFlight--;
      if (conn !== undefined) guard!.answered(conn, answer);
    }
  };
  let stopped = false;
  let failures = 0;
  const start = (
    port: number,
    tls?: { cert: string; key: string },
  ): Deno.HttpServer<Deno.NetAddr> => {
    const server = Deno.serve({
      hostname: addr.ip,
      port,
      onListen: () => {},
      ...(tls ? { ...tls, reusePort: true } : {}),
      // One log line instead of Deno's default stack trace on stderr.
      onError: (e) => {
        log?.error("Request failed: {reason}", { reason: (e as Error)?.message ?? String(e) });
        return new Response("Internal error\n", { status: 500 });
      },
    }, serveHandler);
    // Accepting fails when the process is out of fds (EMFILE), and then `Deno.serve` stops
    // listening (its connections are still served). Listen again once fds are free, instead of
    // the unhandled rejection that would end the process.
    const startedAt = Date.now();
    server.finished.catch((e) => {
      if (stopped || server !== current) return;
      // A listener that served a while starts its backoff over; one that fails again at once
      // waits longer each time (at most 2 s), so a lasting fd shortage logs a line per 2 s.
      if (Date.now() - startedAt > 10_000) failures = 0;
      const wait = Math.min(2000, (options.retryMs ?? 50) * 2 ** failures++);
      log?.error("Listener '{addr}' stopped accepting: {reason}; listening again in {wait} ms", {
        addr: shown,
        reason: (e as Error)?.message ?? String(e),
        wait,
      });
      const again = () => {
        if (stopped) return;
        try {
          current = start(local.port, files && read(files));
        } catch (e) {
          log?.error("Listener '{addr}' cannot listen again yet: {reason}", {
            addr: shown,
            reason: (e as Error).message,
          });
          setTimeout(again, Math.min(2000, (options.retryMs ?? 50) * 2 ** failures++));
        }
      };
      setTimeout(again, wait);
    });
    return server;
  };
  const files = options.tls;
  const read = (f: TlsFiles) => ({
    cert: Deno.readTextFileSync(f.cert),
    key: Deno.readTextFileSync(f.key),
  });
  let seen = files ? stamp(files) : "";
  let current = start(addr.port, files && read(files));
  const local = current.addr;
  const shown = formatAddr(local.hostname, local.port);
  const table = options.connections && openTable(options.sockets, shown, log);
  if (table && options.connections) {
    guard = new ConnGuard(local.port, table, {
      ...options.connections,
      ip: local.hostname,
      name: shown,
      log,
    });
    guard.start();
  }
  const done = Promise.withResolvers<void>();
  const stop = async (servers: Promise<void>[]) => {
    stopped = true;
    guard?.stop();
    await Promise.all([current.shutdown().catch(() => {}), ...servers]);
    table?.close();
    done.resolve();
  };
  if (!files) {
    return {
      addr: shown,
      shutdown: () => stop([]),
      finished: done.promise,
      get inFlight() {
        return inFlight;
      },
    };
  }

  const old: Promise<void>[] = [];
  const timer = setInterval(() => {
    let now: string;
    try {
      now = stamp(files);
    } catch (e) {
      log?.error("TLS files of '{addr}' cannot be read: {reason}; keeping the loaded ones", {
        addr: shown,
        reason: (e as Error).message,
      });
      return;
    }
    if (now === seen) return;
    seen = now;
    let next: typeof current;
    try {
      next = start(local.port, read(files));
    } catch (e) {
      log?.error("New TLS files of '{addr}' cannot be used: {reason}; keeping the loaded ones", {
        addr: shown,
        reason: (e as Error).message,
      });
      return;
    }
    const previous = current;
    current = next;
    old.push(previous.shutdown());
    log?.info("Reloaded the TLS certificate of '{addr}'", { addr: shown });
  }, options.tlsCheckMs ?? 2000);
  return {
    addr: shown,
    shutdown: () => {
      clearInterval(timer);
      return stop(old);
    },
    finished: done.promise,
    get inFlight() {
      return inFlight;
    },
  };
}

/** The socket table of a guard, or undefined (logged) where it cannot be had. */
function openTable(
  open: (() => SocketTable) | undefined,
  addr: string,
  log: Logger | undefined,
): SocketTable | undefined {
  try {
    return (open ?? openSocketTable)();
  } catch (e) {
    log?.warn(
      "Connection limits of '{addr}' are off (header_timeout, idle_timeout, max_connections): {reason}",
      { addr, reason: (e as Error).message },
    );
    return undefined;
  }
}
