/**
 * The command-line interface.
 *
 * @module
 */
export { type HelpWidth, parseArgv, type Parsed } from "./argv.ts";
export type { Action, ArgSpec, CommandSpec, OptionSpec } from "./command_spec.ts";
export { PROGRAM, VERSION, VERSION_TEXT } from "./program.ts";
