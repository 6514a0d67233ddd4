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

/**
 * A frame longer than this is refused by default: what a plugin sends the host is at most this
 * (its answer's body included), so that a plugin cannot make the daemon hold more.
 */
export const MAX_FRAME = 64 * 1024 * 1024;

/** `msg` as one frame. */
export function frame(msg: unknown): Uint8Array {
  const body = codec().serialize(msg);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  return out;
}

/**
 * The messages of `stream`, in order; ends when it does. Throws on a frame longer than
 * `maxFrame` (default {@linkcode MAX_FRAME}) or a stream that ends inside a frame. Chunks are
 * kept as they arrive and copied once, into their frame: reading costs what was received, however
 * the sender cut it.
 */
export async function* readFrames(
  stream: ReadableStream<Uint8Array>,
  options: { maxFrame?: number } = {},
): AsyncGenerator<unknown> {
  const max = options.maxFrame ?? MAX_FRAME;
  const chunks: Uint8Array[] = [];
  let have = 0;
  /** The length of the frame being read, once its 4 bytes are in. */
  let want = -1;
  for await (const chunk of stream) {
    if (!chunk.length) continue;
    chunks.push(chunk);
    have += chunk.length;
    while (true) {
      if (want < 0) {
        if (have < 4) break;
        const head = take(chunks, 4);
        const n = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
        have -= 4;
        if (n > max) throw new RangeError(`A frame of ${n} bytes is over the limit of ${max}`);
        want = n;
      }
      if (have < want) break;
      const body = take(chunks, want);
      have -= want;
      want = -1;
      yield codec().deserialize(body);
    }
  }
  if (have || want >= 0) throw new Error("The stream ended inside a frame");
}

/** The first `n` bytes of `chunks`, removed from them (copied only when they span chunks). */
function take(chunks: Uint8Array[], n: number): Uint8Array {
  if (n === 0) return new Uint8Array(0);
  const first = chunks[0];
  // Most frames lie inside one chunk: a view of it, no copy.
  if (first.length >= n) {
    if (first.length === n) chunks.shift();
    else chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const c = chunks[0];
    const part = Math.min(c.length, n - at);
    out.set(c.subarray(0, part), at);
    at += part;
    if (part === c.length) chunks.shift();
    else chunks[0] = c.subarray(part);
  }
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
