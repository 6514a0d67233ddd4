import assert from "node:assert/strict";
import { compose, text } from "./chain.ts";
import { BodyBudget, Deadlines, limitBody } from "./body_limit.ts";

Deno.test("Deadlines: calls what is due by its clock, once, and not what was forgotten", () => {
  let now = 1000;
  const deadlines = new Deadlines({ now: () => now, everyMs: 60_000 });
  const called: string[] = [];
  deadlines.add(100, () => called.push("a"));
  const forgetB = deadlines.add(100, () => called.push("b"));
  deadlines.add(500, () => called.push("c"));
  forgetB();
  now = 1099;
  deadlines.sweep();
  assert.deepEqual(called, [], "nothing is due a millisecond early");
  now = 1100;
  deadlines.sweep();
  deadlines.sweep();
  assert.deepEqual(called, ["a"], "due once; a forgotten deadline never fires");
  now = 2000;
  deadlines.sweep();
  assert.deepEqual(called, ["a", "c"]);
});

Deno.test("BodyBudget: takes what fits, refuses what does not, and gives back", () => {
  const budget = new BodyBudget(10);
  assert.ok(budget.take(6));
  assert.equal(budget.take(5), false, "6 + 5 is over 10");
  assert.equal(budget.held, 6, "a refused take holds nothing");
  assert.ok(budget.take(4));
  budget.give(10);
  budget.give(3);
  assert.equal(budget.held, 0, "never below zero");
});

Deno.test("limitBody: a spent budget is 503 with Retry-After, and bytes come back after", async () => {
  const budget = new BodyBudget(8);
  const handler = compose([limitBody(1024, { budget })], (ctx) => {
    assert.equal(budget.held, ctx.body?.length, "held while the chain runs");
    return Promise.resolve(text(200, "ok\n"));
  });
  const post = (body: string) =>
    handler(
      new Request("http://h/", {
        method: "POST",
        body,
        headers: { "content-length": `${body.length}` },
      }),
    );
  assert.equal((await post("12345678")).status, 200);
  assert.equal(budget.held, 0, "given back once answered");
  budget.take(4);
  const busy = await post("12345");
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "5");
  assert.equal(busy.headers.get("connection"), "close");
  assert.equal(budget.held, 4, "the refused request took nothing");
});

Deno.test("limitBody: a body refused for the budget gives back at once, so one arriving with it passes", async () => {
  const budget = new BodyBudget(1000);
  const go = Promise.withResolvers<void>();
  // Two chunked bodies (500 and 400 bytes held), then 200 more bytes each, released together:
  // the first is refused (1100 > 1000); the second fits only once the first gave its 500 back.
  const body = (first: number) => {
    let step = 0;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (step === 0) c.enqueue(new Uint8Array(first));
        else if (step === 1) {
          await go.promise;
          c.enqueue(new Uint8Array(200));
        } else c.close();
        step++;
      },
    });
  };
  const handler = compose([limitBody(10_000, { budget })], (ctx) => {
    return Promise.resolve(text(200, `${ctx.body?.length}\n`));
  });
  const post = (first: number) =>
    handler(new Request("http://h/", { method: "POST", body: body(first) }));
  const answers = [post(500), post(400)];
  while (budget.held < 900) await new Promise((r) => setTimeout(r, 1));
  go.resolve();
  const [a, b] = await Promise.all(answers);
  assert.equal(a.status, 503, "the first to read its last chunk is over the budget");
  assert.equal(b.status, 200, "the second fits once the first gave its bytes back");
  assert.equal(await b.text(), "600\n");
  assert.equal(budget.held, 0);
});
