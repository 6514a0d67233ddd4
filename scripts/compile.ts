/**
 * `deno task compile`: builds `dist/hookhost` with the same flags as `deno task hookhost`.
 * Needs the network once, to fetch Deno's `denort` runtime.
 *
 * @module
 */
import { ROOT, runtimeFlags } from "./flags.ts";

const args = [
  "compile",
  ...runtimeFlags(),
  // Read or started at run time, so not found by the module graph on its own.
  "--include",
  `${ROOT}/src/plugins/worker_main.ts`,
  "--include",
  `${ROOT}/src/plugins/types.ts`,
  "--output",
  `${ROOT}/dist/hookhost`,
  ...Deno.args,
  `${ROOT}/main.ts`,
];
console.error(`deno ${args.join(" ")}`);
const { code } = await new Deno.Command(Deno.execPath(), {
  args,
  stdout: "inherit",
  stderr: "inherit",
})
  .output();
Deno.exit(code);
