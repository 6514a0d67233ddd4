/**
 * Output records as the tests read them (JSONL of `--format jsonl`), and waiting for one: shared
 * by the subprocess ({@linkcode Proc} in _helpers.ts) and the in-process session (_session.ts).
 *
 * @module
 */
import { scaled, WAIT_MS } from "./_poll.ts";

/** One JSONL output record. */
// deno-lint-ignore no-explicit-any
export type Rec = Record<string, any> & { type: string };

/** Records arriving line by line, with waits for them. */
export class RecordReader {
  /** Every record so far. */
  readonly records: Rec[] = [];
  /** Log lines (stderr) so far. */
  stderr = "";
  #waiters: (() => void)[] = [];
  #buf = "";
  #dec = new TextDecoder();

  /** Takes a chunk of output: each complete line becomes a record (`raw` if not JSON). */
  protected take(chunk: Uint8Array): void {
    this.#buf += this.#dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = this.#buf.indexOf("\n")) >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        this.records.push(JSON.parse(line));
      } catch {
        this.records.push({ type: "raw", line });
      }
    }
    this.notify();
  }

  /** Wakes the waits (new records, or the output ended). */
  protected notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Waits until a record satisfies `pred` (checked over all records), or throws after `ms` (scaled). */
  async waitFor(pred: (r: Rec) => boolean, ms = WAIT_MS): Promise<Rec> {
    const deadline = Date.now() + scaled(ms);
    while (true) {
      const hit = this.records.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Timed out waiting for a record; have ${
            JSON.stringify(this.records)
          }\nstderr: ${this.stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((r) => this.#waiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, 200)))),
      ]);
      clearTimeout(timer);
    }
  }

  /** Waits until `n` records satisfy `pred`, for at most `ms` (scaled). */
  async waitForCount(pred: (r: Rec) => boolean, n: number, ms = WAIT_MS): Promise<Rec[]> {
    await this.waitFor(() => this.records.filter(pred).length >= n, ms).catch((e) => {
      throw new Error(`Wanted ${n}, got ${this.records.filter(pred).length}: ${e.message}`);
    });
    return this.records.filter(pred);
  }

  /** The `addr` of hook `hook`'s `listening` record. */
  async addr(hook: string): Promise<string> {
    const r = await this.waitFor((r) => r.type === "listening" && r.hook === hook);
    return r.addr;
  }
}
