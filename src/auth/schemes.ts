/**
 * The signature schemes of `verify = "…"`, each as its provider documents it (docs/security.md
 * lists headers, signed content and encodings). A verifier is built once per hook from its
 * secrets (several, for rotation) and checks a request's headers and raw body.
 *
 * @module
 */
import {
  fromBase64,
  fromHex,
  hmac,
  hmacKey,
  joinBytes,
  toBase64,
  toHex,
  utf8,
  verifyMac,
} from "./mac.ts";

/** The values of `verify`. */
export const SCHEMES = [
  "github",
  "gitlab",
  "stripe",
  "slack",
  "standard-webhooks",
  "shopify",
  "hmac-sha256",
] as const;

/** One of {@linkcode SCHEMES}. */
export type Scheme = typeof SCHEMES[number];

/** Schemes that sign a timestamp, and so refuse one outside `tolerance`. */
export const TIMESTAMPED: ReadonlySet<Scheme> = new Set(["stripe", "slack", "standard-webhooks"]);

/** Why a request was refused, as `hook_run` records give it. */
export type VerifyReason =
  | "missing header"
  | "invalid header"
  | "signature mismatch"
  | "timestamp outside tolerance";

/** A verification's outcome. */
export type VerifyOutcome =
  | {
    ok: true;
    /**
     * For the HMAC schemes (all but GitLab): the verified MAC in hex. A request carrying the
     * same MAC again is a replay of the same signed content, whatever unsigned headers it
     * changed (GitHub's and Shopify's delivery ids are not signed), so it counts as a delivery
     * id. For `hmac-sha256`, which signs the body alone, identical bodies are one delivery.
     */
    replayKey?: string;
  }
  | { ok: false; reason: VerifyReason };

/** Checks one request. */
export type Verifier = (headers: Headers, body: Uint8Array) => Promise<VerifyOutcome>;

/** Options of {@linkcode createVerifier}. */
export interface VerifierOptions {
  /** The secrets; a request signed with any of them passes. At least one, none empty. */
  secrets: readonly string[];
  /** Seconds a signed timestamp may be off from now, either way; default 300. */
  tolerance?: number;
  /** Clock in Unix ms; default `Date.now`. */
  now?: () => number;
  /** Header of `hmac-sha256` signatures; default `X-Signature`. */
  header?: string;
}

/** Default {@linkcode VerifierOptions.header} of `hmac-sha256`. */
export const DEFAULT_SIGNATURE_HEADER = "X-Signature";

/**
 * Most signatures one header may carry (several during a sender's key rotation): each is an
 * HMAC over the body, so a header of thousands would make one request cost thousands of passes.
 * More are refused as `invalid header`.
 */
export const MAX_SIGNATURES = 8;

/** Length of an HMAC-SHA256. */
const MAC_BYTES = 32;

/** Standard Webhooks secrets are base64 after an optional `whsec_` prefix. */
const WHSEC = "whsec_";

/**
 * The key bytes of `secret` for `scheme`, or why it cannot be one (for config checks). Every
 * scheme but Standard Webhooks keys its HMAC with the secret's UTF-8 bytes as given.
 */
export function secretBytes(scheme: Scheme, secret: string): Uint8Array | string {
  if (secret.length === 0) return "is empty";
  if (scheme !== "standard-webhooks") return utf8(secret);
  const bytes = fromBase64(secret.startsWith(WHSEC) ? secret.slice(WHSEC.length) : secret);
  if (!bytes || bytes.length === 0) return "is not a Standard Webhooks secret (whsec_ and base64)";
  return bytes;
}

const refuse = (reason: VerifyReason): VerifyOutcome => ({ ok: false, reason });

/** Whether Unix-seconds `text` is within `tolerance` s of `nowMs`; `null` when not a number. */
function timely(text: string, nowMs: number, tolerance: number): boolean | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Math.abs(nowMs / 1000 - Number(text)) <= tolerance;
}

/** Builds the verifier of `scheme`; throws `RangeError` for a secret that cannot be a key. */
export async function createVerifier(scheme: Scheme, options: VerifierOptions): Promise<Verifier> {
  if (options.secrets.length === 0) throw new RangeError("At least one secret is needed");
  const raw = options.secrets.map((s) => {
    const bytes = secretBytes(scheme, s);
    if (typeof bytes === "string") throw new RangeError(`Secret ${bytes}`);
    return bytes;
  });
  const tolerance = options.tolerance ?? 300;
  const now = options.now ?? Date.now;

  if (scheme === "gitlab") {
    // GitLab sends the token itself. It is compared as MACs under a key of this process, so
    // the comparison is of equal-length values in constant time, whatever the client sent.
    const key = await hmacKey(crypto.getRandomValues(new Uint8Array(32)));
    const expected = await Promise.all(raw.map((r) => hmac(key, r)));
    return async (headers) => {
      const token = headers.get("x-gitlab-token");
      if (token === null) return refuse("missing header");
      const given = utf8(token);
      for (const mac of expected) if (await verifyMac(key, mac, given)) return { ok: true };
      return refuse("signature mismatch");
    };
  }

  const keys = await Promise.all(raw.map(hmacKey));
  /**
   * The first of `macs` that is the HMAC of `data` under one of the keys, `null` when none is,
   * `"too many"` past {@linkcode MAX_SIGNATURES}. Only 32-byte values are tried: Web Crypto
   * computes the whole HMAC before it compares lengths, so each empty candidate would cost a
   * pass over the body.
   */
  const check = async (macs: (Uint8Array | null)[], data: Uint8Array) => {
    if (macs.length > MAX_SIGNATURES) return "too many";
    for (const mac of macs) {
      if (mac?.length !== MAC_BYTES) continue;
      for (const key of keys) if (await verifyMac(key, mac, data)) return mac;
    }
    return null;
  };

  switch (scheme) {
    case "github":
    case "shopify":
    case "hmac-sha256": {
      const header = scheme === "github"
        ? "x-hub-signature-256"
        : scheme === "shopify"
        ? "x-shopify-hmac-sha256"
        : (options.header ?? DEFAULT_SIGNATURE_HEADER).toLowerCase();
      return async (headers, body) => {
        const value = headers.get(header);
        if (value === null) return refuse("missing header");
        let macs: (Uint8Array | null)[];
        if (scheme === "github") {
          // `sha256=` and lower-case hex of HMAC-SHA256(secret, body).
          macs = [value.startsWith("sha256=") ? fromHex(value.slice(7)) : null];
        } else if (scheme === "shopify") {
          macs = [fromBase64(value.trim())]; // base64 of HMAC-SHA256(secret, body).
        } else {
          // Hex or base64, an optional `sha256=` prefix, several separated by commas.
          macs = value.split(",").filter((part) => part.trim()).map((part) => {
            const v = part.trim().replace(/^sha256=/, "");
            return /^[0-9a-fA-F]{64}$/.test(v) ? fromHex(v) : fromBase64(v);
          });
        }
        const mac = await check(macs, body);
        if (mac === "too many") return refuse("invalid header");
        if (!mac) return refuse("signature mismatch");
        return { ok: true, replayKey: toHex(mac) };
      };
    }
    case "stripe":
      // `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=…]`; v1 = HMAC-SHA256(secret, "<t>.<body>").
      return async (headers, body) => {
        const value = headers.get("stripe-signature");
        if (value === null) return refuse("missing header");
        let t: string | undefined;
        const v1: (Uint8Array | null)[] = [];
        for (const item of value.split(",")) {
          const eq = item.indexOf("=");
          const k = item.slice(0, eq).trim();
          const v = item.slice(eq + 1).trim();
          if (k === "t") t = v;
          else if (k === "v1") v1.push(fromHex(v));
        }
        if (t === undefined || v1.length === 0) return refuse("invalid header");
        const ok = await check(v1, joinBytes(utf8(`${t}.`), body));
        if (ok === "too many") return refuse("invalid header");
        if (!ok) return refuse("signature mismatch");
        if (!timely(t, now(), tolerance)) return refuse("timestamp outside tolerance");
        return { ok: true, replayKey: toHex(ok) };
      };
    case "slack":
      // `X-Slack-Signature: v0=<hex>` of HMAC-SHA256(secret, "v0:<X-Slack-Request-Timestamp>:<body>").
      return async (headers, body) => {
        const value = headers.get("x-slack-signature");
        const ts = headers.get("x-slack-request-timestamp");
        if (value === null || ts === null) return refuse("missing header");
        const mac = value.startsWith("v0=") ? fromHex(value.slice(3)) : null;
        if (!mac) return refuse("signature mismatch");
        const ok = await check([mac], joinBytes(utf8(`v0:${ts}:`), body));
        if (!ok || ok === "too many") return refuse("signature mismatch");
        if (!timely(ts, now(), tolerance)) return refuse("timestamp outside tolerance");
        return { ok: true, replayKey: toHex(ok) };
      };
    case "standard-webhooks":
      // `webhook-signature: v1,<base64> [v1,<base64> …]` of HMAC-SHA256(key, "<id>.<ts>.<body>").
      return async (headers, body) => {
        const id = headers.get("webhook-id");
        const ts = headers.get("webhook-timestamp");
        const value = headers.get("webhook-signature");
        if (id === null || ts === null || value === null) return refuse("missing header");
        const macs = value.split(" ").filter(Boolean).map((s) =>
          s.startsWith("v1,") ? fromBase64(s.slice(3)) : null
        );
        const ok = await check(macs, joinBytes(utf8(`${id}.${ts}.`), body));
        if (ok === "too many") return refuse("invalid header");
        if (!ok) return refuse("signature mismatch");
        if (!timely(ts, now(), tolerance)) return refuse("timestamp outside tolerance");
        return { ok: true, replayKey: toHex(ok) };
      };
  }
}

/**
 * Standard Webhooks headers signing `body` as message `id` at Unix ms `nowMs` with `secret`
 * (`whsec_…`): what an `http` event hook sends, so its receiver can verify hookhost.
 */
export async function signStandardWebhook(
  secret: string,
  message: { id: string; body: Uint8Array; nowMs: number },
): Promise<Record<string, string>> {
  const bytes = secretBytes("standard-webhooks", secret);
  if (typeof bytes === "string") throw new RangeError(`Secret ${bytes}`);
  const ts = Math.floor(message.nowMs / 1000);
  const mac = await hmac(
    await hmacKey(bytes),
    joinBytes(utf8(`${message.id}.${ts}.`), message.body),
  );
  return {
    "webhook-id": message.id,
    "webhook-timestamp": String(ts),
    "webhook-signature": `v1,${toBase64(mac)}`,
  };
}
