/**
 * Serving a handler on a bind address with `Deno.serve`, over HTTP or, with PEM files, HTTPS whose
 * certificate is reloaded when the files change.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { formatAddr, parseBind } from "../config/bind.ts";

/** A running listener. */
export interface Listener {
  /** The real `host:port` (the chosen port when bound to port 0). */
  addr: string;
  /** Stops accepting and waits for in-flight requests. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
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
  const start = (port: number, tls?: { cert: string; key: string }) =>
    Deno.serve({
      hostname: addr.ip,
      port,
      onListen: () => {},
      ...(tls ? { ...tls, reusePort: true } : {}),
      // One log line instead of Deno's default stack trace on stderr.
      onError: (e) => {
        log?.error("Request failed: {reason}", { reason: (e as Error)?.message ?? String(e) });
        return new Response("Internal error\n", { status: 500 });
      },
    }, handler);
  const files = options.tls;
  const read = (f: TlsFiles) => ({
    cert: Deno.readTextFileSync(f.cert),
    key: Deno.readTextFileSync(f.key),
  });
  let seen = files ? stamp(files) : "";
  let server = start(addr.port, files && read(files));
  const local = server.addr as Deno.NetAddr;
  const shown = formatAddr(local.hostname, local.port);
  if (!files) {
    return { addr: shown, shutdown: () => server.shutdown(), finished: server.finished };
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
    let next: typeof server;
    try {
      next = start(local.port, read(files));
    } catch (e) {
      log?.error("New TLS files of '{addr}' cannot be used: {reason}; keeping the loaded ones", {
        addr: shown,
        reason: (e as Error).message,
      });
      return;
    }
    const previous = server;
    server = next;
    old.push(previous.shutdown());
    log?.info("Reloaded the TLS certificate of '{addr}'", { addr: shown });
  }, options.tlsCheckMs ?? 2000);
  const done = Promise.withResolvers<void>();
  return {
    addr: shown,
    shutdown: async () => {
      clearInterval(timer);
      await Promise.all([server.shutdown(), ...old]);
      done.resolve();
    },
    finished: done.promise,
  };
}
