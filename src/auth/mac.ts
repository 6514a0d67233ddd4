/**
 * HMAC-SHA256 keys and constant-time checks, on Web Crypto. A signature a client sent is decoded
 * to bytes and handed to `crypto.subtle.verify`, which compares MACs in constant time; the
 * client's string itself is never compared.
 *
 * @module
 */

const encoder = new TextEncoder();

/** `text` as UTF-8 bytes. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** An HMAC-SHA256 key for signing and verifying. */
export function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** HMAC-SHA256 of `data` under `key`. */
export async function hmac(key: CryptoKey, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>),
  );
}

/** Whether `mac` is the HMAC of `data` under `key`, compared in constant time. */
export function verifyMac(key: CryptoKey, mac: Uint8Array, data: Uint8Array): Promise<boolean> {
  // A MAC of another length never matches (Web Crypto says so only after computing the HMAC,
  // so callers try only MAC-length values); the length of a MAC is no secret.
  return crypto.subtle.verify(
    "HMAC",
    key,
    mac as Uint8Array<ArrayBuffer>,
    data as Uint8Array<ArrayBuffer>,
  );
}

/** `parts` joined into one byte array. */
export function joinBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Hex (either case) as bytes, or `null` when `text` is not an even run of hex digits. */
export function fromHex(text: string): Uint8Array | null {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Standard base64 (padding optional) as bytes, or `null` when `text` is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, "").length % 4 === 1) return null;
  try {
    const bin = atob(text.padEnd(text.length + ((4 - text.length % 4) % 4), "="));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Standard base64 of `bytes`, padded. */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
