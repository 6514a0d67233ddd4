/**
 * The small programs a child may be started through: util-linux `setsid` (a process group of
 * its own through `Deno.Command`) and `nice(1)` (a lower priority from before the child's first
 * instruction, on both spawn paths).
 *
 * @module
 */

const found = new Map<string, string | null>();

/** The first of `paths` that is a file, looked up once per process. */
function firstFile(name: string, paths: readonly string[]): string | null {
  if (!found.has(name)) {
    let path: string | null = null;
    for (const candidate of paths) {
      try {
        if (Deno.statSync(candidate).isFile) {
          path = candidate;
          break;
        }
      } catch {
        // Not here.
      }
    }
    found.set(name, path);
  }
  return found.get(name)!;
}

/** util-linux `setsid`, when this machine has it (Linux only). */
export function setsidPath(): string | null {
  if (Deno.build.os !== "linux") return null;
  return firstFile("setsid", ["/usr/bin/setsid", "/bin/setsid"]);
}

/**
 * util-linux `setpriv`, when this machine has it (Linux only): `setpriv --pdeathsig KILL -- CMD`
 * runs CMD so that the kernel kills it when its parent dies, however it dies.
 */
export function setprivPath(): string | null {
  if (Deno.build.os !== "linux") return null;
  return firstFile("setpriv", ["/usr/bin/setpriv", "/bin/setpriv"]);
}

/** `nice(1)` (coreutils, busybox or BSD), when this machine has it. */
export function nicePath(): string | null {
  if (Deno.build.os === "windows") return null;
  return firstFile("nice", ["/usr/bin/nice", "/bin/nice"]);
}

/**
 * The arguments that make `nice` run `list` (the command, then its arguments) at niceness `nice`
 * above this process's: `nice(1)` sets it before it execs, so no descendant the script starts
 * early can escape it, as one could when the priority is set from outside once the spawn has
 * returned.
 */
export function niceArgs(nice: number, list: readonly string[]): string[] {
  return ["-n", String(nice), "--", ...list];
}

/**
 * `nice(1)`'s own report that it could not exec `command` (exit 127 for a missing file, 126
 * otherwise, and one line on stderr naming itself and the command): the reason it gave, else
 * `null` (the command ran and its exit code is its own). Coreutils writes
 * `nice: ‘cmd’: No such file or directory` (the quotes follow the locale), busybox
 * `nice: can't execute 'cmd': No such file or directory`.
 */
export function niceFailure(
  command: string,
  result: { code: number | null; stderr: Uint8Array },
): string | null {
  if (result.code !== 126 && result.code !== 127) return null;
  if (result.stderr.length > 4096) return null;
  const text = new TextDecoder().decode(result.stderr).replace(/\n$/, "");
  // It names itself by its argv[0]: `nice`, or the path it was started by.
  const prefix = /^(?:\S*\/)?nice: /.exec(text);
  if (!prefix || text.includes("\n")) return null;
  const split = text.lastIndexOf(": ");
  if (split < prefix[0].length) return null;
  const named = text.slice(prefix[0].length, split);
  // The command, quoted (up to three characters each side), after busybox's words if any.
  const bare = named.replace(/^(can't execute|failed to run command) /, "");
  if (!bare.includes(command) || bare.length > command.length + 6) return null;
  return text.slice(split + 2);
}
