import assert from "node:assert/strict";
import { InboxStore } from "../inbox/store.ts";
import { ctxService } from "./ctx_service.ts";

async function withService(
  fn: (
    call: ReturnType<typeof ctxService>,
    seen: { kv: Deno.Kv; store: InboxStore; events: [string, unknown][] },
  ) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const store = new InboxStore(kv);
  const events: [string, unknown][] = [];
  try {
    const call = ctxService({
      session: "host",
      kv,
      inject: async (session, m) => (await store.add(session, [m]))[0],
      emit: (event, params) => events.push([event, params]),
    });
    await fn(call, { kv, store, events });
  } finally {
    kv.close();
  }
}

Deno.test("ctx.inject stores a message labelled with the plugin, in the host's or a named session", async () => {
  await withService(async (call, { store }) => {
    const id = await call("gh", "inject", ["first"]);
    const other = await call("gh", "inject", ["second", { session: "other", source: "skill" }]);
    const [m] = await store.list("host");
    assert.deepEqual([m.id, m.source, m.label, m.content], [
      id,
      "background",
      "plugin gh",
      "first",
    ]);
    const [o] = await store.list("other");
    assert.deepEqual([o.id, o.source, o.content], [other, "skill", "second"]);
  });
});

Deno.test("ctx.inject refuses empty text, other sources and bad session names, storing nothing", async () => {
  await withService(async (call, { store }) => {
    await assert.rejects(() => call("p", "inject", ["  "]), /needs non-empty text/);
    await assert.rejects(() => call("p", "inject", [42]), /needs non-empty text/);
    await assert.rejects(
      () => call("p", "inject", ["x", { source: "schedule" }]),
      /source must be 'skill' or 'background', not 'schedule'/,
    );
    await assert.rejects(
      () => call("p", "inject", ["x", { session: "../etc" }]),
      /Invalid session name '..\/etc'/,
    );
    assert.deepEqual(await store.list("host"), []);
  });
});

Deno.test("ctx.store is a namespace of the plugin's own; keys are checked", async () => {
  await withService(async (call, { kv }) => {
    await call("a", "store.set", [["k", 1], { v: "a's" }]);
    await call("b", "store.set", [["k", 1], { v: "b's" }]);
    assert.deepEqual(await call("a", "store.get", [["k", 1]]), { v: "a's" });
    assert.deepEqual(await call("a", "store.list", [["k"]]), [{
      key: ["k", 1],
      value: { v: "a's" },
    }]);
    await call("a", "store.delete", [["k", 1]]);
    assert.equal(await call("a", "store.get", [["k", 1]]), null);
    assert.deepEqual((await kv.get(["p", "b", "k", 1])).value, { v: "b's" }, "b's value untouched");
    await assert.rejects(() => call("a", "store.get", ["k"]), /Store keys are/);
    await assert.rejects(() => call("a", "store.set", [[{ o: 1 }], 1]), /Store keys are/);
  });
});

Deno.test("ctx.emit fires the event with its params; a nameless event is refused", async () => {
  await withService(async (call, { events }) => {
    await call("p", "emit", ["deployed", { env: "prod" }]);
    await call("p", "emit", ["bare"]);
    await assert.rejects(() => call("p", "emit", [""]), /needs an event name/);
    assert.deepEqual(events, [["deployed", { env: "prod" }], ["bare", {}]]);
  });
});
