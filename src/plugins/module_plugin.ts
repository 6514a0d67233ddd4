/**
 * One module plugin, host side: probes its declaration, starts its Worker with exactly its
 * effective permissions, runs handlers with a timeout, and on a hang or crash terminates and
 * recreates the Worker with backoff. Nothing the plugin does can take the host down.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { HookhostError } from "../errors.ts";
import {
  checkPermissions,
  type Effective,
  effectivePermissions,
  PERMISSION_KINDS,
} from "./permissions.ts";
import type { CallMethod, FromWorker, ToWorker, WireResult } from "./protocol.ts";
import { type Invoke, WorkerChannel } from "./worker_channel.ts";
import type { PluginPermissions } from "./types.ts";
import { WORKER_URL } from "../assets.ts";
import { type PluginPort, PluginProcess, ProcessEndedError } from "./plugin_process.ts";
import { loadFrames } from "./frames.ts";

/** A handler did not finish in time, or the plugin is not running. */
export class PluginUnavailableError extends HookhostError {
  /** `plugin_timeout` or `plugin_unavailable`. */
  constructor(code: "plugin_timeout" | "plugin_unavailable", message: string) {
    super(code, message);
  }
}

/** Options of {@linkcode ModulePlugin}. */
export interface ModulePluginOptions {
  /** Name from the file name; the plugin may declare another. */
  fileName: string;
  /** Absolute path of the module (`x.ts`, or `dir/mod.ts`). */
  module: string;
  /** Its file, or its folder for folder plugins: readable while loading only. */
  root: string;
  /** Session of the host (`ctx.session`). */
  session: string;
  /**
   * What the operator grants (`[plugins.NAME] permissions`, keyed by the file's name); the
   * plugin gets at most this, and nothing without it.
   */
  operator?: PluginPermissions;
  /** Per-handler timeout in ms. */
  timeoutMs: number;
  /**
   * `process` (default): the Worker runs in a process of its own, which a hang, its memory limit
   * or `stop()` kill; `worker`: in this process, faster, but a Worker in a tight loop cannot be
   * stopped and its memory is not bounded.
   */
  isolation?: "process" | "worker";
  /** The memory limit of a process-isolated plugin in MiB (default 128): heap limit and RSS. */
  memoryMiB?: number;
  /** How to start a plugin process (default: hookhost itself, `selfCommand()`). */
  command?: { command: [string, string[]]; inline: boolean };
  /** Serves the plugin's `ctx` calls. */
  onCall: (plugin: string, method: CallMethod, args: unknown[]) => Promise<unknown>;
  /** The host's log. */
  log: Logger;
}

const LOAD_TIMEOUT_MS = 10_000;
/** A plugin process's memory limit unless `[plugins.NAME] memory` sets one. */
export const DEFAULT_MEMORY_MIB = 128;
const CPU_CHECK_MS = 1000;
/** The share of a core, over a window, that counts as spinning. */
const CPU_BUSY_SHARE = 0.9;
const MAX_BACKOFF_MS = 60_000;

/**
 * The first symlink below folder `root` that leads outside it, if any. While a plugin loads it
 * may read its folder, and Deno checks the path as written, not where a link leads.
 */
async function linkOutside(root: string): Promise<string | undefined> {
  const info = await Deno.lstat(root).catch(() => null);
  if (!info?.isDirectory) return undefined;
  const real = await Deno.realPath(root);
  const walk = async (dir: string, level: number): Promise<string | undefined> => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isSymlink) {
        const target = await Deno.realPath(path).catch(() => null);
        if (target === null || (target !== real && !target.startsWith(real + "/"))) return path;
      } else if (e.isDirectory && level < 16) {
        const found = await walk(path, level + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return await walk(root, 0);
}

/** `NotCapable: Requires read access to "/etc/x", …` → `read /etc/x`. */
export function deniedPermission(error: string): string | null {
  const m = /Requires (\w+) access to "?([^",]*)"?/.exec(error);
  return m ? `${m[1]} ${m[2]}`.trim() : null;
}

/** A running (or restarting) module plugin. */
export class ModulePlugin {
  #o: ModulePluginOptions;
  /** The running Worker's channel. */
  #channel: WorkerChannel | null = null;
  /** The running Worker, or the process it runs in. */
  #port: PluginPort | null = null;
  /** Processes started and not yet exited, probes included, for `stop()` to wait for. */
  #processes = new Set<PluginProcess>();
  #cpuTimer: ReturnType<typeof setInterval> | undefined;
  /** When a call was last in flight (`performance.now()`). */
  #lastBusy = 0;
  #failures = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** The plugin's name (declared, else from the file). */
  name: string;
  /** `starting`, `ready`, `restarting`, `failed` or `stopped`. */
  state = "starting";
  /** Last error, if any. */
  lastError: string | undefined;
  /** Times it crashed (hung, over its memory, exited) and was restarted, since start. */
  restarts = 0;
  /** What it declared. */
  declared: PluginPermissions | undefined;
  /** What its Worker holds. */
  effective: Effective = effectivePermissions(undefined);
  /** `webhook`, `message`, `on:EVENT`… */
  kinds: string[] = [];

  /** See {@linkcode ModulePluginOptions}. */
  constructor(options: ModulePluginOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be > 0");
    this.#o = options;
    this.name = options.fileName;
  }

  /** Loads the plugin: a probe to read its declaration, then its real Worker. */
  async start(): Promise<void> {
    if (this.isolation === "process") await loadFrames();
    const escape = await linkOutside(this.#o.root);
    if (escape) {
      throw new HookhostError(
        "plugin_invalid",
        `Its folder holds '${escape}', a symlink to outside it, which loading could read through`,
      );
    }
    const probe = await this.#load(true);
    this.name = probe.name ?? this.#o.fileName;
    this.declared = probe.permissions;
    const problem = checkPermissions(probe.permissions);
    if (problem) throw new HookhostError("plugin_invalid", problem);
    // Deny by default: no operator table grants nothing.
    this.effective = effectivePermissions(probe.permissions, this.#o.operator ?? null);
    await this.#load(false);
  }

  /** Whether it has `kind` (`webhook`, `message`, `on:EVENT`). */
  has(kind: string): boolean {
    return this.kinds.includes(kind);
  }

  #spawn(probe: boolean): PluginPort {
    const perms: Deno.PermissionOptionsObject = {};
    for (const kind of PERMISSION_KINDS) {
      const v = probe ? false : this.effective[kind];
      (perms as Record<string, unknown>)[kind] = v;
    }
    // The module must be readable to be imported; that grant is revoked right after.
    const read = perms.read;
    if (read !== true) perms.read = [...(Array.isArray(read) ? read : []), this.#o.root];
    if (this.isolation === "worker") {
      const name = `plugin ${this.#o.fileName}`;
      return new Worker(WORKER_URL, { type: "module", name, deno: { permissions: perms } });
    }
    const port = new PluginProcess({
      name: this.#o.fileName,
      permissions: perms,
      memoryMiB: this.#memoryMiB,
      command: this.#o.command,
      onStderr: (line) => {
        if (line.trim()) this.#o.log.info("plugin {name}: {line}", { name: this.name, line });
      },
    });
    this.#processes.add(port);
    port.closed.then(() => this.#processes.delete(port));
    return port;
  }

  /** The name of its file or folder, which keys its `[plugins.NAME]` table. */
  get fileName(): string {
    return this.#o.fileName;
  }

  /** `process` or `worker`. */
  get isolation(): "process" | "worker" {
    return this.#o.isolation ?? "process";
  }

  get #memoryMiB(): number {
    return this.#o.memoryMiB ?? DEFAULT_MEMORY_MIB;
  }

  /** Resident memory of its process in bytes (undefined for a Worker, or while none runs). */
  get rss(): number | undefined {
    return this.#port instanceof PluginProcess ? this.#port.rss() : undefined;
  }

  /**
   * Every second: a process that used (nearly) a whole core for its `timeout` while no call of
   * its was in flight (a spinning timer, a busy loop between requests) is stopped and restarted.
   * Busy answering calls is not this: a call past its timeout is already.
   */
  #watchCpu(): void {
    clearInterval(this.#cpuTimer);
    const port = this.#port;
    if (!(port instanceof PluginProcess)) return;
    const window = Math.max(this.#o.timeoutMs, CPU_CHECK_MS);
    const samples: { at: number; cpu: number }[] = [];
    this.#cpuTimer = setInterval(() => {
      const cpu = port.cpuMs();
      if (cpu === undefined) return;
      const at = performance.now();
      samples.push({ at, cpu });
      while (samples.length > 1 && at - samples[1].at >= window) samples.shift();
      const first = samples[0];
      const idle = !this.#channel?.pending && at - this.#lastBusy >= window;
      if (!idle || at - first.at < window) return;
      if (cpu - first.cpu >= CPU_BUSY_SHARE * (at - first.at)) {
        this.#crashed(
          `It used a whole core for ${
            Math.round((at - first.at) / 1000)
          } s with no call running; it was killed`,
        );
      }
    }, CPU_CHECK_MS);
  }

  #load(probe: boolean): Promise<Extract<FromWorker, { t: "loaded" }>> {
    const worker = this.#spawn(probe);
    const revoke = this.#coversRoot() ? undefined : this.#o.root;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.terminate();
        reject(new HookhostError("plugin_load_timeout", "Loading took longer than 10 s"));
      }, LOAD_TIMEOUT_MS);
      const fail = (message: string) => {
        clearTimeout(timer);
        worker.terminate();
        reject(new HookhostError("plugin_load_failed", message));
      };
      worker.onerror = (e) => {
        e.preventDefault();
        fail(e.message);
      };
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const msg = e.data;
        if (msg.t === "load_error") return fail(msg.error);
        if (msg.t !== "loaded") return;
        clearTimeout(timer);
        if (probe) {
          worker.terminate();
        } else {
          this.kinds = msg.kinds;
          this.#attach(worker);
        }
        resolve(msg);
      };
      const init: ToWorker = {
        t: "init",
        url: `file://${this.#o.module}`,
        name: this.#o.fileName,
        session: this.#o.session,
        revoke,
        probe,
      };
      worker.postMessage(init);
    });
  }

  #coversRoot(): boolean {
    const read = this.effective.read;
    return read === true ||
      (Array.isArray(read) &&
        read.some((p) => this.#o.root === p || this.#o.root.startsWith(p + "/")));
  }

  #attach(worker: PluginPort): void {
    this.state = "ready";
    this.#port = worker;
    this.#watchCpu();
    const seconds = this.#o.timeoutMs / 1000;
    const channel = this.#channel = new WorkerChannel(worker, {
      timeoutMs: this.#o.timeoutMs,
      timeoutError: () =>
        new PluginUnavailableError(
          "plugin_timeout",
          `Plugin '${this.name}' did not answer within ${seconds} s`,
        ),
      onTimeout: () =>
        this.#crashed(`A handler ran past its ${seconds} s timeout; the Worker was terminated`),
      onDone: (done) => {
        this.#lastBusy = performance.now();
        if (done.ok) this.#failures = 0;
        else this.#report(done.error);
      },
      onMessage: (msg) => this.#receive(channel, msg),
    });
    worker.onerror = (e) => {
      e.preventDefault();
      const ended = e.error instanceof ProcessEndedError;
      this.#crashed(ended ? e.message : `Uncaught error: ${e.message}`);
    };
  }

  #receive(channel: WorkerChannel, msg: Exclude<FromWorker, { t: "done" }>): void {
    const { log } = this.#o;
    switch (msg.t) {
      case "call": {
        this.#o.onCall(this.name, msg.method, msg.args).then(
          (value) => channel.post({ t: "reply", id: msg.id, ok: true, value } as ToWorker),
          (e) => {
            const error = (e as Error).message;
            channel.post({ t: "reply", id: msg.id, ok: false, error } as ToWorker);
          },
        );
        return;
      }
      case "log": {
        const denied = deniedPermission(msg.message);
        if (denied) {
          log.error("plugin {name}: permission denied: {what}", { name: this.name, what: denied });
        } else {log[msg.level]("plugin {name}: {message}", {
            name: this.name,
            message: msg.message,
          });}
        return;
      }
    }
  }

  /** Logs a handler error, naming a denied permission when that was the cause. */
  #report(error: string): void {
    this.lastError = error;
    const denied = deniedPermission(error);
    if (denied) {
      this.#o.log.error("plugin {name}: permission denied: {what}", {
        name: this.name,
        what: denied,
      });
    } else {
      this.#o.log.error("plugin {name}: {error}", { name: this.name, error });
    }
  }

  /**
   * Runs a handler in the Worker. Rejects with {@linkcode PluginUnavailableError} when the
   * plugin is not running or did not answer within its timeout (then it is restarted), and
   * with a `plugin_error` when the handler threw.
   */
  invoke(call: Invoke): Promise<WireResult | undefined> {
    const channel = this.#channel;
    if (!channel || this.state !== "ready") {
      return Promise.reject(
        new PluginUnavailableError("plugin_unavailable", `Plugin '${this.name}' is ${this.state}`),
      );
    }
    this.#lastBusy = performance.now();
    return channel.invoke(call);
  }

  #crashed(reason: string): void {
    if (this.#stopped || this.state === "restarting") return;
    this.lastError = reason;
    this.#channel?.close(() =>
      new PluginUnavailableError("plugin_unavailable", `Plugin '${this.name}': ${reason}`)
    );
    this.#channel = null;
    this.#port = null;
    clearInterval(this.#cpuTimer);
    this.#failures++;
    this.restarts++;
    const delay = Math.min(1000 * 2 ** (this.#failures - 1), MAX_BACKOFF_MS);
    this.state = "restarting";
    this.#o.log.error("plugin {name}: {reason}; restarting in {delay} ms", {
      name: this.name,
      reason,
      delay,
    });
    this.#restartTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.#load(false);
        this.#o.log.info("plugin {name}: restarted", { name: this.name });
      } catch (e) {
        this.state = "ready"; // let #crashed schedule the next try
        this.#crashed(`Restart failed: ${(e as Error).message}`);
      }
    }, delay);
  }

  /** Terminates the Worker for good; settles once its process (if any) has exited. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#cpuTimer);
    this.#channel?.close(() =>
      new PluginUnavailableError("plugin_unavailable", `Plugin '${this.name}' stopped`)
    );
    this.#channel = null;
    this.#port = null;
    this.state = "stopped";
    for (const p of this.#processes) p.terminate();
    await Promise.all([...this.#processes].map((p) => p.closed));
  }
}
