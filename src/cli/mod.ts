/**
 * The command-line interface.
 *
 * @module
 */
export { program, VERSION } from "./program.ts";
