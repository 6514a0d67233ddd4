import assert from "node:assert/strict";
import {
  checkPermissions,
  describePermissions,
  type Effective,
  effectivePermissions,
  PERMISSION_KINDS,
} from "./permissions.ts";

const NONE: Effective = {
  net: false,
  read: false,
  write: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

Deno.test("effectivePermissions() denies every kind a plugin does not declare", () => {
  assert.deepEqual(effectivePermissions(undefined), NONE);
  assert.deepEqual(effectivePermissions({}), NONE);
  assert.deepEqual(effectivePermissions({ net: true, env: ["A"] }), {
    ...NONE,
    net: true,
    env: ["A"],
  });
  // Every kind is present, so a Worker never inherits a kind by omission.
  assert.deepEqual(
    Object.keys(effectivePermissions({ read: true })).sort(),
    [
      ...PERMISSION_KINDS,
    ].sort(),
  );
});

Deno.test("effectivePermissions() turns false and empty lists into false", () => {
  assert.deepEqual(effectivePermissions({ read: false, env: [], run: [] }), NONE);
  assert.deepEqual(effectivePermissions({ env: [] }, { env: true }), NONE);
  assert.deepEqual(effectivePermissions({ env: true }, { env: [] }), NONE);
});

Deno.test("effectivePermissions() lets the operator narrow but never widen the declaration", () => {
  // Operator narrows `true` to a list.
  assert.deepEqual(effectivePermissions({ env: true }, { env: ["ALLOWED"] }), {
    ...NONE,
    env: ["ALLOWED"],
  });
  // Operator `true` does not widen a list.
  assert.deepEqual(effectivePermissions({ env: ["A"] }, { env: true }), { ...NONE, env: ["A"] });
  // Operator cannot grant what the plugin did not declare.
  assert.deepEqual(effectivePermissions({}, { net: true, env: ["A"] }), NONE);
  assert.deepEqual(effectivePermissions({ net: false }, { net: true }), NONE);
  // Operator `false` denies a declared kind.
  assert.deepEqual(effectivePermissions({ net: true, env: true }, { net: false, env: true }), {
    ...NONE,
    env: true,
  });
});

Deno.test("effectivePermissions() denies kinds the operator's table leaves out", () => {
  // Once the operator says anything, the table is the whole allowance.
  assert.deepEqual(effectivePermissions({ net: true, env: ["A"] }, { env: ["A"] }), {
    ...NONE,
    env: ["A"],
  });
  // No operator table at all: the declaration stands.
  assert.deepEqual(effectivePermissions({ net: true }, undefined), { ...NONE, net: true });
});

Deno.test("effectivePermissions() intersects two lists", () => {
  assert.deepEqual(
    effectivePermissions({ env: ["A", "B", "C"] }, { env: ["B", "C", "D"] }).env,
    ["B", "C"],
  );
  assert.equal(effectivePermissions({ env: ["A"] }, { env: ["B"] }).env, false);
  // Names are not prefixes: env `A` does not cover `AB`.
  assert.equal(effectivePermissions({ env: ["AB"] }, { env: ["A"] }).env, false);
  assert.equal(effectivePermissions({ run: ["git"] }, { run: ["gi"] }).run, false);
});

Deno.test("effectivePermissions() intersects true with a list", () => {
  assert.deepEqual(effectivePermissions({ read: true }, { read: ["/srv"] }).read, ["/srv"]);
  assert.deepEqual(effectivePermissions({ read: ["/srv"] }, { read: true }).read, ["/srv"]);
  assert.deepEqual(effectivePermissions({ net: true }, { net: ["a.example"] }).net, ["a.example"]);
  assert.equal(effectivePermissions({ net: true }, { net: true }).net, true);
});

Deno.test("effectivePermissions() narrows read/write paths by prefix on path boundaries", () => {
  // A folder covers what is inside it, on either side.
  assert.deepEqual(effectivePermissions({ read: ["/data"] }, { read: ["/data/sub"] }).read, [
    "/data/sub",
  ]);
  assert.deepEqual(effectivePermissions({ read: ["/data/sub"] }, { read: ["/data"] }).read, [
    "/data/sub",
  ]);
  assert.deepEqual(effectivePermissions({ write: ["/data/"] }, { write: ["/data/x"] }).write, [
    "/data/x",
  ]);
  // A name that merely starts the same is not inside.
  assert.equal(effectivePermissions({ read: ["/data"] }, { read: ["/database"] }).read, false);
  assert.equal(effectivePermissions({ read: ["/database"] }, { read: ["/data"] }).read, false);
  // Several entries: each kept as far as both sides allow it.
  assert.deepEqual(
    effectivePermissions({ read: ["/a/x", "/b", "/c"] }, { read: ["/a", "/b/y", "/d"] }).read,
    ["/a/x", "/b/y"],
  );
});

Deno.test("effectivePermissions() keeps an entry whole when both sides allow all of it", () => {
  // Declared /a (and, redundantly, /a/b); operator /a: both allow all of /a, e.g. /a/c.
  const read = effectivePermissions({ read: ["/a", "/a/b"] }, { read: ["/a"] }).read;
  assert.ok(Array.isArray(read) && read.includes("/a"), `read /a/c is lost: ${read}`);
  assert.ok(read.every((p) => p === "/a" || p.startsWith("/a/")), `wider than /a: ${read}`);
  // Same for hosts: both allow example.com on any port.
  const net = effectivePermissions(
    { net: ["example.com", "example.com:443"] },
    { net: ["example.com"] },
  ).net;
  assert.ok(Array.isArray(net) && net.includes("example.com"), `example.com:80 is lost: ${net}`);
});

Deno.test("effectivePermissions() lets a host without a port cover that host on any port", () => {
  assert.deepEqual(
    effectivePermissions({ net: ["api.example.com"] }, { net: ["api.example.com:443"] }).net,
    ["api.example.com:443"],
  );
  assert.deepEqual(
    effectivePermissions({ net: ["127.0.0.1:8080"] }, { net: ["127.0.0.1"] }).net,
    ["127.0.0.1:8080"],
  );
  assert.deepEqual(
    effectivePermissions({ import: ["deno.land"] }, {
      import: ["deno.land:443"],
    }).import,
    ["deno.land:443"],
  );
  // Different ports, different hosts, and look-alike hosts are not covered.
  assert.equal(
    effectivePermissions({ net: ["127.0.0.1:8080"] }, { net: ["127.0.0.1:9090"] }).net,
    false,
  );
  assert.equal(
    effectivePermissions({ net: ["example.com.evil:443"] }, { net: ["example.com"] }).net,
    false,
  );
  assert.equal(
    effectivePermissions({ net: ["sub.example.com"] }, { net: ["example.com"] }).net,
    false,
  );
  // A host:port never covers the bare host (all ports).
  assert.deepEqual(
    effectivePermissions({ net: ["example.com"] }, { net: ["example.com:80", "other.org"] }).net,
    ["example.com:80"],
  );
});

Deno.test("describePermissions() lists granted kinds in order, `none` when all are denied", () => {
  assert.equal(describePermissions(NONE), "none");
  assert.equal(describePermissions(effectivePermissions(undefined)), "none");
  assert.equal(
    describePermissions({ ...NONE, env: ["A", "B"], net: true, read: ["/x"] }),
    "net read=/x env=A,B",
  );
  assert.equal(
    describePermissions(effectivePermissions(
      { env: true, net: ["api.github.com"] },
      { env: ["SECRET"], net: ["api.github.com"] },
    )),
    "net=api.github.com env=SECRET",
  );
});

Deno.test("checkPermissions() accepts absent, booleans and lists of strings", () => {
  assert.equal(checkPermissions(undefined), undefined);
  assert.equal(checkPermissions({}), undefined);
  assert.equal(
    checkPermissions({
      net: true,
      read: false,
      write: ["/tmp"],
      env: [],
      run: ["git"],
      ffi: false,
      sys: ["hostname"],
      import: ["deno.land"],
    }),
    undefined,
  );
});

Deno.test("checkPermissions() names what is wrong with a declaration", () => {
  for (const bad of [null, "net", 1, true, ["net"]]) {
    assert.equal(checkPermissions(bad), "permissions must be an object", JSON.stringify(bad));
  }
  const unknown = checkPermissions({ net: true, hrtime: true });
  assert.match(unknown ?? "", /Unknown permission 'hrtime'/);
  assert.match(unknown ?? "", /net, read, write, env, run, ffi, sys, import/);
  for (const value of ["yes", 1, null, [1], ["a", 2], { a: true }]) {
    assert.equal(
      checkPermissions({ env: value }),
      "Permission 'env' must be true, false or a list of strings",
      JSON.stringify(value),
    );
  }
});
