/**
 * What an attacker's client does that `fetch` cannot: raw HTTP/1.1 on a socket (a head sent in
 * pieces, a body in tiny chunks, a connection left idle), and what the attacked daemon holds,
 * read from `/proc`.
 *
 * @module
 */
import { scaled, WAIT_MS } from "./_poll.ts";
import { statFields } from "../src/exec/mod.ts";

const encoder = new TextEncoder();

/** Writes all of `bytes`; false once the peer has closed. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array | string): Promise<boolean> {
  const b = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  try {
    for (let at = 0; at < b.length;) at += await conn.write(b.subarray(at));
    return true;
  } catch {
    return false;
  }
}

/** A request head for `path` with `headers` (no blank line when `open` is set). */
export function head(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): string {
  let out = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
  return out + "\r\n";
}

/** An answer read off a raw connection. */
export interface RawAnswer {
  /** Status, or -1 when the connection closed (or `ms` passed) without one. */
  status: number;
  /** Everything read (head and body). */
  text: string;
}

const decoder = new TextDecoder();

/** Whether `text` holds a whole response: a head and the `Content-Length` bytes after it. */
function complete(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /^content-length: *(\d+)/im.exec(text.slice(0, end));
  return text.length - end - 4 >= Number(length?.[1] ?? 0);
}

/**
 * Reads one answer: until its head and `Content-Length` body are in, the peer closes, or `ms`
 * (scaled) pass. The connection stays open; {@linkcode closed} tells whether the peer then closes.
 */
export async function readAnswer(conn: Deno.Conn, ms = WAIT_MS): Promise<RawAnswer> {
  let text = "";
  const buf = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => close(conn), scaled(ms));
  try {
    while (!complete(text)) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
    }
  } catch {
    // Reset by the peer, or closed by the timer.
  } finally {
    clearTimeout(timer);
  }
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return { status: m ? Number(m[1]) : -1, text };
}

/** Closes `conn` if it is not closed already. */
export function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/**
 * Whether the peer closes `conn` (end of stream or reset) within `ms`, scaled; whatever it sends
 * meanwhile is discarded. `conn` is closed either way.
 */
export async function closed(conn: Deno.Conn, ms = WAIT_MS): Promise<boolean> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    close(conn);
  }, scaled(ms));
  const buf = new Uint8Array(16 * 1024);
  try {
    while (await conn.read(buf) !== null);
  } catch {
    // Reset by the peer, or closed by the timer.
  } finally {
    clearTimeout(timer);
    close(conn);
  }
  return !timedOut;
}

/** Connects to `127.0.0.1:port`. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** `POST path` with `body` sent as chunks of `size` bytes each; the answer. */
export async function postChunked(
  port: number,
  body: Uint8Array,
  options: { path?: string; size?: number; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  const conn = await connect(port);
  const size = options.size ?? 3;
  const headers = { ...options.headers, "Transfer-Encoding": "chunked", Connection: "close" };
  await writeAll(conn, head("POST", options.path ?? "/", headers));
  // Many chunks per write, so the daemon reads them together, as from a fast client.
  let batch = "";
  for (let i = 0; i < body.length; i += size) {
    const part = new TextDecoder().decode(body.subarray(i, i + size));
    batch += `${part.length.toString(16)}\r\n${part}\r\n`;
    if (batch.length >= 8192) {
      if (!await writeAll(conn, batch)) break;
      batch = "";
    }
  }
  await writeAll(conn, batch + "0\r\n\r\n");
  try {
    return await readAnswer(conn);
  } finally {
    close(conn);
  }
}

/** Resident memory of process `pid` in bytes, from `/proc/PID/status`. */
export function rss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
}

/** Open file descriptors of process `pid`, from `/proc/PID/fd`. */
export function fds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Processes by pid: parent pid, CPU time used (ms) and command line, from `/proc`. */
function processes(): Map<number, { ppid: number; cpuMs: number; cmdline: string }> {
  const out = new Map<number, { ppid: number; cpuMs: number; cmdline: string }>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const f = statFields(Deno.readTextFileSync(`/proc/${e.name}/stat`));
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      // utime and stime, in clock ticks of 10 ms.
      out.set(Number(e.name), {
        ppid: Number(f[1]),
        cpuMs: (Number(f[11]) + Number(f[12])) * 10,
        cmdline,
      });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** `pid` and every process below it, with their CPU time and command lines. */
export function tree(pid: number): { pid: number; cpuMs: number; cmdline: string }[] {
  const all = processes();
  const out: { pid: number; cpuMs: number; cmdline: string }[] = [];
  const walk = (p: number) => {
    const me = all.get(p);
    if (!me) return;
    out.push({ pid: p, cpuMs: me.cpuMs, cmdline: me.cmdline });
    for (const [child, c] of all) if (c.ppid === p) walk(child);
  };
  walk(pid);
  return out;
}

/** The pid of plugin `name`'s process below `daemon` (`hookhost __plugin-host NAME`). */
export function pluginPid(daemon: number, name: string): number | undefined {
  return tree(daemon).find((p) => p.cmdline.trim().endsWith(`__plugin-host ${name}`))?.pid;
}

/** CPU time (ms) that `pid` and the processes below it have used, live ones only. */
export function treeCpuMs(pid: number): number {
  return tree(pid).reduce((n, p) => n + p.cpuMs, 0);
}

/** 1 MiB, for figures. */
export const MIB = 1024 * 1024;
