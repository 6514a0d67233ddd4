/**
 * Group commit: concurrent writers' KV sets are gathered into as few atomic commits as the
 * KV limits allow. A writer's promise resolves only once its entries are durable.
 *
 * @module
 */

/** KV limits with headroom: at most 1000 mutations and 800 KiB per atomic commit. */
const MAX_MUTATIONS = 900;
const MAX_BYTES = 600_000;

/** One key/value to set, with an estimate of its encoded size. */
export interface Entry {
  /** The key. */
  key: Deno.KvKey;
  /** The value. */
  value: unknown;
  /** Estimated encoded size in bytes. */
  size: number;
}

interface Pending extends Entry {
  done: () => void;
  fail: (e: unknown) => void;
}

/** Gathers concurrent `write` calls into batched atomic commits. */
export class GroupCommit {
  #kv: Deno.Kv;
  #queue: Pending[] = [];
  #running: Promise<void> | null = null;

  /** Writes through `kv`. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Sets every entry; resolves when all are committed, rejects if their commit failed. */
  write(entries: readonly Entry[]): Promise<void> {
    const promises = entries.map((entry) =>
      new Promise<void>((done, fail) => this.#queue.push({ ...entry, done, fail }))
    );
    this.#running ??= this.#drain();
    return Promise.all(promises).then(() => {});
  }

  /** Resolves once everything written so far is committed. */
  async flushed(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      // Let writers of the same tick join the first batch.
      await Promise.resolve();
      while (this.#queue.length) await this.#commitBatch();
    } finally {
      // Cleared with no await after the loop saw the queue empty, so no write() can slip in
      // between and find a drain that will never look at its entries.
      this.#running = null;
    }
  }

  async #commitBatch(): Promise<void> {
    const batch: Pending[] = [];
    let bytes = 0;
    while (
      this.#queue.length && batch.length < MAX_MUTATIONS &&
      (batch.length === 0 || bytes + this.#queue[0].size <= MAX_BYTES)
    ) {
      const next = this.#queue.shift()!;
      bytes += next.size;
      batch.push(next);
    }
    const op = this.#kv.atomic();
    for (const e of batch) op.set(e.key, e.value);
    try {
      const result = await op.commit();
      if (!result.ok) throw new Error("KV commit was rejected");
      for (const e of batch) e.done();
    } catch (e) {
      for (const p of batch) p.fail(e);
    }
  }
}
