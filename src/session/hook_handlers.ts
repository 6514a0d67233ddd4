/**
 * The request side of a session: a handler per served hook (sync script, async script, plugin
 * route) and the `[server]` plugin router, all delivering into one session. Sockets are not
 * here: {@linkcode hookHandlers} gives `(hook, Request) => Response`, and whoever owns the
 * listeners (or a test) calls it.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import {
  type Config,
  DEFAULT_ASYNC_ATTEMPTS,
  DEFAULT_ASYNC_CONCURRENCY,
  DEFAULT_RETRY_SCHEDULE,
  DEFAULT_SYNC_CONCURRENCY,
  DEFAULT_SYNC_QUEUE,
  type EnvKeys,
  type HookConfig,
  retryDelay,
} from "../config/schema.ts";
import type { EventBus } from "../events/mod.ts";
import type { Spawner } from "../exec/spawn.ts";
import type { InboxStore } from "../inbox/store.ts";
import type { Message, NewMessage } from "../inbox/message.ts";
import { getSession } from "../inbox/sessions.ts";
import type { OutputRecord } from "../output/mod.ts";
import { log } from "../output/log.ts";
import { servePlugin } from "../plugins/serve.ts";
import { asyncHookHandler } from "../webhook/async_hook.ts";
import { JobStore } from "../webhook/job_store.ts";
import { type HookRun, scriptHookHandler } from "../webhook/script_hook.ts";
import { type GuardKeys, guardSteps } from "../webhook/guard.ts";
import type { Entry } from "../inbox/group_commit.ts";
import type { InjectMeta } from "../webhook/chain.ts";
import { requestId, withRequestId } from "../webhook/request_id.ts";
import { BodyBudget } from "../webhook/body_limit.ts";
import { methodsStep, pathStep, Slots } from "../webhook/slots.ts";
import { JobRunner } from "./job_runner.ts";
import type { WorkerPool, WorkerStatus } from "../worker/pool.ts";
import { HookWorkers } from "./hook_workers.ts";
import { type PluginHost, startPlugins } from "./plugin_host.ts";
import type { SessionRunner } from "./runner.ts";

/** Options of {@linkcode hookHandlers}. */
export interface HookHandlersOptions {
  /** Session name. */
  session: string;
  /** Plugins run in daemons only: a one-shot run would load them just to drop them. */
  daemon: boolean;
  /** The `[[hooks]]` entries to serve. */
  hooks: readonly HookConfig[];
  /** The validated config. */
  config: Config;
  /** The KV store (plugins' `ctx.kv`, async jobs). */
  kv: Deno.Kv;
  /** The inbox. */
  store: InboxStore;
  /** The session's runner (direct delivery of webhook messages). */
  runner: SessionRunner;
  /** Event bus (`hook_failed`, plugin events). */
  bus: EventBus;
  /** The starter of children of a table with `env` / `env_set` keys (a hook, a plugin). */
  spawnerFor: (keys: EnvKeys) => Spawner;
  /** The environment of a long-lived child of such a table (a persistent hook's workers). */
  envFor: (keys: EnvKeys) => Record<string, string>;
  /** Ms the workers of persistent hooks get to exit on their own at the stop (default 10000). */
  graceMs?: number;
  /** Plugins folder; served when it exists, or when the config asks for plugins. */
  pluginsDir?: string;
  /** Writes a record to the session's output. */
  record: (record: OutputRecord) => void;
  /** Fires `message_received` for a message of this session. */
  received: (message: Message) => void;
  /**
   * Stores messages in this session's inbox (`also`: writes committed with them); `announced`
   * when their `message_received` has fired.
   */
  inject: (
    messages: NewMessage[],
    options?: { announced?: boolean; also?: readonly Entry[] },
  ) => Promise<unknown[]>;
  /** Wakes another session's daemon after a plugin stored a message for it. */
  wake: (session: string) => Promise<void>;
  /** Aborting kills running scripts and cuts slow bodies (shutdown past grace). */
  hardStop: AbortSignal;
  /** The budget of body bytes of the whole process; default one made from `[limits]`. */
  bodyBudget?: BodyBudget;
  /** Told after an async hook stored a job (a standby then wakes the holder). */
  onJobStored?: () => void;
}

/** What {@linkcode hookHandlers} prepared. */
export interface HookHandlers {
  /** Names served: the hooks', then `server` when plugins run. */
  names: readonly string[];
  /** The started plugins, if any. */
  plugins: PluginHost | null;
  /** Serves a request for hook `name`; 404 for a name not served. */
  handle(name: string, req: Request): Promise<Response>;
  /**
   * Runs the async hooks' jobs until `signal` aborts (or, `untilIdle`, until none is left).
   * A failed runner is logged at once and stops the others; the promise then rejects.
   */
  runJobs(signal: AbortSignal, options?: { untilIdle?: boolean }): Promise<void>;
  /** Has async hooks look for jobs due again (dead letters replayed by `jobs replay`). */
  recheckJobs(): void;
  /** The workers of the persistent hooks, by hook. */
  workers(): Record<string, WorkerStatus[]>;
  /** Stops the plugins and the persistent hooks' workers. */
  stop(): Promise<void>;
}

/** Prepares the handlers of `options.hooks` (and starts plugins when a daemon serves them). */
export async function hookHandlers(options: HookHandlersOptions): Promise<HookHandlers> {
  const { session: name, config, store, runner, bus, spawnerFor, hardStop } = options;
  const logger: Logger = log("session");
  const body = {
    budget: options.bodyBudget ?? new BodyBudget(config.limits.max_body_in_flight),
    bodyTimeout: config.limits.body_timeout,
  };

  /**
   * A webhook's message. When the inbox is empty it is written to the output before the
   * request is answered, which is what storing and draining it would do, minus two KV writes
   * and a read; otherwise (or if the output fails) it is stored like any other.
   */
  const webhookMessage = async (hookName: string, content: string, meta: InjectMeta = {}) => {
    const { also, requestId } = meta;
    const messages = store.prepare([{
      source: "webhook",
      label: `webhook ${hookName}`,
      content,
      ...(requestId === undefined ? {} : { request_id: requestId }),
    }]);
    // A delivery id's record is committed with the message, so that message is stored.
    if (also?.length) return await options.inject(messages, { also });
    if (!runner.accepts() && !(await runner.whenAccepting())) return await options.inject(messages);
    for (const m of messages) options.received(m);
    if (await runner.deliver(messages)) return messages;
    return await options.inject(messages, { announced: true });
  };
  const reportRun = (run: HookRun) => {
    options.record({ type: "hook_run", ...run });
    if (run.status >= 500) {
      bus.emit("hook_failed", {
        commandKey: run.hook,
        status: run.status,
        exitCode: run.exit_code,
      });
    }
  };
  /** The steps before a body is read: the path, then the method. */
  /** The steps every request takes before its body is read: its path, then its method. */
  const beforeBody = (list: readonly string[]) => {
    const step = methodsStep(list);
    return step ? [pathStep, step] : [pathStep];
  };
  /** The verify, dedupe and match steps of hook (or plugin route) `hookName`. */
  const guard = (hookName: string, keys: GuardKeys | undefined) =>
    guardSteps(keys ?? {}, {
      session: name,
      hook: hookName,
      kv: options.kv,
      onRun: reportRun,
      log: log("webhook"),
    });
  const workers = new HookWorkers({
    session: name,
    envFor: options.envFor,
    hardStop,
    log: log("webhook"),
    sessionLog: logger,
  });
  /** A script hook of this session: [[hooks]] entries and script plugins alike. */
  const scriptHook = (
    hookName: string,
    script: string,
    limits: {
      timeout: number;
      maxBody: number;
      keys?: GuardKeys & EnvKeys;
      hook?: Pick<HookConfig, "concurrency" | "queue" | "methods">;
      pool?: WorkerPool;
      capacity?: number;
    },
  ) =>
    scriptHookHandler({
      name: hookName,
      script,
      timeout: limits.timeout,
      maxBody: limits.maxBody,
      before: beforeBody(limits.hook?.methods ?? ["*"]),
      body,
      steps: guard(hookName, limits.keys),
      slots: new Slots(
        limits.capacity ?? limits.hook?.concurrency ?? DEFAULT_SYNC_CONCURRENCY,
        limits.hook?.queue ?? DEFAULT_SYNC_QUEUE,
      ),
      session: name,
      spawner: spawnerFor(limits.keys ?? {}),
      pool: limits.pool,
      log: log("webhook"),
      signal: hardStop,
      inject: (content, meta) => webhookMessage(hookName, content, meta),
      onRun: reportRun,
    });

  const wantPlugins = options.daemon && options.pluginsDir !== undefined &&
    (config.server !== undefined || options.hooks.some((h) => h.plugin) ||
      await Deno.stat(options.pluginsDir).then((i) => i.isDirectory, () => false));
  const plugins = wantPlugins
    ? await startPlugins({
      session: name,
      dir: options.pluginsDir!,
      config,
      kv: options.kv,
      bus,
      scriptHook: (hookName, path, maxBody) => {
        const keys = config.plugins[hookName];
        const pool = keys?.persistent ? workers.forPlugin(hookName, path, keys) : undefined;
        const capacity = pool ? (keys!.workers ?? 1) * (keys!.max_inflight ?? 1) : undefined;
        return scriptHook(hookName, path, { timeout: 30, maxBody, keys, pool, capacity });
      },
      webhook: webhookMessage,
      steps: (plugin) => guard(plugin, config.plugins[plugin]),
      inject: async (target, message) => {
        if (target === name) return (await options.inject([message]))[0] as Message;
        if (!(await getSession(options.kv, target))) {
          throw new Error(`no session named '${target}'`);
        }
        const [m] = await store.add(target, [message]);
        await options.wake(target);
        return m;
      },
      onRun: reportRun,
      signal: hardStop,
      log: log("plugins"),
      body,
    })
    : null;

  const jobs = new JobStore(options.kv);
  const jobRunners: JobRunner[] = [];
  const handlers = new Map<string, (req: Request) => Promise<Response>>();
  for (const hook of options.hooks) {
    let async: JobRunner | null = null;
    let pending = 0;
    const pool = hook.persistent && hook.script
      ? workers.forHook({ ...hook, script: hook.script })
      : undefined;
    if (hook.mode === "async" && hook.script) {
      pending = await jobs.count(name, hook.name);
      async = new JobRunner({
        session: name,
        hook: { name: hook.name, script: hook.script, timeout: hook.timeout, pool },
        attempts: {
          max: hook.max_attempts ?? DEFAULT_ASYNC_ATTEMPTS,
          delay: (failed) => retryDelay(hook.retry_backoff ?? DEFAULT_RETRY_SCHEDULE, failed),
        },
        // A persistent hook's jobs run no more at once than its workers hold: one waiting for
        // room would spend its timeout there and count as a failed run.
        concurrency: Math.min(
          hook.concurrency ?? DEFAULT_ASYNC_CONCURRENCY,
          pool ? hook.workers * hook.max_inflight : Infinity,
        ),
        jobs,
        store,
        spawner: spawnerFor(hook),
        log: log("webhook"),
        hardStop,
        onRun: reportRun,
        onDone: () => pending--,
        onInjected: (m) => {
          runner.wake();
          options.received(m);
        },
      });
      jobRunners.push(async);
    }
    handlers.set(
      hook.name,
      async
        ? asyncHookHandler({
          name: hook.name,
          session: name,
          maxBody: hook.max_body,
          jobs,
          log: log("webhook"),
          signal: hardStop,
          before: beforeBody(hook.methods),
          body,
          steps: guard(hook.name, hook),
          full: () => pending >= hook.max_pending,
          onAccepted: () => {
            pending++;
            async!.wake();
            options.onJobStored?.();
          },
        })
        : hook.script
        ? scriptHook(hook.name, hook.script, {
          timeout: hook.timeout,
          maxBody: hook.max_body,
          keys: hook,
          hook,
          pool,
          capacity: pool ? hook.workers * hook.max_inflight : undefined,
        })
        : (req: Request) =>
          plugins
            ? servePlugin(plugins.manager, hook.plugin!, req, plugins.serve)
            : Promise.resolve(new Response("Plugins are not running\n", { status: 503 })),
    );
  }
  if (plugins) handlers.set("server", plugins.router);

  return {
    names: [...handlers.keys()],
    plugins,
    async handle(hookName, req) {
      const handler = handlers.get(hookName);
      const response = handler
        ? await handler(req)
        : new Response(`No hook named '${hookName}'\n`, { status: 404 });
      return withRequestId(response, requestId(req));
    },
    recheckJobs() {
      for (const r of jobRunners) r.recheck();
    },
    runJobs(signal, o = {}) {
      if (o.untilIdle) return Promise.all(jobRunners.map((r) => r.run(signal, o))).then(() => {});
      // Until the stop signal (or a failure of one runner): then they start nothing new and wait
      // for (or kill) what runs. A failure is logged at once and fails the session when it stops,
      // as a failed inbox runner does.
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
      const done = Promise.all(jobRunners.map((r) => r.run(stop.signal)));
      done.catch((e) => {
        logger.error("async jobs stopped: {reason}; they run again at the next start", {
          reason: (e as Error)?.message ?? String(e),
        });
        onAbort();
      });
      return done.then(() => {}).finally(() => signal.removeEventListener("abort", onAbort));
    },
    workers: () => workers.status(),
    async stop() {
      await Promise.all([plugins?.stop(), workers.stop(options.graceMs ?? 10_000)]);
    },
  };
}
