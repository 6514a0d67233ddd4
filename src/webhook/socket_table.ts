/**
 * The TCP connections this process holds on a local port, read from the kernel: `Deno.serve`
 * tells a handler nothing of connections that never send a whole request head, and has no
 * header or idle timeouts, so the connection guard looks at the sockets themselves (libc
 * `getsockname`, `getpeername` and `getsockopt(TCP_INFO)` on each fd of `/proc/self/fd`) and
 * ends one with `shutdown`, which makes `Deno.serve` drop it and close its fd.
 *
 * Linux only; needs FFI (granted by `--allow-all`, as `deno task hookhost` and the compiled
 * binary run). {@linkcode openSocketTable} throws where it cannot work.
 *
 * @module
 */

/** One accepted connection on a watched port. */
export interface SocketInfo {
  /** The fd it has in this process. */
  fd: number;
  /** The peer as `host:port`, `host` spelled as {@linkcode peerKey} spells it. */
  peer: string;
  /** Bytes the peer has sent on it (`tcpi_bytes_received`). */
  bytesReceived: number;
}

/** The sockets of this process, by local port: what the connection guard reads and ends. */
export interface SocketTable {
  /** Connections accepted on `port` (of `ip`, unless that is unspecified), listeners left out. */
  connections(port: number, ip?: string): SocketInfo[];
  /** Ends connection `socket` (both ways) if its fd is still that connection. */
  end(socket: SocketInfo): boolean;
  /** Releases the library. */
  close(): void;
}

/** `hostname:port` of a peer (IPv6 in brackets), the same whichever side spells it. */
export function peerKey(hostname: string, port: number): string {
  const host = hostname.includes(":") ? new URL(`http://[${hostname}]/`).hostname : hostname;
  return `${host}:${port}`;
}

const AF_INET = 2;
const AF_INET6 = 10;
const SOL_TCP = 6;
const TCP_INFO = 11;
const SHUT_RDWR = 2;
const TCP_LISTEN = 10;
const TCP_INFO_SIZE = 232;
/** Offset of `tcpi_bytes_received` (u64) in `struct tcp_info` (Linux >= 4.1). */
const BYTES_RECEIVED_AT = 128;

/** An address of a sockaddr buffer, or null for a family that is not IP. */
function decode(buf: Uint8Array): { ip: string; port: number } | null {
  const family = buf[0] | (buf[1] << 8);
  const port = (buf[2] << 8) | buf[3];
  if (family === AF_INET) return { ip: buf.subarray(4, 8).join("."), port };
  if (family !== AF_INET6) return null;
  const groups: string[] = [];
  for (let i = 8; i < 24; i += 2) groups.push(((buf[i] << 8) | buf[i + 1]).toString(16));
  return { ip: normalIp(groups.join(":")), port };
}

/** Opens the kernel's socket table through libc; throws without FFI or off Linux. */
export function openSocketTable(): SocketTable {
  if (Deno.build.os !== "linux") throw new Error("only on Linux");
  const libc = Deno.dlopen("libc.so.6", {
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
  });
  const { getsockname, getpeername, getsockopt, shutdown } = libc.symbols;
  const addr = new Uint8Array(128);
  const len = new Uint32Array(1);
  const info = new Uint8Array(TCP_INFO_SIZE);
  const infoLen = new Uint32Array(1);
  const view = new DataView(info.buffer);
  // One fd kept in reserve: at the fd limit, listing /proc/self/fd needs one, and listing it is
  // how the guard finds the connections to end that free the rest. Nothing else runs while the
  // synchronous listing has it (Deno.serve accepts on this thread, between JS tasks).
  let spare: Deno.FsFile | null = Deno.openSync("/dev/null");
  const listFds = (): number[] => {
    const list = () => Array.from(Deno.readDirSync("/proc/self/fd"), (e) => Number(e.name));
    try {
      return list();
    } catch (e) {
      if (!spare || !/too many open files/i.test((e as Error).message)) throw e;
      spare.close();
      spare = null;
      try {
        return list();
      } finally {
        try {
          spare = Deno.openSync("/dev/null");
        } catch {
          // Taken meanwhile: the next tick that ends connections frees one again.
        }
      }
    }
  };
  const peerOf = (fd: number): string | null => {
    len[0] = addr.length;
    if (getpeername(fd, addr, len) !== 0) return null;
    const peer = decode(addr);
    return peer && peerKey(peer.ip, peer.port);
  };
  return {
    connections(port, ip) {
      const anyIp = ip === undefined || ip === "0.0.0.0" || ip === "::";
      const wanted = anyIp ? undefined : normalIp(ip);
      const found: SocketInfo[] = [];
      for (const fd of listFds()) {
        len[0] = addr.length;
        if (getsockname(fd, addr, len) !== 0) continue; // Not a socket (ENOTSOCK), or gone.
        const local = decode(addr);
        if (!local || local.port !== port || (wanted && local.ip !== wanted)) continue;
        infoLen[0] = TCP_INFO_SIZE;
        if (getsockopt(fd, SOL_TCP, TCP_INFO, info, infoLen) !== 0) continue;
        if (info[0] === TCP_LISTEN) continue;
        const peer = peerOf(fd);
        if (!peer) continue;
        const bytesReceived = infoLen[0] >= BYTES_RECEIVED_AT + 8
          ? Number(view.getBigUint64(BYTES_RECEIVED_AT, true))
          : 0;
        found.push({ fd, peer, bytesReceived });
      }
      return found;
    },
    end(socket) {
      // The fd may have been closed and reused since it was listed: end it only if it is still
      // the same connection.
      if (peerOf(socket.fd) !== socket.peer) return false;
      return shutdown(socket.fd, SHUT_RDWR) === 0;
    },
    close: () => {
      spare?.close();
      spare = null;
      libc.close();
    },
  };
}

/** `ip` spelled as {@linkcode decode} spells it: the URL standard's serialisation. */
function normalIp(ip: string): string {
  return ip.includes(":")
    ? new URL(`http://[${ip}]/`).hostname.slice(1, -1)
    : new URL(`http://${ip}/`).hostname;
}
