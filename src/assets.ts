/**
 * Files hookhost reads or starts at run time instead of importing them: the plugin Worker's
 * entry module and the plugin API types that `hookhost plugins types` prints.
 *
 * @module
 */

// This module lies one folder below the repository root, and so does `dist/hookhost.js`, the
// bundle that `deno task compile` builds the binary from and that inlines this module: so
// `../` is the root both when hookhost runs from source and when it runs from the bundle (or
// the compiled binary, which keeps the same layout of files).
const ROOT = new URL("../", import.meta.url);

/** The module each plugin's Worker starts with (not bundled: `deno task compile` includes it). */
export const WORKER_URL: URL = new URL("src/plugins/worker_main.ts", ROOT);

/** The plugin API types module, printed by `hookhost plugins types`. */
export const PLUGIN_TYPES_URL: URL = new URL("src/plugins/types.ts", ROOT);

/**
 * The module hookhost runs from, for starting itself (plugin processes): `main.ts` from source,
 * else the bundle this module is inlined in (`dist/hookhost.js`, also inside the binary).
 */
export const SELF_ENTRY: string = import.meta.url.endsWith("/src/assets.ts")
  ? new URL("main.ts", ROOT).pathname
  : new URL(import.meta.url).pathname;
