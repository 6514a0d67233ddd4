/**
 * Running a session (`hookhost run`): lock, KV, output, the control socket, webhook listeners,
 * schedules and the inbox runner, started in that order and stopped in reverse with a bounded
 * grace period.
 *
 * @module
 */
import { type Config, DEFAULT_ASYNC_CONCURRENCY } from "../config/schema.ts";
import { HookhostError, UsageError } from "../errors.ts";
import { EventBus, HooksFile } from "../events/mod.ts";
import { processSpawner, type Spawner } from "../exec/spawn.ts";
import { InboxStore } from "../inbox/store.ts";
import { isSource, type NewMessage } from "../inbox/message.ts";
import { getSession, recordStart, recordStop } from "../inbox/sessions.ts";
import { openKv } from "../kv/open.ts";
import { createSink, type Format } from "../output/mod.ts";
import { log } from "../output/log.ts";
import { isTimer, ScheduleStore } from "../schedule/store.ts";
import { type HookRun, scriptHookHandler } from "../webhook/script_hook.ts";
import { asyncHookHandler } from "../webhook/async_hook.ts";
import { JobStore } from "../webhook/job_store.ts";
import { JobRunner } from "./job_runner.ts";
import { servePlugin } from "../plugins/serve.ts";
import { type PluginHost, startPlugins } from "./plugin_host.ts";
import { listen, type Listener } from "../webhook/server.ts";
import { type ControlServer, serveControl, wakeSession } from "./control.ts";
import { SessionLock, sessionPaths } from "./lock.ts";
import { SessionRunner } from "./runner.ts";

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** Session name. */
  name: string;
  /** Stay alive until `signal` aborts. */
  daemon: boolean;
  /** Output format. */
  format: Format;
  /** Names of `[[hooks]]` to serve. */
  hooks: readonly string[];
  /** The validated config. */
  config: Config;
  /** State folder (locks, sockets). */
  stateDir: string;
  /** KV location. */
  kv: string;
  /** Initial message (source `inject`); empty or absent injects nothing. */
  initial?: string;
  /** Stop request (SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** Event hooks file (hooks.json); none when absent. */
  eventsFile?: string;
  /** Plugins folder; plugins are served by daemons when it exists. */
  pluginsDir?: string;
  /** Process starter; default real processes. */
  spawner?: Spawner;
  /** Where records go; default stdout. */
  writer?: { write(p: Uint8Array): Promise<number> };
}

const logger = log("session");

/** Runs a session until done (one-shot) or until `signal` aborts (daemon). */
export async function runSession(options: SessionOptions): Promise<void> {
  const { name, config, signal } = options;
  const hooks = options.hooks.map((hookName) => {
    const hook = config.hooks.find((h) => h.name === hookName);
    if (!hook) throw new UsageError(`Hook '${hookName}' not found in config`, "hook_not_found");
    return hook;
  });

  const lock = await SessionLock.acquire(options.stateDir, name);
  const cleanup: (() => Promise<void> | void)[] = [() => lock.release()];
  const hardStop = new AbortController();
  try {
    const kv = await openKv(options.kv);
    cleanup.unshift(() => kv.close());
    const spawner = options.spawner ?? processSpawner;
    const hooksFile = options.eventsFile
      ? new HooksFile(options.eventsFile, { log: log("events") })
      : null;
    const bus = new EventBus(hooksFile, {
      log: log("events"),
      spawner,
      maxConcurrent: config.events.max_concurrent,
      queueLimit: config.events.queue_limit,
      signal: hardStop.signal,
    });
    // Load (and report a broken file) now rather than at the first event.
    await hooksFile?.current();
    const received = (m: { id: string; source: string; label: string }) => {
      if (!bus.listens("message_received")) return;
      bus.emit("message_received", {
        commandKey: `${name}|${m.source}`,
        messageId: m.id,
        source: m.source,
        label: m.label,
      });
    };
    // Every write of a message into this session's inbox (an add, a schedule firing) holds
    // direct delivery back until the runner has seen it.
    const onAdd = (session: string): () => void => (session === name ? runner.hold() : () => {});
    const store = new InboxStore(kv, { onAdd });
    const schedules = new ScheduleStore(kv, {
      onFired: (session, m) => session === name && received(m),
      onAdd,
    });
    const sink = createSink(options.format, { session: name, writer: options.writer });
    await recordStart(kv, name, { pid: Deno.pid });
    sink.write({ type: "ready", pid: Deno.pid });

    const session = config.session;
    // Assigned once listeners are set up; read by callbacks that may run before that.
    let plugins: PluginHost | null = null;
    const runner = new SessionRunner({
      session: name,
      store,
      sink,
      log: logger,
      spawner,
      hardStop: hardStop.signal,
      onStatus: (m, runStatus) => {
        if (bus.listens("run_status_changed")) {
          bus.emit("run_status_changed", {
            commandKey: `${name}|${m.source}`,
            runStatus,
            messageId: m.id,
          });
        }
        if (runStatus === "completed") plugins?.manager.onMessage(m);
      },
      handler: session.handler
        ? {
          command: session.handler,
          timeoutMs: session.handler_timeout * 1000,
          maxAttempts: session.max_attempts,
          backoffMs: session.retry_backoff * 1000,
        }
        : undefined,
    });
    /** Stores messages; `announced` when their `message_received` has already fired. */
    const inject = async (messages: NewMessage[], options: { announced?: boolean } = {}) => {
      const stored = await store.add(name, messages);
      runner.wake();
      if (!options.announced) { for (const m of stored) received(m); }
      return stored;
    };
    /**
     * A webhook's message. When the inbox is empty it is written to the output before the
     * request is answered, which is what storing and draining it would do, minus two KV writes
     * and a read; otherwise (or if the output fails) it is stored like any other.
     */
    const webhookMessage = async (hookName: string, content: string) => {
      const messages = store.prepare([{
        source: "webhook",
        label: `webhook ${hookName}`,
        content,
      }]);
      if (!runner.accepts() && !(await runner.whenAccepting())) return await inject(messages);
      for (const m of messages) received(m);
      if (await runner.deliver(messages)) return messages;
      return await inject(messages, { announced: true });
    };

    const socket = sessionPaths(options.stateDir, name).socket;
    const control: ControlServer = await serveControl(socket, async (req) => {
      switch (req.op) {
        case "send": {
          const source = req.source ?? "inject";
          if (!isSource(source)) return { ok: false, error: `Unknown source '${source}'` };
          const [m] = await inject([{ source, label: req.label, content: req.content }]);
          return { ok: true, id: m.id };
        }
        case "ping":
          return { ok: true, pid: Deno.pid, name };
        case "plugins":
          return { ok: true, plugins: plugins?.manager.status() ?? [] };
        case "wake":
          if (options.daemon) await schedules.armForeign(name);
          await schedules.fireDue(name);
          runner.wake();
          return { ok: true };
      }
    });
    cleanup.unshift(() => control.close());

    const reportRun = (run: HookRun) => {
      sink.write({ type: "hook_run", ...run });
      if (run.status >= 500) {
        bus.emit("hook_failed", {
          commandKey: run.hook,
          status: run.status,
          exitCode: run.exit_code,
        });
      }
    };

    /** A script hook of this session: [[hooks]] entries and script plugins alike. */
    const scriptHook = (hookName: string, script: string, timeout: number, maxBody: number) =>
      scriptHookHandler({
        name: hookName,
        script,
        timeout,
        maxBody,
        session: name,
        spawner,
        log: log("webhook"),
        signal: hardStop.signal,
        inject: (content) => webhookMessage(hookName, content),
        onRun: reportRun,
      });

    // Plugins run in daemons only: a one-shot run would load them just to drop them.
    const wantPlugins = options.daemon && options.pluginsDir !== undefined &&
      (config.server !== undefined || hooks.some((h) => h.plugin) ||
        await Deno.stat(options.pluginsDir).then((i) => i.isDirectory, () => false));
    plugins = wantPlugins
      ? await startPlugins({
        session: name,
        dir: options.pluginsDir!,
        config,
        kv,
        bus,
        scriptHook: (hookName, path, maxBody) => scriptHook(hookName, path, 30, maxBody),
        webhook: webhookMessage,
        inject: async (target, message) => {
          if (target === name) return (await inject([message]))[0];
          if (!(await getSession(kv, target))) throw new Error(`no session named '${target}'`);
          const [m] = await store.add(target, [message]);
          await wakeSession(options.stateDir, target);
          return m;
        },
        onRun: reportRun,
        signal: hardStop.signal,
        log: log("plugins"),
      })
      : null;
    const started = plugins;
    if (started) cleanup.unshift(() => started.stop());

    const listeners: Listener[] = [];
    const serveOn = (label: string, bind: string, open: () => Listener) => {
      let listener: Listener;
      try {
        listener = open();
      } catch (e) {
        if (e instanceof HookhostError) throw e;
        throw new HookhostError(
          "listen_failed",
          `Hook '${label}' cannot listen on '${bind}': ${(e as Error).message}`,
          { cause: e },
        );
      }
      listeners.push(listener);
      sink.write({ type: "listening", hook: label, addr: listener.addr });
    };
    const jobs = new JobStore(kv);
    const jobRunners: JobRunner[] = [];
    for (const hook of hooks) {
      let async: JobRunner | null = null;
      if (hook.mode === "async" && hook.script) {
        async = new JobRunner({
          session: name,
          hook: { name: hook.name, script: hook.script, timeout: hook.timeout },
          concurrency: hook.concurrency ?? DEFAULT_ASYNC_CONCURRENCY,
          jobs,
          store,
          spawner,
          log: log("webhook"),
          hardStop: hardStop.signal,
          onRun: reportRun,
          onInjected: (m) => {
            runner.wake();
            received(m);
          },
        });
        jobRunners.push(async);
      }
      const handler = async
        ? asyncHookHandler({
          name: hook.name,
          session: name,
          maxBody: hook.max_body,
          jobs,
          log: log("webhook"),
          signal: hardStop.signal,
          onAccepted: () => async!.wake(),
        })
        : hook.script
        ? scriptHook(hook.name, hook.script, hook.timeout, hook.max_body)
        : (req: Request) =>
          started
            ? servePlugin(started.manager, hook.plugin!, req, started.serve)
            : Promise.resolve(new Response("Plugins are not running\n", { status: 503 }));
      serveOn(hook.name, hook.bind, () => listen(hook.bind, handler, { log: log("webhook") }));
    }
    if (started) serveOn("server", config.server?.bind ?? "", () => started.listen());
    const stopListeners = () => Promise.all(listeners.map((l) => l.shutdown()));

    bus.emit("session_list_changed", { commandKey: name, change: "started" });
    if (options.initial?.trim()) {
      await inject([{ source: "inject", content: options.initial.trim() }]);
    }
    await schedules.fireDue(name);

    // Stopping: new work is refused at once (control socket and listeners close as the signal
    // arrives); what is in flight gets the grace period, then running scripts and handlers are
    // killed, slow request bodies cut off, and a short while later the wait ends regardless.
    let stopping: Promise<void> | null = null;
    const stopAccepting = () =>
      stopping ??= (async () => {
        await control.close();
        const cutoff = new Promise<void>((resolve) => {
          const after = () => setTimeout(resolve, 2000);
          if (hardStop.signal.aborted) after();
          else hardStop.signal.addEventListener("abort", after, { once: true });
        });
        await Promise.race([stopListeners(), cutoff]);
      })();
    let grace: ReturnType<typeof setTimeout> | undefined;
    const onStop = () => {
      grace = setTimeout(() => hardStop.abort(), session.shutdown_grace * 1000);
      void stopAccepting();
    };
    signal.addEventListener("abort", onStop, { once: true });
    if (signal.aborted) onStop();
    cleanup.unshift(() => {
      clearTimeout(grace);
      signal.removeEventListener("abort", onStop);
    });

    if (options.daemon) {
      // Until the stop signal (or a failure of the session): then they start nothing new and
      // wait for (or kill) what runs. A failed runner is logged at once and fails the session
      // when it stops, as a failed inbox runner does.
      const jobsStop = new AbortController();
      const stopJobs = () => jobsStop.abort();
      signal.addEventListener("abort", stopJobs, { once: true });
      if (signal.aborted) stopJobs();
      const jobsDone = Promise.all(jobRunners.map((r) => r.run(jobsStop.signal)));
      jobsDone.catch((e) => {
        logger.error("async jobs stopped: {reason}; they run again at the next start", {
          reason: (e as Error)?.message ?? String(e),
        });
        stopJobs();
      });
      cleanup.unshift(async () => {
        stopJobs();
        signal.removeEventListener("abort", stopJobs);
        await jobsDone.catch(() => {});
      });
      kv.listenQueue(async (msg) => {
        if (!isTimer(msg)) return;
        const fired = await schedules.onTimer(msg);
        if (fired === name) runner.wake();
        else if (fired) {
          await wakeSession(options.stateDir, fired);
        }
      });
      await schedules.armForeign(name);
      await runner.run(signal);
      await jobsDone;
    } else {
      // Outputs of jobs accepted earlier join the inbox before it is drained.
      await Promise.all(jobRunners.map((r) => r.run(signal, { untilIdle: true })));
      await runner.drain(signal);
    }
    await stopAccepting();
    bus.emit("session_list_changed", { commandKey: name, change: "stopped" });
    // Background event hooks get the same grace; past it they are killed.
    await bus.idle();
    sink.write({ type: "status", message: `Session '${name}' stopped` });
    await sink.flush();
    await recordStop(kv, name);
  } finally {
    hardStop.abort();
    for (const step of cleanup) {
      try {
        await step();
      } catch (e) {
        logger.debug("cleanup: {error}", { error: (e as Error).message });
      }
    }
  }
}
