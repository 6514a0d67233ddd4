import assert from "node:assert/strict";
import { bindsClash, formatAddr, parseBind } from "./bind.ts";

Deno.test("parseBind() parses an IPv4 host and port", () => {
  assert.deepEqual(parseBind("127.0.0.1:9876"), {
    host: "127.0.0.1",
    ip: "127.0.0.1",
    port: 9876,
    family: 4,
  });
  assert.deepEqual(parseBind(" 0.0.0.0:0 "), {
    host: "0.0.0.0",
    ip: "0.0.0.0",
    port: 0,
    family: 4,
  });
});

Deno.test("parseBind() resolves localhost to 127.0.0.1", () => {
  assert.deepEqual(parseBind("localhost:80"), {
    host: "localhost",
    ip: "127.0.0.1",
    port: 80,
    family: 4,
  });
});

Deno.test("parseBind() parses a bracketed IPv6 literal", () => {
  assert.deepEqual(parseBind("[::1]:9800"), { host: "::1", ip: "::1", port: 9800, family: 6 });
  assert.equal(parseBind("[FE80::AB]:1").ip, "fe80::ab");
  assert.equal(parseBind("[::]:65535").port, 65535);
});

Deno.test("parseBind() rejects a port out of range or not a number", () => {
  assert.throws(() => parseBind("127.0.0.1:65536"), {
    name: "TypeError",
    message: "Port '65536' is out of range 0..65535",
  });
  assert.throws(() => parseBind("127.0.0.1:http"), TypeError);
  assert.throws(() => parseBind("127.0.0.1:"), TypeError);
  assert.throws(() => parseBind("127.0.0.1:123456"), TypeError);
  assert.throws(() => parseBind("127.0.0.1"), { message: `Expected "host:port", got '127.0.0.1'` });
});

Deno.test("parseBind() rejects a missing host", () => {
  assert.throws(() => parseBind(":9000"), {
    name: "TypeError",
    message: "Missing host in ':9000'",
  });
  assert.throws(() => parseBind("[]:9000"), { message: "Missing host in '[]:9000'" });
});

Deno.test("parseBind() rejects hostnames and malformed addresses", () => {
  assert.throws(() => parseBind("example.com:80"), {
    name: "TypeError",
    message: "Host 'example.com' is not an IP address or 'localhost'",
  });
  assert.throws(() => parseBind("256.1.1.1:80"), /not an IP address/);
  assert.throws(() => parseBind("[example.com]:80"), /not an IP address/);
  // IPv6 must be bracketed, or the port would be ambiguous.
  assert.throws(() => parseBind("::1:80"), TypeError);
});

Deno.test("bindsClash() reports 0.0.0.0 and 127.0.0.1 on the same port as a clash", () => {
  assert.equal(bindsClash(parseBind("0.0.0.0:9000"), parseBind("127.0.0.1:9000")), true);
  assert.equal(bindsClash(parseBind("127.0.0.1:9000"), parseBind("0.0.0.0:9000")), true);
  assert.equal(bindsClash(parseBind("localhost:9000"), parseBind("127.0.0.1:9000")), true);
  assert.equal(bindsClash(parseBind("[::]:9000"), parseBind("127.0.0.1:9000")), true);
});

Deno.test("bindsClash() never reports port 0 as a clash", () => {
  assert.equal(bindsClash(parseBind("127.0.0.1:0"), parseBind("127.0.0.1:0")), false);
  assert.equal(bindsClash(parseBind("0.0.0.0:0"), parseBind("127.0.0.1:0")), false);
});

Deno.test("bindsClash() does not report different ports or distinct addresses", () => {
  assert.equal(bindsClash(parseBind("127.0.0.1:9000"), parseBind("127.0.0.1:9001")), false);
  assert.equal(bindsClash(parseBind("0.0.0.0:9000"), parseBind("0.0.0.0:9001")), false);
  assert.equal(bindsClash(parseBind("127.0.0.1:9000"), parseBind("127.0.0.2:9000")), false);
  assert.equal(bindsClash(parseBind("0.0.0.0:9000"), parseBind("[::1]:9000")), false);
});

Deno.test("formatAddr() brackets IPv6 hosts only", () => {
  assert.equal(formatAddr("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatAddr("::1", 80), "[::1]:80");
});
