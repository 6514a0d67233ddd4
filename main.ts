/**
 * hookhost's entry point: parses the command line, runs one command, and is the only place
 * that turns errors into exit codes and one-line messages.
 *
 * @module
 */
import { parseArgv, PROGRAM } from "./src/cli/mod.ts";
import { EXIT_RUNTIME, EXIT_USAGE, HookhostError } from "./src/errors.ts";

/** Help is wrapped to the terminal's width, or at 80 columns when it goes elsewhere. */
function helpWidth(stream: "stdout" | "stderr"): number {
  const file = stream === "stdout" ? Deno.stdout : Deno.stderr;
  if (!file.isTerminal()) return 80;
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

async function main(args: string[]): Promise<number> {
  try {
    const parsed = parseArgv(PROGRAM, args, { helpWidth });
    if (parsed.kind === "print") {
      const file = parsed.stream === "stdout" ? Deno.stdout : Deno.stderr;
      file.writeSync(new TextEncoder().encode(parsed.text));
      return parsed.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    await parsed.action(parsed.args, parsed.flags);
    return 0;
  } catch (e) {
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
  // Not a user's command: hookhost started as a plugin's process (src/plugins/process_main.ts).
  if (Deno.args[0] === "__plugin-host") {
    await (await import("./src/plugins/process_main.ts")).pluginHostMain();
  }
  // As a container's PID 1, hookhost is its own init (src/exec/init.ts): it runs itself as its
  // child and reaps the orphans scripts leave behind.
  if (Deno.build.os === "linux" && (Deno.pid === 1 || Deno.env.get("HOOKHOST_INIT") === "1")) {
    const init = await import("./src/exec/init.ts");
    const mode = init.wantsInit();
    if (mode) {
      const code = await init.runInit(init.selfCommand(Deno.args), {
        subreaper: mode === "subreaper",
      });
      if (code !== null) Deno.exit(code);
    }
  }
  Deno.exit(await main(Deno.args));
}
