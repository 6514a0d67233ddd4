/**
 * Byte helpers shared by the areas: joining chunks, and keeping output up to a limit.
 *
 * @module
 */

/** `parts` joined into one array (the part itself when there is only one). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Keeps the first `max` bytes of what is added; the rest is discarded. */
export class LimitedBuffer {
  #parts: Uint8Array[] = [];
  #kept = 0;

  /** Keeps at most `max` bytes. */
  constructor(readonly max: number) {}

  /** Whether nothing more will be kept. */
  get full(): boolean {
    return this.#kept >= this.max;
  }

  /** Keeps `bytes` (not copied), or the part of it that still fits. */
  add(bytes: Uint8Array): void {
    if (this.full) return;
    const part = bytes.length + this.#kept > this.max
      ? bytes.subarray(0, this.max - this.#kept)
      : bytes;
    this.#parts.push(part);
    this.#kept += part.length;
  }

  /** Everything kept, as one array. */
  bytes(): Uint8Array {
    return concatBytes(this.#parts);
  }
}

/**
 * Bytes appended by copy into one buffer that doubles as it fills. A stream's chunks can be
 * small views of large buffers (a chunked body's 3-byte chunks each keep a 64 KiB buffer alive),
 * so keeping the chunks would hold far more memory than was received; this holds at most twice.
 */
export class GrowingBytes {
  #buffer: Uint8Array;
  #length = 0;

  /** Starts with room for `capacity` bytes (default 16 KiB). */
  constructor(capacity = 16 * 1024) {
    this.#buffer = new Uint8Array(Math.max(1, capacity));
  }

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Copies `bytes` in. */
  append(bytes: Uint8Array): void {
    const need = this.#length + bytes.length;
    if (need > this.#buffer.length) {
      let size = this.#buffer.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = next;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length = need;
  }

  /** What was appended, as a view (no copy). */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }
}
