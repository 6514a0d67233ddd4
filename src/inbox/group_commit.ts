/**
 * Group commit: concurrent writers' KV sets and deletes are gathered into as few atomic commits
 * as the KV limits allow. A writer's promise resolves only once its entries are durable; one
 * write that fits the limits is committed in a single commit, so it is all or nothing.
 *
 * @module
 */

/** KV limits with headroom: at most 1000 mutations and 800 KiB per atomic commit. */
const MAX_MUTATIONS = 900;
const MAX_BYTES = 600_000;

/** One key/value to set (or, with `delete`, a key to delete), with an estimate of its size. */
export interface Entry {
  /** The key. */
  key: Deno.KvKey;
  /** The value (ignored when deleting). */
  value: unknown;
  /** Estimated encoded size in bytes. */
  size: number;
  /** Delete `key` instead of setting it. */
  delete?: boolean;
  /** Let KV delete the key after this many ms (not exact: readers check their own expiry). */
  expireIn?: number;
}

interface Pending {
  entries: readonly Entry[];
  size: number;
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

  /**
   * Applies every entry; resolves when all are committed, rejects if their commit failed.
   * Entries that fit one commit share it; more are split over several.
   */
  write(entries: readonly Entry[]): Promise<void> {
    const groups: Entry[][] = [[]];
    let size = 0;
    for (const entry of entries) {
      const group = groups.at(-1)!;
      if (group.length && (group.length >= MAX_MUTATIONS || size + entry.size > MAX_BYTES)) {
        groups.push([entry]);
        size = entry.size;
      } else {
        group.push(entry);
        size += entry.size;
      }
    }
    const promises = groups.map((group) =>
      new Promise<void>((done, fail) =>
        this.#queue.push({
          entries: group,
          size: group.reduce((n, e) => n + e.size, 0),
          done,
          fail,
        })
      )
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
    let mutations = 0;
    while (
      this.#queue.length &&
      (batch.length === 0 ||
        (mutations + this.#queue[0].entries.length <= MAX_MUTATIONS &&
          bytes + this.#queue[0].size <= MAX_BYTES))
    ) {
      const next = this.#queue.shift()!;
      bytes += next.size;
      mutations += next.entries.length;
      batch.push(next);
    }
    try {
      await this.#commit(batch);
      for (const p of batch) p.done();
    } catch (e) {
      if (batch.length === 1) return batch[0].fail(e);
      // One writer's bad entry (a value over 64 KiB, say) must not fail the others: each
      // group again on its own.
      for (const p of batch) {
        try {
          await this.#commit([p]);
          p.done();
        } catch (e) {
          p.fail(e);
        }
      }
    }
  }

  async #commit(groups: readonly Pending[]): Promise<void> {
    const op = this.#kv.atomic();
    for (const p of groups) {
      for (const e of p.entries) {
        if (e.delete) op.delete(e.key);
        else op.set(e.key, e.value, e.expireIn ? { expireIn: e.expireIn } : undefined);
      }
    }
    const result = await op.commit();
    if (!result.ok) throw new Error("KV commit was rejected");
  }
}
