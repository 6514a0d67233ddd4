/**
 * Messages over a byte stream, for a plugin in a process of its own: each message is V8's
 * structured-clone serialisation (what `postMessage` between threads uses, so the same messages
 * cross, `Uint8Array` bodies included) behind its length as 4 bytes, little-endian.
 *
 * @module
 */

type V8 = typeof import("node:v8");
let v8: V8 | undefined;

/**
 * Loads the serialiser; call it before the rest. Imported when first needed, not with the
 * module: the first `node:` import costs a process ~9 ms, which no command but one that runs
 * plugins in processes should pay (test/bundle_test.ts).
 */
export async function loadFrames(): Promise<void> {
  v8 ??= await import("node:v8");
}

function codec(): V8 {
  if (!v8) throw new Error("loadFrames() was not awaited");
  return v8;
}

/** A frame longer than this is refused (a stream out of step, not a message). */
export const MAX_FRAME = 1 << 30;

/** `msg` as one frame. */
export function frame(msg: unknown): Uint8Array {
  const body = codec().serialize(msg);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  return out;
}

/**
 * The messages of `stream`, in order; ends when it does. Throws on a frame past
 * {@linkcode MAX_FRAME} or a stream that ends inside a frame.
 */
export async function* readFrames(stream: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  let buf: Uint8Array = new Uint8Array(0);
  for await (const chunk of stream) {
    buf = buf.length ? concat(buf, chunk) : chunk;
    let at = 0;
    while (buf.length - at >= 4) {
      const n = new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0, true);
      if (n > MAX_FRAME) throw new RangeError(`A frame of ${n} bytes is over the limit`);
      if (buf.length - at - 4 < n) break;
      yield codec().deserialize(buf.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    buf = at === buf.length ? new Uint8Array(0) : buf.subarray(at);
  }
  if (buf.length) throw new Error("The stream ended inside a frame");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Writes frames to `writer` in order. Frames sent while a write is under way go together in
 * the next one: one pipe write (and one wake-up of the reader) for a burst of messages.
 */
export class FrameWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #queue: Uint8Array[] = [];
  #flushing: Promise<void> | null = null;
  #failed = false;

  /** Writes to `writer`; a failed write (the reader is gone) drops what follows. */
  constructor(writer: WritableStreamDefaultWriter<Uint8Array>) {
    this.#writer = writer;
  }

  /** Queues `msg`. */
  send(msg: unknown): void {
    if (this.#failed) return;
    this.#queue.push(frame(msg));
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = null));
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length) {
        const parts = this.#queue;
        this.#queue = [];
        const bytes = parts.length === 1 ? parts[0] : join(parts);
        await this.#writer.write(bytes);
      }
    } catch {
      this.#failed = true;
      this.#queue = [];
    }
  }

  /** Closes the stream once what is queued is written. */
  async close(): Promise<void> {
    await this.#flushing;
    await this.#writer.close().catch(() => {});
  }
}

function join(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}
