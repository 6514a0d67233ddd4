import assert from "node:assert/strict";
import { join } from "node:path";
import { isStorageError, StorageHealth } from "./storage_health.ts";

Deno.test("isStorageError: SQLite's storage failures, not a caller's mistakes", () => {
  assert.ok(isStorageError(new Error("database or disk is full")));
  assert.ok(isStorageError(new TypeError("disk I/O error")));
  assert.equal(isStorageError(new TypeError("Key too large for write")), false);
  assert.equal(isStorageError(undefined), false);
});

Deno.test("StorageHealth: a deleted file stops acknowledging for good, though one of its name comes back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [a, b] = [join(dir, "a.kv"), join(dir, "b.lock")];
    // Held open, as SQLite holds the KV file and the daemon its lock.
    using _a = await Deno.open(a, { write: true, create: true });
    using _b = await Deno.open(b, { write: true, create: true });
    const changes: (string | null)[] = [];
    let probes = 0;
    const health = new StorageHealth({
      files: [a, b],
      probe: () => (probes++, Promise.resolve()),
      onChange: (p) => changes.push(p),
    });
    await health.check();
    assert.equal(health.problem, null);
    await Deno.remove(b);
    await Deno.writeTextFile(b, ""); // Same name, another file: it does not pass for the first.
    await health.check();
    assert.match(health.problem ?? "", /b\.lock' was deleted while the daemon ran/);
    await Deno.remove(a);
    await health.check();
    assert.equal(changes.length, 1, "told once");
    assert.equal(probes, 0, "a lost file is not probed back");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StorageHealth: a failed write stops acknowledging until a probe succeeds", async () => {
  let disk = "full";
  const changes: (string | null)[] = [];
  const health = new StorageHealth({
    probe: () =>
      disk === "full" ? Promise.reject(new Error("database or disk is full")) : Promise.resolve(),
    onChange: (p) => changes.push(p),
  });
  assert.equal(health.failed(new Error("no such key")), false, "not a storage error");
  assert.equal(health.problem, null);
  assert.equal(health.failed(new Error("database or disk is full")), true);
  assert.equal(health.failed(new Error("database or disk is full")), true);
  assert.match(health.problem ?? "", /^Storage failed: database or disk is full/);
  await health.check();
  assert.notEqual(health.problem, null, "the probe failed too");
  disk = "free";
  await health.check();
  assert.equal(health.problem, null);
  assert.deepEqual(changes.map((c) => c === null ? null : "problem"), ["problem", null]);
});
