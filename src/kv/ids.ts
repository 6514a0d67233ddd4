/**
 * Message ids: monotonic ULIDs (Crockford base32, 26 characters). They sort by creation time,
 * and strictly increase within a process even when the clock stalls or steps back, so a KV key
 * ending in an id keeps first-in-first-out order.
 *
 * @module
 */

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A source of ids; tests may pass their own. */
export type IdFactory = () => string;

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/**
 * Creates a monotonic ULID factory. `now` defaults to `Date.now`.
 */
export function monotonicUlid(now: () => number = Date.now): IdFactory {
  let lastTime = -1;
  // Under load many ids share a millisecond: its text is made once.
  let timeText = "";
  const random = new Uint8Array(16); // 16 base32 digits of randomness, one per byte
  return () => {
    const t = now();
    if (t > lastTime) {
      lastTime = t;
      timeText = encodeTime(t);
      crypto.getRandomValues(random);
      for (let i = 0; i < 16; i++) random[i] &= 31;
      // Leave headroom so increments within one millisecond never overflow.
      random[0] &= 15;
    } else {
      for (let i = 15; i >= 0; i--) {
        if (random[i] < 31) {
          random[i]++;
          break;
        }
        random[i] = 0;
      }
    }
    let out = timeText;
    for (let i = 0; i < 16; i++) out += ALPHABET[random[i]];
    return out;
  };
}

/** The process-wide id factory. */
export const newId: IdFactory = monotonicUlid();
