/**
 * `deno task compile`: builds `dist/hookhost` from the bundle (`scripts/bundle.ts`) with the same
 * runtime flags as `deno task hookhost`. Needs the network once, to fetch Deno's `denort`
 * runtime (and esbuild, for the bundle).
 *
 * @module
 */
import { bundle, BUNDLE_FLAGS } from "./bundle.ts";
import { ROOT, runtimeFlags } from "./flags.ts";

const main = await bundle();
const args = [
  "compile",
  ...runtimeFlags(),
  ...BUNDLE_FLAGS,
  // Read or started at run time, so not found by the module graph on its own.
  "--include",
  `${ROOT}/src/plugins/worker_main.ts`,
  "--include",
  `${ROOT}/src/plugins/types.ts`,
  "--output",
  `${ROOT}/dist/hookhost`,
  ...Deno.args,
  main,
];
console.error(`deno ${args.join(" ")}`);
const { code } = await new Deno.Command(Deno.execPath(), {
  args,
  stdout: "inherit",
  stderr: "inherit",
})
  .output();
Deno.exit(code);
