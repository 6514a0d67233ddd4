import assert from "node:assert/strict";
import { headerEnvName, hookEnv } from "./env.ts";

Deno.test("headerEnvName() upper-cases and turns everything outside A-Z0-9 into '_'", () => {
  assert.equal(headerEnvName("X-Hub-Signature-256"), "HOOK_HEADER_X_HUB_SIGNATURE_256");
  assert.equal(headerEnvName("content-type"), "HOOK_HEADER_CONTENT_TYPE");
  assert.equal(headerEnvName("x.weird~name!"), "HOOK_HEADER_X_WEIRD_NAME_");
});

Deno.test("hookEnv() describes the request: name, method, path, query without '?', type, session", () => {
  const request = new Request("http://127.0.0.1:9876/hooks/gh?a=1&b=two%20words", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Hub-Signature-256": "sha256=abc" },
    body: "{}",
  });
  const env = hookEnv(request, { hook: "github-push", session: "demo" });
  assert.equal(env.HOOK_NAME, "github-push");
  assert.equal(env.HOOK_METHOD, "POST");
  assert.equal(env.HOOK_PATH, "/hooks/gh");
  assert.equal(env.HOOK_QUERY, "a=1&b=two%20words");
  assert.equal(env.HOOK_CONTENT_TYPE, "application/json");
  assert.equal(env.HOOK_SESSION, "demo");
  assert.equal(env.HOOK_HEADER_X_HUB_SIGNATURE_256, "sha256=abc");
  assert.equal(env.HOOK_HEADER_CONTENT_TYPE, "application/json");
});

Deno.test("hookEnv() gives empty strings for no query and no content type", () => {
  for (const url of ["http://h/x", "http://h/x?"]) {
    const env = hookEnv(new Request(url), { hook: "h", session: "s" });
    assert.equal(env.HOOK_QUERY, "");
    assert.equal(env.HOOK_CONTENT_TYPE, "");
    assert.equal(env.HOOK_METHOD, "GET");
    assert.equal(env.HOOK_PATH, "/x");
  }
});

Deno.test("hookEnv() joins repeated headers with ', '", () => {
  const headers = new Headers();
  headers.append("X-Tag", "a");
  headers.append("x-tag", "b");
  headers.append("Set-Cookie", "k=1");
  headers.append("Set-Cookie", "j=2");
  headers.append("x_tag", "c"); // folds to the same variable as X-Tag
  const env = hookEnv(new Request("http://h/", { headers }), { hook: "h", session: "s" });
  assert.equal(env.HOOK_HEADER_SET_COOKIE, "k=1, j=2");
  const tags = env.HOOK_HEADER_X_TAG.split(", ").sort();
  assert.deepEqual(tags, ["a", "b", "c"]);
});
