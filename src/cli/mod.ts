/**
 * The command-line interface.
 *
 * @module
 */
export { parseArgv, type Parsed } from "./argv.ts";
export { PROGRAM, VERSION } from "./program.ts";
