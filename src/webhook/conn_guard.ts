/**
 * The connection guard of a listener: what `Deno.serve` does not bound. Once a tick it reads the
 * listener's connections from the kernel ({@linkcode SocketTable}) and ends those that
 *
 * - sent no whole request head within `header_timeout` (from the connection's start, or from
 *   the first byte after an answer),
 * - stayed idle between requests longer than `idle_timeout`,
 * - were answered `Connection: close` (a refused body, which `Deno.serve` would otherwise keep
 *   reading from the client, or waiting for),
 * - are over `max_connections`: the newest that never had a request first, then the longest
 *   idle; a connection in the middle of a request is never ended (its own timeouts bound it).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { peerKey, type SocketInfo, type SocketTable } from "./socket_table.ts";

/** Answers made by {@linkcode closeAfter}. */
const closing = new WeakSet<Response>();

/**
 * Marks `answer` as one after which its connection must close (`Connection: close`), and
 * returns it. `Deno.serve` keeps a connection open after such an answer while the client holds
 * back the rest of a body; the guard ends it at its next tick.
 */
export function closeAfter(answer: Response): Response {
  answer.headers.set("connection", "close");
  closing.add(answer);
  return answer;
}

/** What the guard holds to, in seconds, and how it looks. */
export interface ConnGuardOptions {
  /** Seconds a request head may take (`header_timeout`). */
  headerTimeout: number;
  /** Seconds a connection may be idle between requests (`idle_timeout`). */
  idleTimeout: number;
  /** Connections of the listener at most (`max_connections`). */
  maxConnections: number;
  /** The listener's IP; connections to other IPs on the same port are not its. */
  ip?: string;
  /** Where what was ended is logged, at most once per `logEveryMs` (default 10,000). */
  log?: Logger;
  /** Ms between ticks (default 1000); ticks never keep the process alive. */
  everyMs?: number;
  /** The clock (default `Date.now`); tests drive it and call {@linkcode ConnGuard.tick}. */
  now?: () => number;
  /** The listener's name in log lines. */
  name?: string;
  /** Ms between log lines (default 10,000). */
  logEveryMs?: number;
}

/** Why a connection was ended: the keys of {@linkcode ConnGuard.ended}. */
export type EndReason = "head" | "idle" | "close" | "over";

interface Conn {
  seen: number;
  active: number;
  started: number;
  lastEnd?: number;
  closeAfter: boolean;
  /** `started` when `idleBytes` was noted: a new idle spell starts when it changes. */
  idleMark: number;
  idleBytes: number;
  headStart?: number;
}

/** Ends a listener's connections that break its limits; see the module doc. */
export class ConnGuard {
  #conns = new Map<string, Conn>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending: Record<EndReason, number> = { head: 0, idle: 0, close: 0, over: 0 };
  #lastLog = -Infinity;
  /** Connections ended since the start, by reason. */
  readonly ended: Record<EndReason, number> = { head: 0, idle: 0, close: 0, over: 0 };

  /** Guards the connections of `port` as read from `table`. */
  constructor(
    readonly port: number,
    readonly table: SocketTable,
    readonly options: ConnGuardOptions,
  ) {}

  /** Starts ticking every `everyMs`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      try {
        this.tick();
      } catch (e) {
        // Out of fds, /proc/self/fd cannot even be listed: the next tick tries again.
        this.options.log?.debug("Connection guard skipped a tick: {reason}", {
          reason: (e as Error).message,
        });
      }
    }, this.options.everyMs ?? 1000);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops ticking (the table stays open: its owner closes it). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * Notes that a request head arrived from `remote`; pass what it returns to
   * {@linkcode ConnGuard.answered} with the answer. Cheap: it runs for every request.
   */
  requested(remote: { hostname: string; port: number }): object {
    const key = remote.hostname.includes(":")
      ? peerKey(remote.hostname, remote.port)
      : `${remote.hostname}:${remote.port}`;
    let conn = this.#conns.get(key);
    if (!conn) {
      conn = {
        seen: this.#now(),
        active: 0,
        started: 0,
        closeAfter: false,
        idleMark: -1,
        idleBytes: 0,
      };
      this.#conns.set(key, conn);
    }
    conn.active++;
    conn.started++;
    return conn;
  }

  /**
   * Notes the answer (null when the handler threw) of a request {@linkcode ConnGuard.requested}
   * gave `conn` for. An answer made by {@linkcode closeAfter} ends the connection at the next tick.
   */
  answered(conn: object, answer: Response | null): void {
    const c = conn as Conn;
    c.active--;
    c.lastEnd = this.#now();
    if (answer && closing.has(answer)) c.closeAfter = true;
  }

  /** Looks at every connection once and ends what breaks a limit. */
  tick(): void {
    const now = this.#now();
    const { headerTimeout, idleTimeout, maxConnections } = this.options;
    const sockets = this.table.connections(this.port, this.options.ip);
    const present = new Set<string>();
    const open: { socket: SocketInfo; conn: Conn }[] = [];
    for (const socket of sockets) {
      present.add(socket.peer);
      let conn = this.#conns.get(socket.peer);
      if (!conn) {
        conn = {
          seen: now,
          active: 0,
          started: 0,
          closeAfter: false,
          idleMark: 0,
          idleBytes: socket.bytesReceived,
        };
        this.#conns.set(socket.peer, conn);
      }
      const reason = this.#verdict(conn, socket, now, headerTimeout * 1000, idleTimeout * 1000);
      if (reason) this.#end(socket, reason);
      else open.push({ socket, conn });
    }
    for (const [key, conn] of this.#conns) {
      if (!present.has(key) && conn.active === 0) this.#conns.delete(key);
    }
    if (open.length > maxConnections) {
      const idle = open.filter((o) => o.conn.active === 0);
      // Newest never-served first, then the longest idle: established clients keep their place.
      idle.sort((a, b) =>
        Number(b.conn.started === 0) - Number(a.conn.started === 0) ||
        (a.conn.started === 0
          ? b.conn.seen - a.conn.seen
          : (a.conn.lastEnd ?? a.conn.seen) - (b.conn.lastEnd ?? b.conn.seen))
      );
      for (const o of idle.slice(0, open.length - maxConnections)) this.#end(o.socket, "over");
    }
    this.#report(now);
  }

  #verdict(
    conn: Conn,
    socket: SocketInfo,
    now: number,
    headerMs: number,
    idleMs: number,
  ): EndReason | null {
    if (conn.active > 0) {
      conn.headStart = undefined;
      return null;
    }
    if (conn.closeAfter) return "close";
    if (conn.started === 0) return now - conn.seen >= headerMs ? "head" : null;
    if (conn.idleMark !== conn.started) {
      conn.idleMark = conn.started;
      conn.idleBytes = socket.bytesReceived;
      conn.headStart = undefined;
    } else if (conn.headStart === undefined && socket.bytesReceived > conn.idleBytes) {
      conn.headStart = now; // Part of a next request head came since the last answer.
    }
    if (conn.headStart !== undefined && now - conn.headStart >= headerMs) return "head";
    return now - (conn.lastEnd ?? conn.seen) >= idleMs ? "idle" : null;
  }

  #end(socket: SocketInfo, reason: EndReason): void {
    this.#conns.delete(socket.peer);
    if (!this.table.end(socket)) return;
    this.ended[reason]++;
    this.#pending[reason]++;
  }

  #report(now: number): void {
    const p = this.#pending;
    if (p.head + p.idle + p.close + p.over === 0) return;
    if (now - this.#lastLog < (this.options.logEveryMs ?? 10_000)) return;
    this.#lastLog = now;
    this.options.log?.warn(
      "Closed connections of '{listener}': {head} without a request head within {header}s, {idle} idle over {idleTimeout}s, {close} after a refused body, {over} over max_connections {max}",
      {
        listener: this.options.name ?? String(this.port),
        ...p,
        header: this.options.headerTimeout,
        idleTimeout: this.options.idleTimeout,
        max: this.options.maxConnections,
      },
    );
    this.#pending = { head: 0, idle: 0, close: 0, over: 0 };
  }
}
