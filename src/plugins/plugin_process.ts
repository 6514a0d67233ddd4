/**
 * A plugin's process, host side (`isolation = "process"`): hookhost itself started as
 * `hookhost __plugin-host NAME` (process_main.ts), which runs the plugin with its permissions
 * (see {@linkcode selfCommand}). It looks to the host like a Worker ({@linkcode PluginPort}): messages go over
 * the child's stdin and stdout as frames (frames.ts); `terminate()` is SIGKILL, which stops a
 * tight loop that `Worker.terminate()` cannot; the heap is capped at the plugin's `memory` by
 * `--max-old-space-size`, and {@linkcode PluginProcess.rss} tells the host what it holds.
 *
 * @module
 */
import { SELF_ENTRY } from "../assets.ts";
import { setprivPath, statFields } from "../exec/mod.ts";
import { FrameWriter, readFrames } from "./frames.ts";

/** What the host needs of a plugin's Worker; a `Worker` and a {@linkcode PluginProcess} are one. */
export interface PluginPort {
  /** Sends a message (a transfer list only moves buffers between threads). */
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  /** Gets the plugin's messages. */
  onmessage: ((e: MessageEvent) => unknown) | null;
  /** Told of an uncaught error, and for a process, of its end. */
  onerror: ((e: ErrorEvent) => unknown) | null;
  /** Stops it now. */
  terminate(): void;
}

/** The frame process_main.ts sends for its Worker's `error` event (or its own failure). */
export const PROCESS_ERROR = "process_error";

/** The first frame to a plugin process: how to run the plugin. */
export interface SpawnFrame {
  /** The plugin's file name (for Deno's messages). */
  name: string;
  /**
   * The plugin's permissions. `inline`: the process already holds exactly these (its flags),
   * and runs the plugin on its own thread; else it starts a Worker with them.
   */
  permissions: Deno.PermissionOptionsObject;
  /** Whether the process itself runs the plugin. */
  inline: boolean;
}

/**
 * `permissions` as `deno run` flags: nothing for what is denied (prompts are off), but for
 * `import`, whose default allows a few hosts, `--deny-import`, and `--cached-only` with it: a
 * plugin not granted `import` loads `npm:` and remote modules only from Deno's cache (filled by
 * `hookhost plugins install`), never from the network.
 */
export function permissionFlags(permissions: Deno.PermissionOptionsObject): string[] {
  const flags: string[] = [];
  for (const [kind, v] of Object.entries(permissions)) {
    if (v === true) flags.push(`--allow-${kind}`);
    else if (Array.isArray(v) && v.length) flags.push(`--allow-${kind}=${v.join(",")}`);
    else if (kind === "import") flags.push("--deny-import", "--cached-only");
  }
  return flags;
}

/**
 * How hookhost starts itself as the host of plugin `name` (which `ps` then shows), and whether
 * that process runs the plugin inline. Under `deno run` the process is given exactly the
 * plugin's permissions as flags and runs it on its main thread: one thread and one isolate
 * fewer than a Worker inside it (less memory, one copy of each message fewer). The compiled
 * binary takes no permission flags at run time (they are fixed when it is built), so there the
 * process starts the plugin in a Worker with its permissions.
 */
export function selfCommand(
  name: string,
  permissions: Deno.PermissionOptionsObject,
): { command: [string, string[]]; inline: boolean } {
  if (Deno.build.standalone) {
    return { command: [Deno.execPath(), ["__plugin-host", name]], inline: false };
  }
  // The bundle resolves no bare specifier and runs without a deno.json, as the binary does.
  const config = SELF_ENTRY.endsWith(".js") ? ["--no-config"] : [];
  const flags = [...permissionFlags(permissions), "--no-prompt", ...config];
  return {
    command: [Deno.execPath(), ["run", ...flags, SELF_ENTRY, "__plugin-host", name]],
    inline: true,
  };
}

/**
 * `command` so that the kernel kills it when the daemon dies, even by SIGKILL (`setpriv
 * --pdeathsig KILL`, which execs it: its parent stays the daemon). A plugin runs in the relay's
 * thread and can keep it from ever reading the end of its stdin; this does not depend on the
 * plugin. Without `setpriv`, the relay's own exit at the end of stdin is all there is.
 */
function withParentDeath(command: [string, string[]]): [string, string[]] {
  const setpriv = setprivPath();
  return setpriv ? [setpriv, ["--pdeathsig", "KILL", "--", command[0], ...command[1]]] : command;
}

/** Options of {@linkcode PluginProcess}. */
export interface PluginProcessOptions {
  /** The plugin's file name. */
  name: string;
  /** The plugin's permissions. */
  permissions: Deno.PermissionOptionsObject;
  /** Heap limit in MiB (`--max-old-space-size`). */
  memoryMiB: number;
  /** Gets each line the process writes to stderr (what the plugin prints, how it died). */
  onStderr?: (line: string) => void;
  /** The command to start, and whether it runs the plugin inline (default {@linkcode selfCommand}). */
  command?: { command: [string, string[]]; inline: boolean };
}

const MIB = 1024 * 1024;
/** Lines of a process's stderr logged at most (the rest is counted, not logged). */
const STDERR_LINES = 200;
/** How often a process's RSS is compared with its memory limit. */
const MEMORY_CHECK_MS = 250;
/** Characters of stderr kept (its end, for why it died) and of one logged line. */
const STDERR_TAIL = 4096;

/** The `error` of the event a {@linkcode PluginProcess} reports its end (or its killing) with. */
export class ProcessEndedError extends Error {}

/** One plugin process; see the module doc. */
export class PluginProcess implements PluginPort {
  /** See {@linkcode PluginPort}. */
  onmessage: ((e: MessageEvent) => unknown) | null = null;
  /** See {@linkcode PluginPort}. */
  onerror: ((e: ErrorEvent) => unknown) | null = null;
  #child: Deno.ChildProcess;
  #out: FrameWriter;
  #killed = false;
  /** The end of what it wrote to stderr: V8 says there why it died. */
  #stderr = "";
  /** Settles once the process has exited and its pipes are read. */
  readonly closed: Promise<void>;
  #watch: ReturnType<typeof setInterval>;

  /** Starts the process and sends it `options`' spawn frame. */
  constructor(options: PluginProcessOptions) {
    const start = options.command ?? selfCommand(options.name, options.permissions);
    const [cmd, args] = withParentDeath(start.command);
    const inherited = Deno.env.get("DENO_V8_FLAGS");
    // As the daemon's own flags (scripts/flags.ts): a small young generation holds less memory.
    const heap = `--max-semi-space-size=4,--max-old-space-size=${options.memoryMiB}`;
    this.#child = new Deno.Command(cmd, {
      args,
      env: { DENO_V8_FLAGS: inherited ? `${inherited},${heap}` : heap },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#out = new FrameWriter(this.#child.stdin.getWriter());
    const { name, permissions } = options;
    this.#out.send({ name, permissions, inline: start.inline } satisfies SpawnFrame);
    // From its first moment, loading included: a plugin's top-level code can allocate too.
    const limit = options.memoryMiB * MIB;
    this.#watch = setInterval(() => {
      const rss = this.rss();
      if (this.#killed || rss === undefined || rss <= limit) return;
      this.#error(
        `It used ${
          Math.round(rss / MIB)
        } MiB, over its memory limit of ${options.memoryMiB} MiB; it was killed`,
        new ProcessEndedError(),
      );
      this.terminate();
    }, MEMORY_CHECK_MS);
    this.closed = Promise.all([
      this.#read(),
      this.#readStderr(options.onStderr),
      this.#child.status,
    ])
      .then(([, , status]) => this.#ended(status));
  }

  /** Process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Resident memory in bytes, from `/proc` (undefined once it has exited, or off Linux). */
  rss(): number | undefined {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.#child.pid}/status`);
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
      return kb ? Number(kb[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** CPU time it has used in ms (user and system, from `/proc`), or undefined once it exited. */
  cpuMs(): number | undefined {
    try {
      const f = statFields(Deno.readTextFileSync(`/proc/${this.#child.pid}/stat`));
      return (Number(f[11]) + Number(f[12])) * 10; // utime and stime, clock ticks of 10 ms
    } catch {
      return undefined;
    }
  }

  /** See {@linkcode PluginPort}; the transfer list is ignored (a pipe copies anyway). */
  postMessage(msg: unknown): void {
    this.#out.send(msg);
  }

  /** Kills the process (SIGKILL): whatever it runs stops now. */
  terminate(): void {
    if (this.#killed) return;
    this.#killed = true;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
  }

  async #read(): Promise<void> {
    try {
      for await (const data of readFrames(this.#child.stdout)) {
        if (this.#killed) continue;
        const msg = data as { t?: string; message?: string };
        if (msg.t === PROCESS_ERROR) this.#error(msg.message ?? "unknown error");
        else this.onmessage?.(new MessageEvent("message", { data }));
      }
    } catch (e) {
      if (!this.#killed) this.#error((e as Error).message);
      this.terminate();
    }
  }

  async #readStderr(onLine?: (line: string) => void): Promise<void> {
    let partial = "";
    let lines = 0;
    const line = (text: string) => {
      // V8's report of a fatal error is dozens of lines of stack addresses: the first ones say it.
      if (++lines <= STDERR_LINES) onLine?.(text);
      else if (lines === STDERR_LINES + 1) onLine?.("(more output not logged)");
    };
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr = (this.#stderr + chunk.slice(-STDERR_TAIL)).slice(-STDERR_TAIL);
      if (!onLine) continue;
      // Only the new chunk is split, and a line is cut at STDERR_TAIL characters: what the
      // plugin prints costs the host what it received, not its square.
      let from = 0;
      for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", from)) {
        line((partial + chunk.slice(from, nl)).slice(0, STDERR_TAIL));
        partial = "";
        from = nl + 1;
      }
      if (partial.length < STDERR_TAIL) partial += chunk.slice(from, from + STDERR_TAIL);
    }
    if (partial) line(partial.slice(0, STDERR_TAIL));
  }

  #ended(status: Deno.CommandStatus): void {
    clearInterval(this.#watch);
    void this.#out.close();
    if (this.#killed) return;
    this.#killed = true;
    const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
    const why = /out of memory|heap limit/i.test(this.#stderr)
      ? "it ran out of memory"
      : `it ended with ${how}`;
    this.#error(`Its process ended: ${why}`, new ProcessEndedError());
  }

  #error(message: string, error?: Error): void {
    this.onerror?.(new ErrorEvent("error", { message, error, cancelable: true }));
  }
}
