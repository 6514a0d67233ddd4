import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { runtimeFlags } from "./flags.ts";

Deno.test("runtimeFlags() is the hookhost task's flag list, with KV and Worker options", () => {
  const flags = runtimeFlags();
  assert.equal(denoJson.tasks.hookhost, `deno run ${flags.join(" ")} main.ts`);
  for (const flag of ["--unstable-kv", "--unstable-worker-options", "--allow-all"]) {
    assert.ok(flags.includes(flag), `missing ${flag}`);
  }
});

Deno.test("runtimeFlags() feeds compile, and start goes through the hookhost task", async () => {
  const compile = await Deno.readTextFile(new URL("./compile.ts", import.meta.url));
  assert.match(compile, /\.\.\.runtimeFlags\(\)/);
  assert.match(denoJson.tasks.start, /^deno task hookhost run --name demo --daemon /);
});
