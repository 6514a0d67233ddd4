/**
 * Webhook signatures: the schemes of `verify = "…"` (GitHub, GitLab, Stripe, Slack, Standard
 * Webhooks, Shopify, generic HMAC-SHA256), checked in constant time with Web Crypto, and the
 * Standard Webhooks signing of hookhost's own outgoing requests.
 *
 * @module
 */
export {
  createVerifier,
  type Scheme,
  SCHEMES,
  secretBytes,
  signStandardWebhook,
  TIMESTAMPED,
  type Verifier,
  type VerifierOptions,
  type VerifyOutcome,
  type VerifyReason,
} from "./schemes.ts";
