/**
 * A readiness loop over raw file descriptors for the native spawner: an epoll set that the main
 * thread changes directly, and one `epoll_wait` at a time on Deno's blocking thread pool, whose
 * events are handled on the main thread. The wait runs only while something is watched, so an
 * idle process has no pending operation (and can exit).
 *
 * @module
 */
import { C, type LibcSymbols } from "./libc.ts";

/** Called with the epoll event bits once the descriptor is ready. */
export type ReadyCallback = (events: number) => void;

// struct epoll_event is packed on x86_64 (12 bytes), naturally aligned elsewhere (16).
const EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
const DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;
const MAX_EVENTS = 256;

/** Watches raw descriptors for readiness. */
export class FdReactor {
  #lib: LibcSymbols;
  #epoll: number;
  #wake: number;
  #watches = new Map<number, ReadyCallback>();
  #waiting = false;
  #inWait = false;
  #ctl = new DataView(new ArrayBuffer(16));
  #one = new BigUint64Array([1n]);
  #eventBytes = new Uint8Array(new ArrayBuffer(MAX_EVENTS * EVENT_SIZE));
  #events = new DataView(this.#eventBytes.buffer);

  /** A reactor over `lib`: creates its epoll set and wake-up eventfd. */
  constructor(lib: LibcSymbols) {
    this.#lib = lib;
    this.#epoll = lib.epoll_create1(C.EPOLL_CLOEXEC);
    this.#wake = lib.eventfd(0, C.EFD_CLOEXEC | C.EFD_NONBLOCK);
    if (this.#epoll < 0 || this.#wake < 0) throw new Error("Cannot create an epoll set");
    this.#control(C.EPOLL_CTL_ADD, this.#wake, C.EPOLLIN);
  }

  /** Number of watched descriptors. */
  get size(): number {
    return this.#watches.size;
  }

  #control(op: number, fd: number, events: number): void {
    this.#ctl.setUint32(0, events, true);
    this.#ctl.setInt32(DATA_OFFSET, fd, true);
    this.#lib.epoll_ctl(this.#epoll, op, fd, new Uint8Array(this.#ctl.buffer));
  }

  /**
   * Calls `ready` whenever `fd` has any of `events` (`EPOLLIN`, `EPOLLOUT`; errors and hang-ups
   * are always reported) until {@linkcode unwatch}, which must come before `fd` is closed.
   */
  watch(fd: number, events: number, ready: ReadyCallback): void {
    this.#watches.set(fd, ready);
    this.#control(C.EPOLL_CTL_ADD, fd, events);
    if (!this.#waiting) void this.#loop();
  }

  /**
   * Stops watching `fd`. With `closing`, the caller closes `fd` right away, which removes it from
   * the epoll set by itself (one system call fewer); otherwise it is removed here.
   */
  unwatch(fd: number, options: { closing?: boolean } = {}): void {
    if (!this.#watches.delete(fd)) return;
    if (!options.closing) this.#control(C.EPOLL_CTL_DEL, fd, 0);
    // A wait still pending with nothing left to watch would keep the process alive.
    if (this.#watches.size === 0 && this.#inWait) {
      this.#lib.write(this.#wake, new Uint8Array(this.#one.buffer), 8n);
    }
  }

  async #loop(): Promise<void> {
    this.#waiting = true;
    try {
      while (this.#watches.size) {
        // One buffer will do: there is one wait at a time, and its events are read before the next.
        const events = this.#events;
        this.#inWait = true;
        const n = await this.#lib.epoll_wait(this.#epoll, this.#eventBytes, MAX_EVENTS, -1)
          .finally(() => (this.#inWait = false));
        for (let i = 0; i < n; i++) {
          const bits = events.getUint32(i * EVENT_SIZE, true);
          const fd = events.getInt32(i * EVENT_SIZE + DATA_OFFSET, true);
          if (fd === this.#wake) {
            this.#lib.read(this.#wake, new Uint8Array(8), 8n);
            continue;
          }
          // Gone already, or a new descriptor with a reused number: a spurious call is harmless.
          this.#watches.get(fd)?.(bits);
        }
      }
    } finally {
      this.#waiting = false;
    }
  }
}
