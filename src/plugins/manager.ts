/**
 * The plugins folder, live: finds plugins, loads module plugins into their Workers and wraps
 * script plugins, picks up files appearing, changing and disappearing (within a second), serves
 * their `ctx` calls, and routes webhooks, events and processed messages to them.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { EventBus } from "../events/bus.ts";
import type { EventData } from "../events/execute.ts";
import type { Message, NewMessage } from "../inbox/message.ts";
import { discover, type Found } from "./discover.ts";
import { dirname } from "../path.ts";
import { ModulePlugin } from "./module_plugin.ts";
import { describePermissions, effectivePermissions, missingPermissions } from "./permissions.ts";
import { ctxService } from "./ctx_service.ts";
import type { CallMethod } from "./protocol.ts";
import type { PluginMessage, PluginPermissions } from "./types.ts";

/** Operator settings of one plugin (`[plugins.NAME]`). */
export interface PluginSettings {
  /** Narrows what the plugin declares. */
  permissions?: PluginPermissions;
  /** Handler timeout in seconds. */
  timeout?: number;
  /** `process` (default) or `worker`. */
  isolation?: "process" | "worker";
  /** Memory limit of a process-isolated plugin in MiB (default 128). */
  memory?: number;
}

/** Options of {@linkcode PluginManager}. */
export interface PluginManagerOptions {
  /** The plugins folder. */
  dir: string;
  /** The host's session. */
  session: string;
  /** KV for the plugins' stores. */
  kv: Deno.Kv;
  /** The host's log. */
  log: Logger;
  /**
   * Operator settings (`[plugins.NAME]`) by the plugin's file or folder name (without its
   * extension), never by the name it declares.
   */
  settings: (name: string) => PluginSettings | undefined;
  /** Default handler timeout in seconds (default 10). */
  defaultTimeout?: number;
  /** Event bus: plugins subscribe to it and `ctx.emit` fires on it. */
  bus?: EventBus;
  /** Stores a message durably in `session`'s inbox and wakes whoever runs it. */
  inject: (session: string, message: NewMessage) => Promise<Message>;
  /** Builds the handler of a script plugin (the webhook script interface). */
  scriptHandler: (name: string, path: string) => (req: Request) => Promise<Response>;
  /** Watch the folder (default true). */
  watch?: boolean;
}

/** One plugin as `plugins ls` shows it. */
export interface PluginStatus {
  /** Plugin name. */
  name: string;
  /** File or folder. */
  file: string;
  /** `module` or `script`. */
  kind: "module" | "script";
  /** What it handles: `webhook`, `message`, `on:EVENT`. */
  handles: string[];
  /** Granted permissions (`host (script)` for scripts: they run as the host's children). */
  permissions: string;
  /** What a module plugin declares. */
  declared?: string;
  /** What it declares and was not granted (`none` when it has all it asked for). */
  missing?: string;
  /** `process` or `worker`, for a module plugin. */
  isolation?: "process" | "worker";
  /** Resident memory of its process in bytes, for a process-isolated plugin that runs. */
  rss?: number;
  /** Crashes followed by a restart, since start (module plugins). */
  restarts?: number;
  /** `ready`, `restarting`, `failed`, `stopped`. */
  state: string;
  /** Last error, if any. */
  lastError?: string;
}

/** One plugin file as the manager holds it: a loaded module, a script, or why it failed. */
export interface Entry {
  /** Where it was found. */
  found: Found;
  /** Its name: the one a module plugin declares, else its file name. */
  name: string;
  /** Lost a name clash (retried when the name is free). */
  clash?: boolean;
  /** The running module plugin, for a module that loaded. */
  module?: ModulePlugin;
  /** The handler of a script plugin. */
  script?: (req: Request) => Promise<Response>;
  /** Why it is not serving (bad name, failed load, name clash); absent when it is live. */
  error?: string;
}

/** What a module plugin declared, was granted, and asked for in vain, as `plugins ls` shows. */
function grants(m: ModulePlugin): { declared: string; granted: string; missing: string } {
  return {
    declared: describePermissions(effectivePermissions(m.declared)),
    granted: describePermissions(m.effective),
    missing: describePermissions(missingPermissions(m.declared, m.effective)),
  };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Runs the plugins of a folder. */
export class PluginManager {
  #o: PluginManagerOptions;
  #entries = new Map<string, Entry>(); // by path
  #watcher: Deno.FsWatcher | null = null;
  #watching: Promise<void> | null = null;
  #scan: Promise<void> | null = null;
  #again = false;
  #unsubscribe: (() => void) | null = null;
  #stopped = false;
  /** Plugins being stopped (replaced or removed), for `stop()` to wait for their processes. */
  #stopping = new Set<Promise<void>>();
  /** Serves the plugins' `ctx` calls. */
  #ctx: (plugin: string, method: CallMethod, args: unknown[]) => Promise<unknown>;

  /** See {@linkcode PluginManagerOptions}. */
  constructor(options: PluginManagerOptions) {
    this.#o = options;
    this.#ctx = ctxService({
      session: options.session,
      kv: options.kv,
      inject: options.inject,
      emit: options.bus && ((event, params) => options.bus!.emit(event, params)),
    });
  }

  /** Loads every plugin, subscribes to events and starts watching the folder. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#o.bus?.subscribe(
      (data) => this.#onEvent(data),
      (event) => this.#any(`on:${event}`),
    ) ?? null;
    await this.rescan();
    if (this.#o.watch !== false) this.#watch();
  }

  /** Stops watching and terminates every plugin. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#watcher?.close();
    await this.#watching;
    await this.#scan;
    for (const e of this.#entries.values()) this.#stopModule(e.module);
    this.#entries.clear();
    await Promise.all(this.#stopping);
  }

  #stopModule(module: ModulePlugin | undefined): void {
    if (!module) return;
    const done = module.stop().finally(() => this.#stopping.delete(done));
    this.#stopping.add(done);
  }

  #watch(): void {
    if (this.#stopped) return;
    try {
      this.#watcher = Deno.watchFs(this.#o.dir, { recursive: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return this.#awaitFolder();
      this.#o.log.warn("Not watching plugins folder {dir}: {reason}", {
        dir: this.#o.dir,
        reason: (e as Error).message,
      });
      return;
    }
    const watcher = this.#watcher;
    this.#watching = (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      for await (const _ of watcher) {
        // Editors save in bursts (write temp, rename over): settle, then look once.
        clearTimeout(timer);
        timer = setTimeout(() => void this.rescan(), 100);
      }
      clearTimeout(timer);
    })().catch(() => {});
  }

  /**
   * The plugins folder does not exist yet: watches its parent until it does, then loads what it
   * holds and watches it as usual. (A folder created after the daemon started used to stay
   * unwatched: every plugin put there answered 404 until a restart.)
   */
  #awaitFolder(): void {
    const dir = this.#o.dir;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(dirname(dir), { recursive: false });
    } catch (e) {
      this.#o.log.warn("Not watching plugins folder {dir}: {reason}", {
        dir,
        reason: (e as Error).message,
      });
      return;
    }
    this.#o.log.info("Plugins folder {dir} does not exist yet; it is picked up once created", {
      dir,
    });
    this.#watcher = watcher;
    const exists = () => Deno.stat(dir).then((i) => i.isDirectory, () => false);
    this.#watching = (async () => {
      // Created between the failed watch above and this one: no event would tell.
      if (!await exists()) {
        for await (const _ of watcher) if (await exists()) break;
      }
      watcher.close();
      if (this.#stopped) return;
      this.#watch();
      await this.rescan();
    })().catch(() => {});
  }

  /** Re-reads the folder and applies the differences. Concurrent calls coalesce. */
  rescan(): Promise<void> {
    if (this.#scan) {
      this.#again = true;
      return this.#scan;
    }
    this.#scan = (async () => {
      do {
        this.#again = false;
        await this.#apply(
          await discover(this.#o.dir).catch((e) => {
            // No folder (yet, or any more): no plugins.
            if (e instanceof Deno.errors.NotFound) return [];
            this.#o.log.error("Cannot read plugins folder {dir}: {reason}", {
              dir: this.#o.dir,
              reason: (e as Error).message,
            });
            return null;
          }),
        );
      } while (this.#again);
    })().finally(() => (this.#scan = null));
    return this.#scan;
  }

  async #apply(found: Found[] | null): Promise<void> {
    if (!found) return;
    const seen = new Set(found.map((f) => f.path));
    for (const [path, entry] of this.#entries) {
      if (!seen.has(path)) {
        this.#stopModule(entry.module);
        this.#entries.delete(path);
        this.#o.log.info("plugin {name}: removed ({file})", { name: entry.name, file: path });
      }
    }
    for (const f of found) {
      const old = this.#entries.get(f.path);
      const unchanged = old && old.found.stamp === f.stamp && old.found.kind === f.kind;
      // A plugin that lost a name clash gets its turn once the name is free again.
      const retry = unchanged && old.clash && !this.#holder(old.name, f.path);
      if (unchanged && !retry) continue;
      // The new version loads while the old one keeps serving; then they swap.
      const entry = await this.#load(f);
      const holder = entry.error ? undefined : this.#holder(entry.name, f.path);
      if (holder) {
        this.#stopModule(entry.module);
        entry.module = undefined;
        entry.script = undefined;
        entry.clash = true;
        entry.error =
          `Plugin name '${entry.name}' is used by both ${holder.found.path} and ${f.path}`;
      }
      this.#stopModule(old?.module);
      this.#entries.set(f.path, entry);
      if (entry.error) {
        this.#o.log.error("plugin {file}: {error}", { file: f.path, error: entry.error });
      } else {
        // One-off loads (plugins ls, config check) report only problems.
        const level = this.#o.watch === false ? "debug" : "info";
        const m = entry.module;
        this.#o.log[level](
          m
            ? "plugin {name}: {what} ({file}); declared {declared}, granted {granted}, missing {missing}"
            : "plugin {name}: {what} ({file})",
          {
            name: entry.name,
            what: old ? "reloaded" : "loaded",
            file: f.path,
            ...(m && grants(m)),
          },
        );
      }
    }
    // Removing the holder of a clashed name frees it within this same scan.
    const waiting = [...this.#entries.values()].some((e) =>
      e.clash && !this.#holder(e.name, e.found.path)
    );
    if (waiting) this.#again = true;
  }

  /** The live plugin other than the one at `path` that holds `name`. */
  #holder(name: string, path: string): Entry | undefined {
    for (const e of this.#entries.values()) {
      if (e.found.path !== path && e.name === name && !e.error) return e;
    }
    return undefined;
  }

  async #load(f: Found): Promise<Entry> {
    if (!NAME.test(f.fileName)) {
      return { found: f, name: f.fileName, error: `Invalid plugin name '${f.fileName}'` };
    }
    if (f.kind === "script") {
      return { found: f, name: f.fileName, script: this.#o.scriptHandler(f.fileName, f.path) };
    }
    const settings = this.#o.settings(f.fileName);
    const module = new ModulePlugin({
      fileName: f.fileName,
      module: f.module!,
      root: f.path,
      session: this.#o.session,
      operator: settings?.permissions,
      timeoutMs: (settings?.timeout ?? this.#o.defaultTimeout ?? 10) * 1000,
      isolation: settings?.isolation,
      memoryMiB: settings?.memory,
      onCall: (plugin, method, args) => this.#ctx(plugin, method, args),
      log: this.#o.log,
    });
    const refuse = async (error: string): Promise<Entry> => {
      await module.stop();
      return { found: f, name: module.name, error };
    };
    try {
      await module.start();
    } catch (e) {
      return await refuse((e as Error).message);
    }
    if (!NAME.test(module.name)) return await refuse(`Invalid plugin name '${module.name}'`);
    // A declared name renames the route only: it cannot take another file's operator table.
    if (module.name !== f.fileName && this.#o.settings(module.name)) {
      return await refuse(
        `It declares the name '${module.name}', which [plugins.${module.name}] names for another file`,
      );
    }
    return { found: f, name: module.name, module };
  }

  /** The live plugin called `name`, if any. */
  get(name: string): Entry | undefined {
    for (const e of this.#entries.values()) if (e.name === name && !e.error) return e;
    return undefined;
  }

  /** Every plugin, by name. */
  status(): PluginStatus[] {
    return [...this.#entries.values()].map((e) => {
      const m = e.module;
      const g = m && grants(m);
      return {
        name: e.name,
        file: e.found.path,
        kind: e.found.kind,
        handles: m?.kinds ?? (e.found.kind === "script" ? ["webhook"] : []),
        permissions: g?.granted ?? (e.found.kind === "script" ? "host (script)" : "none"),
        ...(m && g &&
          {
            declared: g.declared,
            missing: g.missing,
            isolation: m.isolation,
            rss: m.rss,
            restarts: m.restarts,
          }),
        state: e.error ? "failed" : m?.state ?? "ready",
        lastError: e.error ?? m?.lastError,
      };
    }).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Hands `data` to every plugin with an `on.EVENT` handler for it (an event from outside this
   * process, such as `hookhost emit`); resolves with how many there were, once they finished.
   */
  async deliver(data: EventData): Promise<number> {
    let n = 0;
    for (const e of this.#entries.values()) if (e.module?.has(`on:${data.event}`)) n++;
    await this.#onEvent(data);
    return n;
  }

  #onEvent(data: EventData): Promise<unknown> | void {
    const runs: Promise<unknown>[] = [];
    for (const e of this.#entries.values()) {
      if (e.module?.has(`on:${data.event}`)) {
        runs.push(e.module.invoke({ t: "event", event: data }).catch(() => {}));
      }
    }
    if (runs.length) return Promise.all(runs);
  }

  /** Whether some module plugin has `kind` (`message`, `on:EVENT`). */
  #any(kind: string): boolean {
    for (const e of this.#entries.values()) if (e.module?.has(kind)) return true;
    return false;
  }

  /** Shows a processed message to every plugin with a `message` handler. */
  onMessage(message: Message): void {
    if (!this.#any("message")) return;
    const m: PluginMessage = {
      id: message.id,
      session: this.#o.session,
      source: message.source,
      label: message.label,
      content: message.content,
    };
    for (const e of this.#entries.values()) {
      if (e.module?.has("message")) e.module.invoke({ t: "message", message: m }).catch(() => {});
    }
  }
}
