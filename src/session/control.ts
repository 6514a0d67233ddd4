/**
 * The local control channel of a running session: a Unix socket in the state folder speaking
 * one JSON line each way. `hookhost send` uses it to hand a message to the running daemon, which
 * answers once the message is durable.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";
import type { Source } from "../inbox/message.ts";
import { checkOwnEntry } from "../kv/private_dir.ts";
import { sessionPaths } from "./lock.ts";

/** Requests a session answers. */
export type ControlRequest =
  | { op: "send"; content: string; source?: Source; label?: string }
  | { op: "ping" }
  | { op: "wake" }
  | { op: "plugins" }
  | { op: "emit"; event: string; params: Record<string, unknown> };

/** Answers. */
export type ControlResponse =
  | {
    ok: true;
    id?: string;
    pid?: number;
    name?: string;
    plugins?: unknown[];
    delivered?: number;
    refusals?: Record<string, number>;
    workers?: Record<string, unknown[]>;
  }
  | { ok: false; error: string };

/** Nobody listens on the socket: the session is not running. */
export class NotRunningError extends HookhostError {
  /** The socket that did not answer. */
  constructor(path: string, cause?: unknown) {
    super("not_running", `No session is listening on '${path}'`, { cause });
  }
}

// Unix socket paths are limited to about 104-108 bytes depending on the OS.
const MAX_SOCKET_PATH = 100;

function checkPath(path: string): void {
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
    throw new HookhostError(
      "socket_path_too_long",
      `Control socket path '${path}' is too long for a Unix socket; use a shorter --state`,
    );
  }
}

async function readLine(conn: Deno.Conn, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  while (!text.includes("\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
    if (text.length > limit) throw new RangeError("Control message too large");
  }
  return text.split("\n")[0];
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** A listening control socket. */
export interface ControlServer {
  /** Stops accepting and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves `handle` on a Unix socket at `path` (a stale socket file is replaced). A client must
 * send its request line within `readTimeoutMs` (default 5000). `close()` is idempotent.
 */
export async function serveControl(
  path: string,
  handle: (req: ControlRequest) => Promise<ControlResponse>,
  options: { maxBytes?: number; readTimeoutMs?: number } = {},
): Promise<ControlServer> {
  checkPath(path);
  // The caller holds the session lock, so a socket file here is stale.
  await Deno.remove(path).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const readTimeoutMs = options.readTimeoutMs ?? 5000;
  const conns = new Set<Promise<void>>();
  const open = new Set<Deno.Conn>(); // connections still reading their request line
  const serveConn = async (conn: Deno.Conn) => {
    open.add(conn);
    // A client that connects and never sends must not hold a shutdown up.
    const timer = setTimeout(() => closeQuietly(conn), readTimeoutMs);
    try {
      const line = await readLine(conn, maxBytes);
      clearTimeout(timer);
      open.delete(conn);
      let answer: ControlResponse;
      try {
        answer = await handle(JSON.parse(line) as ControlRequest);
      } catch (e) {
        answer = { ok: false, error: (e as Error).message };
      }
      await writeAll(conn, JSON.stringify(answer) + "\n");
    } catch {
      // The client went away; it will report that itself.
    } finally {
      clearTimeout(timer);
      open.delete(conn);
      closeQuietly(conn);
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const p = serveConn(conn).finally(() => conns.delete(p));
      conns.add(p);
    }
  })().catch(() => {});
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        listener.close();
        await accepting;
        // Requests already read are answered; connections still waiting for a line are closed.
        for (const conn of open) closeQuietly(conn);
        await Promise.all(conns);
        await Deno.remove(path).catch(() => {});
      })();
      return closing;
    },
  };
}

/**
 * Sends one request to the session listening at `path`. Throws {@linkcode NotRunningError}
 * when nothing listens, a {@linkcode HookhostError} when the session fails to answer.
 */
export async function controlRequest(
  path: string,
  request: ControlRequest,
  options: { timeoutMs?: number } = {},
): Promise<ControlResponse> {
  checkPath(path);
  // Another user's socket (planted where a session's would be) never gets a message.
  if (!await checkOwnEntry(path, "socket")) throw new NotRunningError(path);
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    // Reset while connecting: the session is going away, as good as not running.
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused ||
      e instanceof Deno.errors.ConnectionReset
    ) {
      throw new NotRunningError(path, e);
    }
    throw e;
  }
  // Not `setTimeout`: Deno's global timers are Node's, and loading them costs a short-lived
  // `hookhost send` ~6 ms of its ~25. The signal's timer is the web platform's; it keeps the
  // process alive only while the listener is on.
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const onTimeout = () => closeQuietly(conn);
  timeout.addEventListener("abort", onTimeout);
  try {
    await writeAll(conn, JSON.stringify(request) + "\n");
    const line = await readLine(conn, 1024 * 1024);
    if (!line) throw new Error("connection closed without an answer");
    return JSON.parse(line) as ControlResponse;
  } catch (e) {
    throw new HookhostError(
      "no_answer",
      `The session did not confirm the request: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    timeout.removeEventListener("abort", onTimeout);
    // Already closed if the time ran out.
    closeQuietly(conn);
  }
}

/**
 * Tells session `name`, if it runs, that its inbox or schedules changed behind its back (another
 * process wrote KV). Best effort: a session that is not running finds out when it starts.
 */
export async function wakeSession(stateDir: string, name: string): Promise<void> {
  await controlRequest(sessionPaths(stateDir, name).socket, { op: "wake" }).catch(() => {});
}
