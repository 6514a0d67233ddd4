/**
 * A session in-process: the inbox runner, event hooks, schedules, async hooks' jobs and plugins
 * wired together on a KV handle, with every side effect injected (KV, clock, spawner, output,
 * wake-ups of other sessions). It owns no socket, lock or signal: {@linkcode openSession}'s
 * caller feeds it requests (`handle`) and control messages (`control`); `runSession` (host.ts)
 * is that caller for `hookhost run`, and tests are another.
 *
 * @module
 */
import { type AdminParts, adminSource } from "./admin_source.ts";
import type { AdminSource } from "../admin/snapshot.ts";
import { BodyBudget } from "../webhook/body_limit.ts";
import { JobStore } from "../webhook/job_store.ts";
import { type Config, type EnvKeys, secretEnvNames } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import { EventBus, HooksFile } from "../events/mod.ts";
import { processSpawner, type Spawner } from "../exec/spawn.ts";
import { childEnv, withEnv } from "../exec/environment.ts";
import { InboxStore } from "../inbox/store.ts";
import { keys, StorageHealth } from "../kv/mod.ts";
import { retryLater } from "../webhook/mod.ts";
import type { NewMessage } from "../inbox/message.ts";
import type { Entry } from "../inbox/group_commit.ts";
import { recordStart, recordStop } from "../inbox/sessions.ts";
import { createSink, type Format, type OutputRecord } from "../output/mod.ts";
import { log } from "../output/log.ts";
import { isTimer, ScheduleStore } from "../schedule/store.ts";
import type { ControlRequest, ControlResponse } from "./control.ts";
import { SessionRunner } from "./runner.ts";
import { type HookHandlers, hookHandlers } from "./hook_handlers.ts";
import { controlHandler } from "./control_handler.ts";
import { Shutdown } from "./shutdown.ts";
import { SessionLease } from "./lease.ts";
import { lead } from "./leadership.ts";
import { bumpWake } from "./members.ts";

/** Options of {@linkcode openSession}. */
export interface OpenSessionOptions {
  /** Session name. */
  name: string;
  /** The validated config. */
  config: Config;
  /** The KV store; the caller opens and closes it. */
  kv: Deno.Kv;
  /** Keep running until stopped (true) or drain the inbox once and end (false); default false. */
  daemon?: boolean;
  /** Names of `[[hooks]]` to serve; default none. */
  hooks?: readonly string[];
  /** Output format; default `text`. */
  format?: Format;
  /** Where records go; default stdout. */
  writer?: { write(p: Uint8Array): Promise<number> };
  /** Process starter; default real processes. */
  spawner?: Spawner;
  /** Clock in Unix ms (inbox, schedules, records); default `Date.now`. */
  now?: () => number;
  /** Event hooks file (hooks.json); none when absent. */
  eventsFile?: string;
  /** Plugins folder; daemons serve its plugins when it exists. */
  pluginsDir?: string;
  /** Initial message (source `inject`); empty or absent injects nothing. */
  initial?: string;
  /** Stop request, as {@linkcode OpenSession.stop} (SIGINT/SIGTERM in `runSession`). */
  signal?: AbortSignal;
  /** Wakes another session's daemon after a message was stored for it; default nothing. */
  wake?: (session: string) => Promise<void>;
  /** Told about every record written (the admin listener's metrics); default nothing. */
  observe?: (record: OutputRecord) => void;
  /**
   * Called once as the session stops accepting work: closes the caller's sockets and waits for
   * their requests in flight (cut short 2 s after the grace period ends). Default nothing.
   */
  onStopAccepting?: () => Promise<void>;
  /**
   * Whether messages may be acknowledged (the KV file still there, the disk not full); default
   * one that notes failed writes and probes KV back to health.
   */
  storage?: StorageHealth;
  /** Files the default `storage` watches: deleted or replaced, nothing more is acknowledged. */
  storageFiles?: readonly string[];
  /**
   * What names the session lock this process holds (host and lock file): a lease held under the
   * same name belonged to a process that is dead, since this one got its lock, so it is taken
   * over at once instead of after it expires (a restart after `kill -9`). Default none.
   */
  lockName?: string;
}

/** A session opened by {@linkcode openSession}. */
export interface OpenSession {
  /** Session name. */
  readonly name: string;
  /** The hooks it serves: its `[[hooks]]` names, and `server` when plugins are served. */
  readonly hooks: readonly string[];
  /** Serves a request for `hook` (a name of {@linkcode hooks}); 404 for any other name. */
  handle(hook: string, req: Request): Promise<Response>;
  /** Answers a control message (`send`, `ping`, `plugins`, `wake`), as the control socket does. */
  control(req: ControlRequest): Promise<ControlResponse>;
  /** Writes a record to the session's output (e.g. `listening` once a hook is bound). */
  record(record: OutputRecord): void;
  /** The session as an admin listener sees it, with what only its host knows. */
  admin(host: Pick<AdminParts, "listeners" | "serving" | "running">): AdminSource;
  /**
   * Runs the session: the initial message, due schedules, then the inbox until it is drained
   * (one-shot) or until stopped (daemon). Call once; rejects if the runner fails.
   */
  run(): Promise<void>;
  /** Stops (graceful, with `[session] shutdown_grace`) and releases everything but the KV. */
  stop(): Promise<void>;
  /** As {@linkcode stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const logger = log("session");

/**
 * Opens session `name` on `options.kv`: writes `ready`, starts plugins (daemons only) and
 * prepares its hooks, but processes nothing until {@linkcode OpenSession.run}. Throws a
 * `UsageError` (`hook_not_found`) for a hook the config does not have.
 */
export async function openSession(options: OpenSessionOptions): Promise<OpenSession> {
  const { name, config, kv } = options;
  const daemon = options.daemon ?? false;
  const hooks = (options.hooks ?? []).map((hookName) => {
    const hook = config.hooks.find((h) => h.name === hookName);
    if (!hook) throw new UsageError(`Hook '${hookName}' not found in config`, "hook_not_found");
    return hook;
  });
  const shutdown = new Shutdown({
    graceMs: config.session.shutdown_grace * 1000,
    close: options.onStopAccepting,
    log: logger,
  });
  shutdown.follow(options.signal);
  const { signal, hard: hardStop } = shutdown;
  const clock = options.now ?? Date.now;
  // Daemons of this session on the same KV (other state folders, other hosts) share its inbox:
  // one drains it, holding this lease; the others stand by (leadership.ts).
  const lease = new SessionLease(kv, name, {
    ttlMs: config.session.lease_ttl * 1000,
    lock: options.lockName,
  });
  /** A standby's write into the inbox: tell the holder (at once on remote KV, see members.ts). */
  let bumping = false;
  const wakeHolder = () => {
    if (bumping || lease.held) return;
    bumping = true;
    bumpWake(kv, name).catch(() => {}).finally(() => bumping = false);
  };
  const storage = options.storage ?? new StorageHealth({
    files: options.storageFiles,
    probe: () => kv.set([keys.PROBE, name], clock()).then(() => {}),
    onChange: (problem) =>
      problem
        ? logger.error("{problem}; webhooks are answered 503 and send fails meanwhile", { problem })
        : logger.info("Storage works again; acknowledging messages"),
  });
  storage.start();
  /** Rethrows `e` unless it is the storage's failure, which `storage` then reports (503s). */
  const storageProblem = (e: unknown) => {
    if (!storage.failed(e)) throw e;
  };
  const cleanup: (() => Promise<void> | void)[] = [() => shutdown.dispose(), () => storage.stop()];
  const release = async () => {
    shutdown.abort();
    await shutdown.stopAccepting();
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        logger.debug("cleanup: {error}", { error: (e as Error).message });
      }
    }
  };

  let wiring: HookHandlers;
  let runner: SessionRunner;
  let schedules: ScheduleStore;
  let store: InboxStore;
  const startedAt = clock();
  const bodyBudget = new BodyBudget(config.limits.max_body_in_flight);
  let bus: EventBus;
  let sink: ReturnType<typeof createSink>;
  /** Stores messages; `announced` when their `message_received` has already fired. */
  let inject: (
    messages: NewMessage[],
    o?: { announced?: boolean; also?: readonly Entry[] },
  ) => Promise<unknown[]>;
  try {
    const baseSpawner = options.spawner ?? processSpawner;
    const hooksFile = options.eventsFile
      ? new HooksFile(options.eventsFile, { log: log("events") })
      : null;
    // Secrets of the config, and those hooks.json names (from when each version is read).
    const secrets = new Set(secretEnvNames(config));
    const hidden = () => {
      for (const n of hooksFile?.secretNames ?? []) secrets.add(n);
      return secrets;
    };
    // Each kind of child starts from the environment its table allows (snapshot at start),
    // made again only when a new secret is to be hidden.
    const source = Deno.env.toObject();
    const envFor = (keys: EnvKeys) =>
      childEnv({ allow: keys.env, set: keys.env_set, secrets: hidden(), source });
    const spawnerFor = (keys: EnvKeys) => {
      let hiding = -1;
      let base: Record<string, string> = {};
      return withEnv(baseSpawner, () => {
        const names = hidden();
        if (names.size !== hiding) {
          hiding = names.size;
          base = envFor(keys);
        }
        return base;
      });
    };
    const spawner = spawnerFor(config.session);
    const now = clock;
    bus = new EventBus(hooksFile, {
      log: log("events"),
      spawner: spawnerFor(config.events),
      now,
      maxConcurrent: config.events.max_concurrent,
      queueLimit: config.events.queue_limit,
      signal: hardStop,
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
    store = new InboxStore(kv, { onAdd, now });
    schedules = new ScheduleStore(kv, {
      now,
      onFired: (session, m) => session === name && received(m),
      onAdd,
    });
    sink = createSink(options.format ?? "text", {
      session: name,
      writer: options.writer,
      now,
      observe: options.observe,
    });
    const output = sink;
    cleanup.push(() => output.flush());
    sink.write({ type: "ready", pid: Deno.pid });

    const settings = config.session;
    runner = new SessionRunner({
      session: name,
      store,
      storage,
      sink,
      log: logger,
      spawner,
      hardStop: hardStop,
      lease,
      onStatus: (m, runStatus) => {
        if (bus.listens("run_status_changed")) {
          bus.emit("run_status_changed", {
            commandKey: `${name}|${m.source}`,
            runStatus,
            messageId: m.id,
          });
        }
        // EnConvo's lifecycle names (Codex's set): a message taken for processing, then its end.
        // Their matcher is tested against the message's source kind.
        const lifecycle = runStatus === "running" ? "UserPromptSubmit" : "Stop";
        if (bus.listens(lifecycle)) {
          bus.emit(lifecycle, {
            commandKey: m.source,
            session: name,
            messageId: m.id,
            source: m.source,
            label: m.label,
            ...(lifecycle === "Stop" && { outcome: runStatus }),
          });
        }
        if (runStatus === "completed") wiring?.plugins?.manager.onMessage(m);
      },
      handler: settings.handler
        ? {
          command: settings.handler,
          timeoutMs: settings.handler_timeout * 1000,
          maxAttempts: settings.max_attempts,
          backoffMs: settings.retry_backoff * 1000,
        }
        : undefined,
    });
    inject = async (messages, o = {}) => {
      let stored;
      try {
        stored = await store.add(name, messages, { also: o.also });
      } catch (e) {
        storage.failed(e);
        throw e;
      }
      runner.wake();
      wakeHolder();
      if (!o.announced) { for (const m of stored) received(m); }
      return stored;
    };
    // Taken now, before the listeners accept anything: a lone daemon delivers its first
    // webhooks directly, as it would without daemons to share the inbox with.
    if (daemon) await lease.refresh().catch(() => {});
    cleanup.push(() => lease.release());
    wiring = await hookHandlers({
      session: name,
      daemon,
      hooks,
      config,
      kv,
      store,
      runner,
      bus,
      spawnerFor,
      envFor,
      graceMs: config.session.shutdown_grace * 1000,
      pluginsDir: options.pluginsDir,
      record: (r) => sink.write(r),
      received,
      inject,
      wake: options.wake ?? (() => Promise.resolve()),
      hardStop: hardStop,
      bodyBudget,
      onJobStored: wakeHolder,
    });
    cleanup.push(() => wiring.stop());
  } catch (e) {
    await release();
    throw e;
  }

  const control = controlHandler({
    session: name,
    daemon,
    schedules,
    runner,
    onWake: () => wiring.recheckJobs(),
    inject: async (m) => (await inject([m]))[0] as { id: string },
    plugins: () => wiring.plugins?.manager.status() ?? [],
    refusals: () => bus.refusals(),
    workers: () => wiring.workers(),
    // The events file already ran in the emitting process: here only the plugins get it.
    emitToPlugins: (event, params) =>
      wiring.plugins?.manager.deliver(bus.data(event, params)) ?? Promise.resolve(0),
  });

  let firing = false;
  const fireDueSchedules = () => {
    if (firing) return;
    firing = true;
    schedules.fireDue(name)
      .then((fired) => fired.size && runner.wake())
      .catch((e) =>
        logger.error("Due schedules could not fire: {error}; trying again in 1 s", {
          error: (e as Error)?.message ?? String(e),
        })
      )
      .finally(() => firing = false);
  };

  const runOnce = async () => {
    // Recorded only now, with every listener bound: a daemon that failed to start is not listed.
    // A full disk here is the storage's problem (503 until it clears), not a reason to stop.
    await recordStart(kv, name, { pid: Deno.pid, now: clock() }).catch(storageProblem);
    bus.emit("session_list_changed", { commandKey: name, change: "started" });
    if (bus.listens("SessionStart")) bus.emit("SessionStart", { commandKey: name, session: name });
    if (options.initial?.trim()) {
      await inject([{ source: "inject", content: options.initial.trim() }]);
    }
    await schedules.fireDue(name);
    if (daemon && schedules.timers) {
      kv.listenQueue(async (msg) => {
        if (!isTimer(msg)) return;
        try {
          const timer = await schedules.onTimer(msg, { session: name });
          if (timer?.fired) runner.wake();
          // Another session's schedule is due: a running daemon of it fires it when woken (its
          // `wake` fires due schedules); a stopped one fires it once at its next run.
          else if (timer) await options.wake?.(timer.session);
        } catch (e) {
          // Thrown, it would reach stderr as Deno's "Exception in queue handler" stack trace.
          logger.error("Schedule '{id}' could not fire: {error}; trying again in 1 s", {
            id: msg.id,
            error: (e as Error)?.message ?? String(e),
          });
          // The same timer again (its token is still current); failing that, it stays due and
          // fires at the session's next start.
          await kv.enqueue(msg, { delay: 1000 }).catch(() => {});
        }
      });
      await schedules.armForeign(name);
    }
    if (daemon) {
      let first = true;
      await lead(signal, {
        kv,
        session: name,
        lease,
        log: logger,
        hold: async (term) => {
          // The jobs stop with the runner, whichever way it ends.
          const both = new AbortController();
          const end = () => both.abort();
          term.addEventListener("abort", end, { once: true });
          const jobsDone = wiring.runJobs(both.signal);
          // On a local file another daemon's writes wake nobody: look for their jobs each second.
          // Without KV queue timers (remote KV), look for due schedules each second too.
          const poll = setInterval(() => {
            wiring.recheckJobs();
            if (!schedules.timers) fireDueSchedules();
          }, 1000);
          try {
            await runner.run(both.signal);
          } finally {
            clearInterval(poll);
            term.removeEventListener("abort", end);
            end();
            await jobsDone;
          }
        },
        onRole: (role) => {
          // A lone daemon says nothing; a daemon that waits, or takes over, says so.
          if (first && role === "holder") return void (first = false);
          first = false;
          sink.write({
            type: "status",
            message: role === "holder"
              ? `Session '${name}': this daemon drains the inbox now`
              : `Session '${name}': standing by; another daemon drains the inbox`,
          });
        },
        onWake: () => {
          runner.wake();
          wiring.recheckJobs();
        },
      });
    } else if (!(await lease.refresh())) {
      // A daemon of this session on the same KV drains it: what this run stored waits for it.
      const holder = await lease.current();
      sink.write({
        type: "status",
        message: `Session '${name}' is drained by a daemon${
          holder ? ` (pid ${holder.pid} on '${holder.host}')` : ""
        }; its messages and jobs are left to it`,
      });
    } else {
      const keep = new AbortController();
      const keeping = lease.maintain(keep.signal);
      try {
        // Outputs of jobs accepted earlier join the inbox before it is drained.
        await wiring.runJobs(signal, { untilIdle: true });
        await runner.drain(signal);
      } finally {
        keep.abort();
        await keeping;
        await lease.release().catch(() => {});
      }
    }
    await shutdown.stopAccepting();
    bus.emit("session_list_changed", { commandKey: name, change: "stopped" });
    // Background event hooks get the same grace; past it they are killed.
    await bus.idle();
    sink.write({ type: "status", message: `Session '${name}' stopped` });
    await sink.flush();
    await recordStop(kv, name, clock()).catch(storageProblem);
  };
  let running: Promise<void> | null = null;
  let released: Promise<void> | null = null;
  const stop = async () => {
    shutdown.request();
    await running?.catch(() => {});
    await (released ??= release());
  };
  return {
    name,
    hooks: wiring.names,
    handle: (hook, req) => {
      if (!shutdown.accepting) {
        return Promise.resolve(new Response("Session is stopping\n", { status: 503 }));
      }
      if (storage.problem) {
        return Promise.resolve(retryLater("Storage unavailable; retry later\n"));
      }
      return wiring.handle(hook, req);
    },
    control: (req) => {
      if (!shutdown.accepting) {
        return Promise.resolve({ ok: false, error: `Session '${name}' is stopping` });
      }
      if (req.op === "send" && storage.problem) {
        return Promise.resolve({ ok: false, error: storage.problem });
      }
      return control(req);
    },
    record: (r) => sink.write(r),
    admin: (host) =>
      adminSource({
        ...host,
        session: name,
        startedAt,
        kv,
        store,
        jobs: new JobStore(kv),
        schedules,
        storage,
        bus,
        budget: bodyBudget,
        plugins: () => wiring.plugins?.manager.status() ?? [],
        workers: () => wiring.workers(),
        serving: () => [...(shutdown.accepting ? [] : ["stopping"]), ...host.serving()],
        wake: () => control({ op: "wake" }).then(() => {}),
        now: clock,
      }),
    run() {
      if (running || released) throw new Error("run() was already called, or the session stopped");
      running = runOnce().finally(() => released ??= release());
      return running;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
