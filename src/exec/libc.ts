/**
 * The few libc calls the native spawner needs, through Deno's FFI. Linux only (glibc or musl);
 * {@linkcode libc} returns `null` elsewhere, when FFI is not permitted, or when
 * `HOOKHOST_SPAWN=command` asks for the portable `Deno.Command` path.
 *
 * The library is opened at the first call of {@linkcode libc}, when the first script starts, not
 * when this module loads: FFI costs ~3 MB of resident memory that a daemon which has run no script
 * (or serves only plugins) need not pay yet.
 *
 * @module
 */

const SYMBOLS = {
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  syscall: { parameters: ["i64", "i64", "i64"], result: "i64" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  sigaddset: { parameters: ["buffer", "i32"], result: "i32" },
  sigaction: { parameters: ["i32", "pointer", "buffer"], result: "i32" },
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
    // posix_spawn waits for the child's exec; off the main thread that wait costs nothing.
    nonblocking: true,
  },
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_addchdir_np: {
    parameters: ["buffer", "buffer"],
    result: "i32",
    optional: true,
  },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  // The address of `char **environ`: what the environment is now, for a cheap check of whether
  // it changed since a child was last given it.
  environ: { type: "pointer" },
} as const;

/** The bound libc functions. */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Linux values, the same on x86_64 and aarch64, glibc and musl. */
export const C = {
  O_NONBLOCK: 0o4000,
  O_CLOEXEC: 0o2000000,
  F_GETFL: 3,
  F_SETFL: 4,
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  ECHILD: 10,
  EACCES: 13,
  ENOSYS: 38,
  EAGAIN: 11,
  WNOHANG: 1,
  EPOLLIN: 0x1,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CLOEXEC: 0o2000000,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
  SIGPIPE: 13,
  SIG_IGN: 1n,
  SYS_PIDFD_OPEN: 434,
  POSIX_SPAWN_SETSIGDEF: 0x04,
  POSIX_SPAWN_SETSIGMASK: 0x08,
  POSIX_SPAWN_SETPGROUP: 0x02,
  POSIX_SPAWN_SETSID: 0x80,
} as const;

/** The names libc goes by: glibc's, then musl's on x86_64 and aarch64. */
export const LIBC_NAMES: readonly string[] = [
  "libc.so.6",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
];

function open(): LibcSymbols | null {
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.env.get("HOOKHOST_SPAWN") === "command") return null;
  } catch {
    // No env permission: the default applies.
  }
  for (const name of LIBC_NAMES) {
    try {
      return Deno.dlopen(name, SYMBOLS).symbols;
    } catch {
      // Not this one, or FFI not permitted.
    }
  }
  return null;
}

let opened: LibcSymbols | null | undefined;

/** libc, or `null` when the native spawner is unavailable here; opened at the first call. */
export function libc(): LibcSymbols | null {
  if (opened === undefined) opened = open();
  return opened;
}

/** The calling thread's `errno` (read right after the failing call). */
export function errno(lib: LibcSymbols): number {
  const p = lib.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** The text of error number `code`, in Deno's style: `No such file or directory (os error 2)`. */
export function describeErrno(lib: LibcSymbols, code: number): string {
  const p = lib.strerror(code);
  const text = p ? Deno.UnsafePointerView.getCString(p) : "Unknown error";
  return `${text} (os error ${code})`;
}

const encoder = new TextEncoder();

/**
 * Reusable off-heap buffers. Allocating a fresh `ArrayBuffer` of a kilobyte or more per spawn
 * made glibc's malloc consolidate its free lists several percent of the daemon's time.
 */
export class BufferPool {
  #free: Uint8Array[] = [];

  /** A zero-filled buffer of at least `size` bytes; give it back when C code is done with it. */
  take(size: number): Uint8Array {
    const i = this.#free.findIndex((b) => b.length >= size);
    if (i < 0) {
      // An explicit ArrayBuffer lives off V8's heap, so pointers into it stay valid.
      return new Uint8Array(new ArrayBuffer(Math.max(4096, 2 ** Math.ceil(Math.log2(size)))));
    }
    const buffer = this.#free.splice(i, 1)[0];
    buffer.fill(0);
    return buffer;
  }

  /** Returns `buffer` for reuse. */
  give(buffer: Uint8Array): void {
    if (this.#free.length < 64) this.#free.push(buffer);
  }
}

/**
 * `list` as a C `char *[]` for `argv`/`envp`, in one buffer from `pool`: the NULL-terminated
 * pointer array first, then the NUL-terminated strings it points to. Pass the buffer itself as
 * the array; give it back to `pool` once the call is over. Throws `TypeError` for a string with
 * a NUL byte.
 */
export function cStrings(list: readonly string[], pool: BufferPool): Uint8Array {
  const head = 8 * (list.length + 1);
  let size = head;
  for (const s of list) {
    if (s.includes("\0")) throw new TypeError(`Argument contains a NUL byte: '${s.slice(0, 40)}'`);
    size += 3 * s.length + 1; // UTF-8 takes at most 3 bytes per UTF-16 unit.
  }
  const bytes = pool.take(size);
  const ptrs = new BigUint64Array(bytes.buffer, 0, list.length + 1);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  let offset = head;
  list.forEach((s, i) => {
    ptrs[i] = base + BigInt(offset);
    offset += encoder.encodeInto(s, bytes.subarray(offset)).written + 1; // + the NUL (zeroed).
  });
  ptrs[list.length] = 0n;
  return bytes;
}
