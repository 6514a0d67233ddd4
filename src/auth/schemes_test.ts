import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import {
  createVerifier,
  MAX_SIGNATURES,
  type Scheme,
  SCHEMES,
  signStandardWebhook,
} from "./schemes.ts";

// Signatures here are made with node:crypto from each provider's documented recipe (and with the
// Standard Webhooks reference package), not with the code under test, so agreeing with ourselves
// cannot pass.

const NOW = 1_765_000_000_000; // Unix ms
const nowS = Math.floor(NOW / 1000);
const enc = new TextEncoder();
const hex = (key: string | Buffer, data: string | Uint8Array) =>
  createHmac("sha256", key).update(data).digest("hex");
const b64 = (key: string | Buffer, data: string | Uint8Array) =>
  createHmac("sha256", key).update(data).digest("base64");

const SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_KEY = Buffer.from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64");

/** The headers `scheme` sends for `body` signed with `secret` at Unix seconds `ts`. */
function sign(scheme: Scheme, secret: string, body: string, ts = nowS): Record<string, string> {
  switch (scheme) {
    case "github":
      return { "X-Hub-Signature-256": `sha256=${hex(secret, body)}`, "X-GitHub-Delivery": "d1" };
    case "gitlab":
      return { "X-Gitlab-Token": secret };
    case "stripe":
      return { "Stripe-Signature": `t=${ts},v0=00,v1=${hex(secret, `${ts}.${body}`)}` };
    case "slack":
      return {
        "X-Slack-Request-Timestamp": String(ts),
        "X-Slack-Signature": `v0=${hex(secret, `v0:${ts}:${body}`)}`,
      };
    case "standard-webhooks": {
      const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
      return {
        "webhook-id": "msg_1",
        "webhook-timestamp": String(ts),
        "webhook-signature": `v1,${b64(key, `msg_1.${ts}.${body}`)}`,
      };
    }
    case "shopify":
      return { "X-Shopify-Hmac-Sha256": b64(secret, body) };
    case "hmac-sha256":
      return { "X-Signature": hex(secret, body) };
  }
}

const secretFor = (scheme: Scheme, n = 1) =>
  scheme === "standard-webhooks"
    ? (n === 1 ? SW_SECRET : "whsec_" + btoa("second key of twenty-four b"))
    : `secret-${n}-${scheme}`;

async function check(
  scheme: Scheme,
  secrets: string[],
  headers: Record<string, string>,
  body: string,
  now = NOW,
) {
  const verify = await createVerifier(scheme, { secrets, now: () => now });
  const outcome = await verify(new Headers(headers), enc.encode(body));
  return outcome.ok ? "ok" : outcome.reason;
}

/** Each scheme's signature header, and what precedes the signature in its value. */
const SIGNATURE: Record<Scheme, [string, string]> = {
  github: ["X-Hub-Signature-256", "sha256="],
  gitlab: ["X-Gitlab-Token", ""],
  stripe: ["Stripe-Signature", "v1="],
  slack: ["X-Slack-Signature", "v0="],
  "standard-webhooks": ["webhook-signature", "v1,"],
  shopify: ["X-Shopify-Hmac-Sha256", ""],
  "hmac-sha256": ["X-Signature", ""],
};

const BODY = '{"action":"opened","n":1}';

for (const scheme of SCHEMES) {
  Deno.test(`${scheme}: a request signed as the provider documents it passes`, async () => {
    const s = secretFor(scheme);
    assert.deepEqual(await check(scheme, [s], sign(scheme, s, BODY), BODY), "ok");
  });

  Deno.test(`${scheme}: forged, changed, wrongly keyed or unsigned requests are refused`, async () => {
    const s = secretFor(scheme);
    const good = sign(scheme, s, BODY);
    // One byte of the body changed (GitLab signs nothing: its token only says who sent it).
    const changed = BODY.replace("1", "2");
    if (scheme !== "gitlab") {
      assert.deepEqual(await check(scheme, [s], good, changed), "signature mismatch");
    }
    // Signed with another secret.
    const other = secretFor(scheme, 2);
    assert.deepEqual(
      await check(scheme, [s], sign(scheme, other, BODY), BODY),
      "signature mismatch",
    );
    // Every header dropped.
    assert.deepEqual(await check(scheme, [s], {}, BODY), "missing header");
    // The signature with its first character changed, the rest as sent.
    const [header, prefix] = SIGNATURE[scheme];
    const value = good[header];
    const i = value.indexOf(prefix) + prefix.length;
    const forged = {
      ...good,
      [header]: value.slice(0, i) + (value[i] === "A" ? "B" : "A") + value.slice(i + 1),
    };
    assert.deepEqual(await check(scheme, [s], forged, BODY), "signature mismatch");
  });

  Deno.test(`${scheme}: either of two secrets passes (rotation)`, async () => {
    const [a, b] = [secretFor(scheme), secretFor(scheme, 2)];
    assert.deepEqual(await check(scheme, [a, b], sign(scheme, b, BODY), BODY), "ok");
    assert.deepEqual(await check(scheme, [b, a], sign(scheme, a, BODY), BODY), "ok");
  });
}

for (const scheme of ["stripe", "slack", "standard-webhooks"] as const) {
  Deno.test(`${scheme}: a stale or future timestamp is refused, one within tolerance passes`, async () => {
    const s = secretFor(scheme);
    const at = (ts: number) => check(scheme, [s], sign(scheme, s, BODY, ts), BODY);
    assert.deepEqual(await at(nowS - 301), "timestamp outside tolerance");
    assert.deepEqual(await at(nowS + 301), "timestamp outside tolerance");
    assert.deepEqual(await at(nowS - 300), "ok");
    assert.deepEqual(await at(nowS + 299), "ok");
    // A configured tolerance narrows it.
    const verify = await createVerifier(scheme, { secrets: [s], now: () => NOW, tolerance: 10 });
    const late = await verify(new Headers(sign(scheme, s, BODY, nowS - 11)), enc.encode(BODY));
    assert.deepEqual(late, { ok: false, reason: "timestamp outside tolerance" });
  });
}

Deno.test("github: the worked example of GitHub's docs, byte for byte", async () => {
  const verify = await createVerifier("github", { secrets: ["It's a Secret to Everybody"] });
  const headers = new Headers({
    "X-Hub-Signature-256":
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  });
  assert.deepEqual(await verify(headers, enc.encode("Hello, World!")), {
    ok: true,
    replayKey: "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  });
  // Upper-case hex, or no prefix, is not what GitHub sends; the prefix is required.
  headers.set(
    "x-hub-signature-256",
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  );
  assert.deepEqual(await verify(headers, enc.encode("Hello, World!")), {
    ok: false,
    reason: "signature mismatch",
  });
});

Deno.test("slack: the worked example of Slack's docs, byte for byte", async () => {
  const body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow" +
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner" +
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands" +
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
  const headers = {
    "X-Slack-Request-Timestamp": "1531420618",
    "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
  };
  const secret = "8f742231b10e8888abcd99yyyzzz85a5";
  assert.deepEqual(await check("slack", [secret], headers, body, 1531420618_000 + 30_000), "ok");
  // The same request today is a replay.
  assert.deepEqual(await check("slack", [secret], headers, body), "timestamp outside tolerance");
});

Deno.test("standard-webhooks: the spec's example, and signatures of the reference package", async () => {
  const headers = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,bm9ldHUjKzFob2VudXRob2VodWUzMjRvdWVvdW9ldQo= " +
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };
  const body = '{"test": 2432232314}';
  assert.deepEqual(
    await check("standard-webhooks", [SW_SECRET], headers, body, 1614265330_000),
    "ok",
  );
  // The reference implementation's signature of a fresh message.
  const wh = new Webhook(SW_SECRET);
  const signature = wh.sign("msg_2", new Date(NOW), BODY);
  const fresh = {
    "webhook-id": "msg_2",
    "webhook-timestamp": String(nowS),
    "webhook-signature": signature,
  };
  assert.deepEqual(await check("standard-webhooks", [SW_SECRET], fresh, BODY), "ok");
  // The id is signed: the same signature under another id is refused.
  assert.deepEqual(
    await check("standard-webhooks", [SW_SECRET], { ...fresh, "webhook-id": "msg_3" }, BODY),
    "signature mismatch",
  );
});

Deno.test("signStandardWebhook: what hookhost sends verifies with the reference package", async () => {
  const body = enc.encode('{"event":"message_received"}');
  const nowMs = Date.now();
  const headers = await signStandardWebhook(SW_SECRET, { id: "evt_1", body, nowMs });
  assert.deepEqual(headers["webhook-id"], "evt_1");
  assert.deepEqual(headers["webhook-timestamp"], String(Math.floor(nowMs / 1000)));
  // Throws when it does not verify.
  new Webhook(SW_SECRET).verify('{"event":"message_received"}', headers);
  assert.deepEqual(
    headers["webhook-signature"],
    `v1,${b64(SW_KEY, `evt_1.${headers["webhook-timestamp"]}.{"event":"message_received"}`)}`,
  );
});

Deno.test("hmac-sha256: hex, base64, a sha256= prefix, a configured header, several values", async () => {
  const s = "generic";
  const forms = [
    hex(s, BODY),
    hex(s, BODY).toUpperCase(),
    `sha256=${hex(s, BODY)}`,
    b64(s, BODY),
    `sha256=0000, ${hex(s, BODY)}`,
  ];
  for (const form of forms) {
    assert.deepEqual(await check("hmac-sha256", [s], { "X-Signature": form }, BODY), "ok", form);
  }
  const verify = await createVerifier("hmac-sha256", { secrets: [s], header: "X-My-Sig" });
  const ok = await verify(new Headers({ "x-my-sig": hex(s, BODY) }), enc.encode(BODY));
  assert.deepEqual(ok, { ok: true, replayKey: hex(s, BODY) });
  const missing = await verify(new Headers({ "x-signature": hex(s, BODY) }), enc.encode(BODY));
  assert.deepEqual(missing, { ok: false, reason: "missing header" });
});

Deno.test("gitlab: the token compares whole, not as a prefix or with case folded", async () => {
  const s = "Token-1";
  for (const token of ["Token-", "Token-12", "token-1", "", "Token-1x"]) {
    assert.deepEqual(
      await check("gitlab", [s], { "X-Gitlab-Token": token }, BODY),
      "signature mismatch",
    );
  }
});

Deno.test("stripe: a header without t= or v1= is invalid; a v0 alone never passes", async () => {
  const s = secretFor("stripe");
  const v1 = hex(s, `${nowS}.${BODY}`);
  assert.deepEqual(
    await check("stripe", [s], { "Stripe-Signature": `v1=${v1}` }, BODY),
    "invalid header",
  );
  assert.deepEqual(
    await check("stripe", [s], { "Stripe-Signature": `t=${nowS},v0=${v1}` }, BODY),
    "invalid header",
  );
  assert.deepEqual(
    await check("stripe", [s], { "Stripe-Signature": `t=${nowS},v1=00,v1=${v1}` }, BODY),
    "ok",
  );
});

Deno.test("many signatures in one header: over MAX_SIGNATURES is an invalid header, even with the right one; empty ones are skipped", async () => {
  const s = "generic";
  const right = hex(s, BODY);
  const ts = nowS;
  const stripe = hex(s, `${ts}.${BODY}`);
  const swKey = Buffer.from(SW_SECRET.slice(6), "base64");
  const sw = b64(swKey, `msg_1.${ts}.${BODY}`);
  const swHeaders = (value: string) => ({
    "webhook-id": "msg_1",
    "webhook-timestamp": String(ts),
    "webhook-signature": value,
  });
  const many = MAX_SIGNATURES + 1;
  const cases: [Scheme, string, Record<string, string>, string][] = [
    ["hmac-sha256", s, { "X-Signature": "ab,".repeat(5000) + right }, "invalid header"],
    ["hmac-sha256", s, { "X-Signature": ", ,".repeat(5000) + right }, "ok"],
    ["hmac-sha256", s, { "X-Signature": Array(many).fill(right).join(",") }, "invalid header"],
    ["hmac-sha256", s, { "X-Signature": `00, ,${"ab,".repeat(MAX_SIGNATURES - 2)}${right}` }, "ok"],
    [
      "stripe",
      s,
      { "Stripe-Signature": `t=${ts},` + "v1=,".repeat(5000) + `v1=${stripe}` },
      "invalid header",
    ],
    ["stripe", s, { "Stripe-Signature": `t=${ts},v1=,v1=00,v1=${stripe}` }, "ok"],
    ["standard-webhooks", SW_SECRET, swHeaders("v1, ".repeat(5000) + `v1,${sw}`), "invalid header"],
    ["standard-webhooks", SW_SECRET, swHeaders(`v1,  v1,AA== v2,x   v1,${sw}`), "ok"],
  ];
  for (const [scheme, secret, headers, want] of cases) {
    const outcome = await check(scheme, [secret], headers, BODY, ts * 1000);
    assert.equal(outcome, want, `${scheme} ${JSON.stringify(headers).slice(0, 80)}`);
  }
});

Deno.test("replay keys: every HMAC scheme answers the verified MAC in hex; GitLab none", async () => {
  for (const scheme of SCHEMES) {
    const secret = secretFor(scheme);
    const verify = await createVerifier(scheme, { secrets: [secret], now: () => NOW });
    const outcome = await verify(new Headers(sign(scheme, secret, BODY)), enc.encode(BODY));
    assert.ok(outcome.ok, scheme);
    if (scheme === "gitlab") assert.equal(outcome.replayKey, undefined);
    else assert.match(outcome.replayKey ?? "", /^[0-9a-f]{64}$/, scheme);
  }
});

Deno.test("createVerifier: no secret, an empty one or a malformed whsec_ is refused", async () => {
  await assert.rejects(() => createVerifier("github", { secrets: [] }), RangeError);
  await assert.rejects(() => createVerifier("github", { secrets: [""] }), RangeError);
  await assert.rejects(
    () => createVerifier("standard-webhooks", { secrets: ["whsec_!!"] }),
    RangeError,
  );
});
