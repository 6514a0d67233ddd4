/**
 * `hooks.json`, the EnConvo event hooks format: validation against the schema of `hooks_schema.ts`
 * with `file:line:col` and JSON paths, and a reader that re-reads the file whenever it changed
 * (checked at every event), keeping the last good version when an edit is broken.
 *
 * @module
 */
import { dirname } from "../path.ts";
import type { Logger } from "../output/log.ts";
import { type ConfigProblem, formatProblem, sentenceCase, sortProblems } from "../errors.ts";
import { formatPath } from "../config/locate.ts";
import { eventsOf, HooksFileSchema } from "./hooks_schema.ts";
import { JsonSyntaxError, locateJson, parseJsonWithPositions } from "./json_locate.ts";

/** A hook that runs a shell command with the event JSON on stdin. */
export interface CommandHook {
  /** Discriminator. */
  type: "command";
  /** Shell command (run with `/bin/sh -c`). */
  command: string;
  /** Timeout in ms (default 30000). */
  timeout: number;
  /** Where it is in the file, e.g. `run_status_changed[0].hooks[1]`. */
  where: string;
}

/** A hook that sends the event JSON to a URL. */
export interface HttpHook {
  /** Discriminator. */
  type: "http";
  /** Target URL. */
  url: string;
  /** HTTP method (default `POST`). */
  method: string;
  /** Extra headers. */
  headers: Record<string, string>;
  /** Variable holding a `whsec_` secret: the request is signed with Standard Webhooks headers. */
  secret_env?: string;
  /** Timeout in ms (default 30000). */
  timeout: number;
  /** Where it is in the file. */
  where: string;
}

/** An event hook. */
export type EventHook = CommandHook | HttpHook;

/** One `{matcher, hooks}` entry of an event. */
export interface HookGroup {
  /** Compiled matcher; `null` matches everything. */
  matcher: RegExp | null;
  /** The hooks to run. */
  hooks: EventHook[];
}

/** Event name → its hook groups. */
export type HooksConfig = Map<string, HookGroup[]>;

export { DEFAULT_HOOK_TIMEOUT_MS, MAX_TIMEOUT_MS } from "./hooks_schema.ts";

/**
 * Validates hooks.json `text` read from `file` against {@linkcode HooksFileSchema}, reporting
 * every problem with its `file:line:col` and JSON path, in file order.
 */
export function parseHooksFile(
  text: string,
  file: string,
): { config?: HooksConfig; problems: ConfigProblem[] } {
  let parsed;
  try {
    parsed = parseJsonWithPositions(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    return { problems: [{ file, ...e.position, message: `Invalid JSON: ${e.message}` }] };
  }
  const { events, prefix } = eventsOf(parsed.value);
  const result = HooksFileSchema.safeParse(events);
  if (!result.success) {
    const problems = result.error.issues.map((issue): ConfigProblem => {
      const path = [...prefix, ...issue.path];
      return {
        file,
        ...locateJson(parsed.positions, path),
        path: formatPath(path) || undefined,
        message: sentenceCase(issue.message),
      };
    });
    return { problems: sortProblems(problems) };
  }
  const config: HooksConfig = new Map();
  for (const [event, groups] of Object.entries(result.data)) {
    config.set(
      event,
      // A disabled entry is checked like the others, then left out.
      groups.flatMap((group, g) =>
        group.enabled
          ? [{
            matcher: group.matcher,
            hooks: group.hooks.map((hook, h) => ({
              ...hook,
              where: formatPath([...prefix, event, g, "hooks", h]),
            })),
          }]
          : []
      ),
    );
  }
  return { config, problems: [] };
}

/** The text an event's matcher is tested against: `params.commandKey`, else `params.subject`. */
export function matchKey(params: Record<string, unknown>): string {
  const key = params.commandKey ?? params.subject ?? "";
  if (typeof key === "string") return key;
  try {
    return String(key);
  } catch {
    return ""; // Params come from plugins and the shell: a key that cannot be text matches as "".
  }
}

/** The hooks of `config` that match `event` with `params`, in file order. */
export function matchingHooks(
  config: HooksConfig,
  event: string,
  params: Record<string, unknown>,
): EventHook[] {
  const key = matchKey(params);
  const out: EventHook[] = [];
  for (const group of config.get(event) ?? []) {
    if (group.matcher && !group.matcher.test(key)) continue;
    out.push(...group.hooks);
  }
  return out;
}

/** How long a look that found `hooks.json` unchanged stands for events (ms). */
export const LOOK_EVERY_MS = 10;

/**
 * hooks.json as it is now: re-read when its modification time, inode or size changed (so an
 * editor's rename-over-it counts), checked on every `current()` call. A broken edit keeps the
 * last good version and is logged once. A missing file means no hooks.
 */
export class HooksFile {
  /** The file. */
  readonly path: string;
  /**
   * Every variable a loaded version named in a `secret_env`: children never see them (the set
   * only grows, so a secret stays hidden after its hook is removed).
   */
  readonly secretNames: Set<string> = new Set();
  #log: Logger;
  #stamp = "";
  #config: HooksConfig = new Map();
  #checking: Promise<HooksConfig> | null = null;
  #loaded = false;
  #text: string | null = null;

  /** Watches `path`; problems go to `log`. */
  constructor(path: string, options: { log: Logger }) {
    this.path = path;
    this.#log = options.log;
  }

  /** The hooks in force, re-reading the file first if it changed. Concurrent calls share a check. */
  current(): Promise<HooksConfig> {
    this.#checking ??= this.#check().finally(() => (this.#checking = null));
    return this.#checking;
  }

  /** While the file is missing: its folder's stamp then (a create or rename-in changes it). */
  #dirStamp: string | null = null;

  #isLink(): boolean {
    try {
      return Deno.lstatSync(this.path).isSymlink;
    } catch {
      return false;
    }
  }

  #folderStamp(): string {
    try {
      const info = Deno.statSync(dirname(this.path));
      const mtime = info.mtime?.getTime() ?? 0;
      // Recently changed folders are always looked into (millisecond mtimes, as below).
      return Date.now() - mtime < 2000 ? "recent" : `${mtime}:${info.ino}`;
    } catch {
      return "unknown";
    }
  }

  /**
   * Looks at the file (synchronously): its new stamp, or null when it is unchanged since the
   * last check.
   */
  #look(): string | null {
    // Most daemons have no hooks.json: a stat of its folder is enough, and cheaper than the
    // NotFound error of a stat of the file at every event.
    // A folder changed in the last 2 s is never trusted, so a file created around the stats
    // below is seen by the next check.
    let folder = this.#stamp === "missing" ? this.#folderStamp() : null;
    if (
      folder !== null && folder === this.#dirStamp && folder !== "recent" && folder !== "unknown"
    ) return null;
    let stamp: string;
    let mtime: number | undefined;
    try {
      // Sync: a local stat is microseconds, less than a trip through the blocking pool.
      const info = Deno.statSync(this.path);
      mtime = info.mtime?.getTime();
      stamp = `${mtime}:${info.ino}:${info.size}`;
    } catch {
      stamp = "missing";
    }
    // A dangling symlink's target may appear elsewhere: then only a stat of the path will do.
    this.#dirStamp = stamp === "missing" && !this.#isLink()
      ? (folder ??= this.#folderStamp())
      : null;
    // Modification times have millisecond resolution here, so a same-size edit within the
    // millisecond of the last check keeps the stamp: re-read recently modified files.
    const recent = mtime !== undefined && Date.now() - mtime < 2000;
    return stamp === this.#stamp && !recent ? null : stamp;
  }

  /**
   * The hooks in force if the file is unchanged since the last check (looked at now), else null
   * (then {@linkcode current} re-reads it). Lets an event with no matching hook cost no promise.
   */
  unchanged(): HooksConfig | null {
    if (this.#checking !== null) return null;
    // Under load every request fires events, and a stat per event was a fifth of a busy
    // daemon's main thread: a look that found the file unchanged stands for LOOK_EVERY_MS.
    const now = performance.now();
    if (!this.#fresh || now - this.#lookedAt >= LOOK_EVERY_MS) {
      this.#fresh = this.#look() === null;
      this.#lookedAt = now;
    }
    return this.#fresh ? this.#config : null;
  }

  /** The last look found nothing newer than `#config`. */
  #fresh = false;
  #lookedAt = 0;

  async #check(): Promise<HooksConfig> {
    const stamp = this.#look();
    // Whatever it finds, `#config` is current once this check is done.
    this.#fresh = true;
    this.#lookedAt = performance.now();
    if (stamp === null) return this.#config;
    this.#stamp = stamp;
    if (stamp === "missing") {
      this.#text = null;
      this.#config = new Map();
      return this.#config;
    }
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (e) {
      this.#log.error("Cannot read {file}: {reason}; keeping the previous event hooks", {
        file: this.path,
        reason: (e as Error).message,
      });
      return this.#config;
    }
    if (text === this.#text) return this.#config;
    this.#text = text;
    const { config, problems } = parseHooksFile(text, this.path);
    if (!config) {
      this.#log.error("{problem}{more}; keeping the previous event hooks", {
        problem: formatProblem(problems[0]),
        more: problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : "",
      });
      return this.#config;
    }
    const reloaded = this.#loaded;
    this.#loaded = true;
    this.#config = config;
    for (const groups of config.values()) {
      for (const g of groups) {
        for (const h of g.hooks) {
          if (h.type === "http" && h.secret_env) this.secretNames.add(h.secret_env);
        }
      }
    }
    if (reloaded) this.#log.info("Reloaded event hooks from {file}", { file: this.path });
    else this.#log.debug("Loaded event hooks from {file}", { file: this.path });
    return config;
  }
}
