/**
 * The daemon's metrics in Prometheus's text format (exposition.ts): counters and histograms fed
 * by the records the daemon writes, gauges read from a {@linkcode Snapshot} taken per scrape.
 *
 * @module
 */
import { EXPOSITION_TYPE, HistogramMetric, type Labels, Metric } from "./exposition.ts";
import type { RunRow, Snapshot } from "./snapshot.ts";

/** A record as the daemon writes it (only `hook_run` and `injected` are counted). */
export interface ObservedRecord {
  /** Record type. */
  type: string;
  /** Its other fields. */
  [field: string]: unknown;
}

/** Hook runs kept for the status page. */
const RECENT = 50;

/** Counts what the daemon does and renders it with the state of a snapshot. */
export class AdminMetrics {
  /** The last hook runs, newest first. */
  readonly recent: RunRow[] = [];
  #requests = new Metric(
    "hookhost_webhook_requests_total",
    "Webhook requests answered, by hook and HTTP status (async jobs: by their run).",
    "counter",
  );
  #duration = new HistogramMetric(
    "hookhost_script_duration_seconds",
    "Wall time of hook scripts that ran, by hook.",
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  );
  #injected = new Metric(
    "hookhost_messages_injected_total",
    "Messages stored into the inbox from webhooks and async jobs, by source.",
    "counter",
  );

  /** Counts `record` (a `hook_run` or `injected` record; others are ignored). */
  observe(record: ObservedRecord): void {
    if (record.type === "hook_run") {
      const hook = String(record.hook);
      const status = Number(record.status);
      const ms = Number(record.duration_ms);
      this.#requests.inc({ hook, status: String(status) });
      // A request refused before anything ran (401, 413, a duplicate) ran no script.
      if (record.exit_code !== null || status === 504) this.#duration.observe({ hook }, ms / 1000);
      this.recent.unshift({
        hook,
        status,
        duration_ms: ms,
        ts: Date.parse(String(record.ts)) || Date.now(),
        ...(typeof record.job === "string" ? { job: record.job } : {}),
        ...(typeof record.request_id === "string" ? { request_id: record.request_id } : {}),
        ...(typeof record.reason === "string" ? { reason: record.reason } : {}),
      });
      if (this.recent.length > RECENT) this.recent.pop();
    } else if (record.type === "injected") {
      this.#injected.inc({ source: String(record.source_kind) });
    }
  }

  /** The exposition text, with the gauges (and counters kept elsewhere) of `s`. */
  render(s: Snapshot): string {
    const out = [this.#requests.render(), this.#duration.render(), this.#injected.render()];
    /** One metric read from the snapshot: `fill` sets its samples. */
    const read = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      fill: (set: (labels: Labels, v: number) => void) => void,
    ) => {
      const m = new Metric(name, help, type);
      fill((labels, v) => m.set(labels, v));
      out.push(m.render());
    };
    read(
      "hookhost_ready",
      "1 when the daemon is ready (listeners, KV, plugins).",
      "gauge",
      (set) => set({}, s.not_ready.length ? 0 : 1),
    );
    read("hookhost_inbox_depth", "Pending messages, by session and source.", "gauge", (set) => {
      for (const r of s.sessions) {
        for (const [source, n] of Object.entries(r.pending)) set({ session: r.name, source }, n);
      }
    });
    const perSession = (name: string, help: string, key: "dead" | "jobs" | "dead_jobs") =>
      read(name, help, "gauge", (set) => {
        for (const r of s.sessions) set({ session: r.name }, r[key]);
      });
    perSession("hookhost_dead_letters", "Inbox dead letters, by session.", "dead");
    perSession("hookhost_jobs_pending", "Async hooks' jobs not done, by session.", "jobs");
    perSession("hookhost_jobs_dead", "Async hooks' dead jobs, by session.", "dead_jobs");
    const perEvent = (name: string, help: string, key: "runs" | "failures" | "refused") =>
      read(name, help, "counter", (set) => {
        for (const [event, n] of Object.entries(s.events)) set({ event }, n[key]);
      });
    perEvent("hookhost_event_hook_runs_total", "Event hook runs finished, by event.", "runs");
    perEvent(
      "hookhost_event_hook_failures_total",
      "Event hook runs that failed, by event.",
      "failures",
    );
    perEvent(
      "hookhost_event_hook_refusals_total",
      "Event hook runs refused (queue full), by event.",
      "refused",
    );
    read(
      "hookhost_plugin_restarts_total",
      "Plugin crashes followed by a restart.",
      "counter",
      (set) => {
        for (const p of s.plugins) set({ plugin: p.name }, p.restarts ?? 0);
      },
    );
    read(
      "hookhost_plugin_resident_memory_bytes",
      "Resident memory of a plugin's process.",
      "gauge",
      (set) => {
        for (const p of s.plugins) if (p.rss !== undefined) set({ plugin: p.name }, p.rss);
      },
    );
    const workers = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      field: "restarts" | "inflight",
    ) =>
      read(name, help, type, (set) => {
        for (const [hook, list] of Object.entries(s.workers)) {
          for (const w of list) set({ hook, worker: String(w.index) }, w[field]);
        }
      });
    workers(
      "hookhost_worker_restarts_total",
      "Times a persistent hook's worker was started again.",
      "counter",
      "restarts",
    );
    workers(
      "hookhost_worker_inflight_requests",
      "Requests a persistent hook's worker holds.",
      "gauge",
      "inflight",
    );
    read(
      "hookhost_worker_pid",
      "Process id of a persistent hook's worker (absent while it waits to restart).",
      "gauge",
      (set) => {
        for (const [hook, list] of Object.entries(s.workers)) {
          for (const w of list) if (w.pid !== null) set({ hook, worker: String(w.index) }, w.pid);
        }
      },
    );
    read(
      "hookhost_body_bytes_in_flight",
      "Request body bytes held in memory.",
      "gauge",
      (set) => set({}, s.body_bytes_in_flight),
    );
    read(
      "hookhost_http_requests_in_flight",
      "Requests being answered, by listener.",
      "gauge",
      (set) => {
        for (const l of s.listeners) set({ hook: l.hook }, l.in_flight);
      },
    );
    read(
      "hookhost_resident_memory_bytes",
      "Resident memory of the daemon's process.",
      "gauge",
      (set) => set({}, s.rss),
    );
    return out.join("");
  }

  /** The `Content-Type` of {@linkcode render}'s text. */
  get contentType(): string {
    return EXPOSITION_TYPE;
  }
}
