/**
 * hookhost's entry point: parses the command line, runs one command, and is the only place
 * that turns errors into exit codes and one-line messages.
 *
 * @module
 */
import { CommanderError } from "commander";
import { program } from "./src/cli/mod.ts";
import { EXIT_RUNTIME, EXIT_USAGE, HookhostError } from "./src/errors.ts";

async function main(args: string[]): Promise<number> {
  try {
    await program().parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version "errors" are successes; commander already printed the message.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof HookhostError) {
      console.error(`hookhost: ${e.message}`);
      return e.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    console.error(`hookhost: unexpected error: ${message}`);
    if (Deno.env.get("HOOKHOST_DEBUG")) console.error(e);
    return EXIT_RUNTIME;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
