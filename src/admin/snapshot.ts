/**
 * What a running daemon tells its admin listener: a snapshot taken when asked (a scrape, a page
 * refresh), and the hook runs it saw lately.
 *
 * @module
 */

/** One session known to the KV database, as the status page lists it. */
export interface SessionRow {
  /** Session name. */
  name: string;
  /** Whether a process holds its lock. */
  running: boolean;
  /** Pending messages by source. */
  pending: Record<string, number>;
  /** Dead letters of its inbox. */
  dead: number;
  /** Async hooks' jobs not done. */
  jobs: number;
  /** Async hooks' dead jobs. */
  dead_jobs: number;
}

/** A dead letter or dead job, as the status page shows it (with its replay button). */
export interface DeadRow {
  /** `inbox` (a message whose handler failed) or `job` (an async hook's job). */
  kind: "inbox" | "job";
  /** Its id. */
  id: string;
  /** Source of a message, hook of a job. */
  where: string;
  /** Failed runs. */
  attempts: number;
  /** The last error. */
  error: string;
  /** When it failed (Unix ms). */
  failed_at: number;
  /** The start of its content or body. */
  preview: string;
}

/** A hook run the daemon saw (a `hook_run` record). */
export interface RunRow {
  /** Hook name. */
  hook: string;
  /** The answer's status (what a sync hook would have answered, for a job). */
  status: number;
  /** Script wall time in ms. */
  duration_ms: number;
  /** When it ended (Unix ms). */
  ts: number;
  /** The async job it ran, if any. */
  job?: string;
  /** The request id. */
  request_id?: string;
  /** Why nothing ran, if so. */
  reason?: string;
}

/** The daemon's state, at one moment. */
export interface Snapshot {
  /** The daemon's session. */
  session: string;
  /** Its process id. */
  pid: number;
  /** When it started (Unix ms). */
  started_at: number;
  /** Empty when ready: listeners bound, KV writable, plugins loaded; else what is not. */
  not_ready: string[];
  /** Its listeners: hook name and address. */
  listeners: { hook: string; addr: string; in_flight: number }[];
  /** Every session in KV. */
  sessions: SessionRow[];
  /** The daemon's session's dead letters and dead jobs, oldest first. */
  dead: DeadRow[];
  /** The daemon's session's schedules, soonest first. */
  schedules: { id: string; next: number; every?: string; cron?: string; message: string }[];
  /** Its plugins (as `plugins ls --json` shows them). */
  plugins: {
    name: string;
    state: string;
    permissions: string;
    declared?: string;
    missing?: string;
    rss?: number;
    restarts?: number;
  }[];
  /** The persistent hooks' workers, by hook: index, pid (`null` while restarting), restarts, requests held. */
  workers: Record<
    string,
    { index: number; pid: number | null; restarts: number; inflight: number }[]
  >;
  /** Event hook runs since start, by event. */
  events: Record<string, { runs: number; failures: number; refused: number }>;
  /** Request body bytes held in memory right now. */
  body_bytes_in_flight: number;
  /** Resident memory of the daemon's process, in bytes. */
  rss: number;
}

/** Where the admin listener reads from: the daemon. */
export interface AdminSource {
  /** A snapshot of now. */
  snapshot(): Promise<Snapshot>;
  /** Replays dead letters (`inbox`) or dead jobs (`job`) of the daemon's session; their ids. */
  replay(kind: "inbox" | "job", ids: string[]): Promise<string[]>;
}
