import assert from "node:assert/strict";
import { permissionFlags, selfCommand } from "./plugin_process.ts";

Deno.test("permissionFlags() grants exactly the plugin's permissions, and denies imports from the network", () => {
  assert.deepEqual(
    permissionFlags({
      net: ["api.example.com", "127.0.0.1:8080"],
      read: true,
      write: false,
      env: [],
      import: false,
    }),
    [
      "--allow-net=api.example.com,127.0.0.1:8080",
      "--allow-read",
      "--deny-import",
      "--cached-only",
    ],
  );
  assert.deepEqual(permissionFlags({ import: ["esm.sh"] }), ["--allow-import=esm.sh"]);
  assert.deepEqual(permissionFlags({}), []);
});

Deno.test("selfCommand() runs this checkout's main.ts inline with only the plugin's flags", () => {
  const { command: [cmd, args], inline } = selfCommand("p", { env: ["X"], import: false });
  assert.equal(cmd, Deno.execPath());
  assert.equal(inline, true);
  assert.deepEqual(args.slice(0, 5), [
    "run",
    "--allow-env=X",
    "--deny-import",
    "--cached-only",
    "--no-prompt",
  ]);
  assert.match(args.at(-3)!, /\/main\.ts$/);
  assert.deepEqual(args.slice(-2), ["__plugin-host", "p"]);
  assert.ok(!args.some((a) => a === "--allow-all" || a === "-A"));
});
