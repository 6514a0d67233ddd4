/**
 * Benchmark plumbing: installing the peer and the load generator, running wrk, starting
 * hookhost and adnanh/webhook on loopback, reading RSS.
 *
 * @module
 */
import { join } from "node:path";
import { setsidPath } from "../../src/exec/spawn.ts";
import { BUNDLE_FLAGS, denoRunArgs } from "../bundle.ts";
import { runtimeFlags } from "../flags.ts";

/**
 * How the bench runs hookhost: `deno run` of the bundle that `deno task compile` builds the
 * binary from, with the binary's flags (the bench calls `bundle()` first). The `denort` runtime
 * itself cannot be fetched here.
 */
export const HOOKHOST: string[] = denoRunArgs("bundle");

async function has(cmd: string): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .output();
  return r.success;
}

/**
 * `cmd` and `args` to start a server detached from any controlling terminal, as under systemd or
 * in a container: through util-linux `setsid` when present (it execs, so the pid stays the
 * server's). From a terminal, hookhost gives each script a session of its own, so that scripts
 * cannot stop on the terminal, and Linux's autogroup then weighs each script as much as the
 * daemon (see README, "Scripts"): a bench run from a terminal would measure that instead.
 */
export function detached(cmd: string, args: string[]): [string, string[]] {
  const setsid = setsidPath();
  return setsid ? [setsid, [cmd, ...args]] : [cmd, args];
}

/** Installs `webhook`, `wrk` and `gcc` from Debian when missing. Throws when that fails. */
export async function ensureTools(): Promise<void> {
  const missing = [];
  // The peer, the load generator, and a C compiler for row 1c's loop.
  for (const [cmd, pkg] of [["webhook", "webhook"], ["wrk", "wrk"], ["cc", "gcc"]]) {
    if (!(await has(cmd))) missing.push(pkg);
  }
  if (!missing.length) return;
  console.error(`Installing ${missing.join(", ")} with apt-get…`);
  const sudo = Deno.uid() === 0 ? [] : ["sudo"];
  for (
    const args of [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", ...missing]]
  ) {
    const cmd = [...sudo, ...args];
    const r = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null" }).output();
    if (!r.success) throw new Error(`'${cmd.join(" ")}' failed`);
  }
}

/** Output of a command's version flag, first line. */
export async function version(cmd: string, flag: string): Promise<string> {
  try {
    const r = await new Deno.Command(cmd, { args: [flag], stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    return text.trim().split("\n")[0];
  } catch {
    return "unknown";
  }
}

/** A wrk result. */
export interface WrkResult {
  /** Requests per second. */
  rps: number;
  /** Responses received. */
  requests: number;
  /** 99th percentile latency in ms. */
  p99: number;
  /** Non-2xx or socket errors. */
  errors: number;
  /** Non-2xx answers alone. */
  non2xx: number;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
}

/** Runs wrk against `url` (POST of `body` when given) and parses its report. */
export async function wrk(
  url: string,
  options: { connections: number; seconds: number; body?: string; threads?: number },
): Promise<WrkResult> {
  const dir = await Deno.makeTempDir({ prefix: "hhwrk" });
  try {
    const args = [
      `-t${options.threads ?? 2}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "--latency",
    ];
    if (options.body !== undefined) {
      const lua = join(dir, "post.lua");
      await Deno.writeTextFile(
        lua,
        `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${
          JSON.stringify(options.body)
        }\n`,
      );
      args.push("-s", lua);
    }
    args.push(url);
    const r = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
    const out = new TextDecoder().decode(r.stdout);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const p99 = ms(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = non2xx + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
    if (!Number.isFinite(rps)) {
      throw new Error(`wrk failed: ${out}${new TextDecoder().decode(r.stderr)}`);
    }
    return { rps, requests, p99, errors, non2xx };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A server under test. */
export interface Server {
  /** Base URL of the endpoint to load. */
  url: string;
  /** Process id (for RSS). */
  pid: number;
  /** Stops it. */
  stop(): Promise<void>;
}

/** Resident set size of `pid` in MB (Linux). */
export async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill();
  throw new Error(`nothing listened on port ${port}`);
}

/**
 * Starts adnanh/webhook serving `script` synchronously (output in the response). With `bodyFile`,
 * it hands the script the raw request body the one way version 2.8.0 can: written to a temporary
 * file whose path is in `$BODY_FILE` (`pass-file-to-command`, source `raw-request-body`); it
 * cannot write it to the script's stdin, which then reads EOF.
 */
export async function startPeer(
  dir: string,
  script: string,
  options: { bodyFile?: boolean } = {},
): Promise<Server> {
  const port = freePort();
  const hooks = join(dir, "peer-hooks.json");
  await Deno.writeTextFile(
    hooks,
    JSON.stringify([{
      id: "sync",
      "execute-command": script,
      "command-working-directory": dir,
      "include-command-output-in-response": true,
      ...options.bodyFile
        ? { "pass-file-to-command": [{ source: "raw-request-body", envname: "BODY_FILE" }] }
        : {},
    }]),
  );
  const [cmd, args] = detached("webhook", [
    "-hooks",
    hooks,
    "-ip",
    "127.0.0.1",
    "-port",
    String(port),
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port, child);
  return {
    url: `http://127.0.0.1:${port}/hooks/sync`,
    pid: child.pid,
    stop: async () => {
      child.kill();
      await child.status;
    },
  };
}

/** How many times `needle` occurs in `text` (records in JSONL output, counted, not parsed). */
function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

/** Options of the `start*` functions that start `hookhost run --daemon --format jsonl`. */
interface HookhostOptions {
  /** Session name. */
  name: string;
  /** Hooks to serve. */
  hooks?: string[];
  /** Run main.ts of this checkout instead of the bundle. */
  source?: boolean;
  /**
   * Another build to run: a checkout (its `main.ts` with its `deno.json`) or a bundle file
   * (`dist/hookhost.js` of a checkout). Default: this checkout's bundle.
   */
  build?: string;
}

/** `deno` arguments for `hookhost run --daemon --format jsonl` of session `name`. */
function hookhostArgs(options: HookhostOptions): string[] {
  const args = ["run", "--name", options.name, "--daemon", "--format", "jsonl"];
  for (const h of options.hooks ?? []) args.push("--hook", h);
  const b = options.build;
  const deno = b === undefined
    ? (options.source ? denoRunArgs("source") : HOOKHOST)
    : b.endsWith(".js")
    ? ["run", ...runtimeFlags(), ...BUNDLE_FLAGS, b]
    : ["run", ...runtimeFlags(), "--config", join(b, "deno.json"), join(b, "main.ts")];
  return [...deno, ...args];
}

function hookhostEnv(dir: string): Record<string, string> {
  return { HOOKHOST_STATE: join(dir, "state"), HOOKHOST_CONFIG: join(dir, "hookhost.toml") };
}

/**
 * Starts `hookhost run --daemon` in `dir` with its output going to a file, as a daemon's log
 * does, and waits for the `wait` record there. For the throughput rows: read through a pipe,
 * the bench's own reading cost ~60 µs of the machine's CPU per request in row 1, charged to
 * hookhost alone (the peer's output goes nowhere).
 */
export async function startHookhostToFile(
  dir: string,
  options: HookhostOptions & { wait: RegExp },
): Promise<Server & { url: string; count(needle: string): Promise<number> }> {
  const output = join(dir, `${options.name}.jsonl`);
  // sh execs hookhost with its stdout on the file: the pid stays the daemon's.
  const [cmd, argv] = detached("/bin/sh", [
    "-c",
    'out=$1; shift; exec "$@" >"$out"',
    "sh",
    output,
    Deno.execPath(),
    ...hookhostArgs(options),
  ]);
  const child = new Deno.Command(cmd, {
    args: argv,
    env: hookhostEnv(dir),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 120_000;
  let exited = false;
  child.status.then(() => (exited = true));
  let line: string | undefined;
  while (!line) {
    const text = await Deno.readTextFile(output).catch(() => "");
    line = text.split("\n").find((l) => options.wait.test(l));
    if (line) break;
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill();
      await child.status;
      throw new Error(`hookhost never printed ${options.wait}:\n${text.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const addr = /"addr":"([^"]+)"/.exec(line)?.[1];
  return {
    url: addr ? `http://${addr}` : "",
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
    count: async (needle) => occurrences(await Deno.readTextFile(output), needle),
  };
}

/**
 * Starts `worker_baseline.ts`, row 3's baseline: a bare `Deno.serve` through one Worker, with the
 * runtime flags hookhost runs with.
 */
export function startWorkerBaseline(): Promise<Server & { url: string }> {
  return startBaseline("worker_baseline.ts");
}

/**
 * Starts baseline `file` of this folder (which prints `LISTENING <port>`) with `args`, under the
 * runtime flags hookhost runs with.
 */
export async function startBaseline(
  file: string,
  args: string[] = [],
): Promise<Server & { url: string }> {
  const script = new URL(`./${file}`, import.meta.url).pathname;
  const [cmd, argv] = detached(Deno.execPath(), [
    "run",
    ...runtimeFlags(),
    "--no-config",
    script,
    ...args,
  ]);
  const child = new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => child.kill(), 30_000);
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.includes("\n")) break;
  }
  clearTimeout(timer);
  // Its stderr is read only when it failed: nothing is written there while it serves.
  const port = /LISTENING (\d+)/.exec(text)?.[1];
  if (!port) {
    child.kill();
    const { stderr } = await child.output().catch(() => ({ stderr: new Uint8Array() }));
    throw new Error(`${file} did not start: ${text}${new TextDecoder().decode(stderr)}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Starts `hookhost run --daemon` in `dir` (its hookhost.toml) and waits for its records. */
export async function startHookhost(
  dir: string,
  options: HookhostOptions & {
    wait: RegExp;
    env?: Record<string, string>;
    /** Keep every line for `waitFor` (default: only those up to the `wait` line). */
    keep?: boolean;
  },
): Promise<
  Server & {
    lines: string[];
    waitFor(re: RegExp, count?: number): Promise<void>;
    /** `hook_run` records printed so far. */
    hookRuns(): number;
  }
> {
  const [cmd, argv] = detached(Deno.execPath(), hookhostArgs(options));
  const child = new Deno.Command(cmd, {
    args: argv,
    env: { ...hookhostEnv(dir), ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let started = false;
  let hookRuns = 0;
  const reading = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const end = buf.lastIndexOf("\n");
      if (end < 0) continue;
      const text = buf.slice(0, end);
      buf = buf.slice(end + 1);
      // Under load the daemon prints tens of thousands of lines a second, and this reader
      // shares the machine with it: lines are counted, not kept, once the daemon is up.
      hookRuns += occurrences(text, '"type":"hook_run"');
      if (!started || options.keep) lines.push(...text.split("\n"));
      for (const w of waiters.splice(0)) w();
    }
  })();
  const waitFor = async (re: RegExp, count = 1) => {
    const deadline = Date.now() + 120_000;
    while (lines.filter((l) => re.test(l)).length < count) {
      if (Date.now() > deadline) throw new Error(`hookhost never printed ${re}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  await waitFor(options.wait);
  started = true;
  const addr = /"addr":"([^"]+)"/.exec(lines.find((l) => options.wait.test(l)) ?? "")?.[1];
  return {
    url: addr ? `http://${addr}` : "",
    pid: child.pid,
    lines,
    waitFor,
    hookRuns: () => hookRuns,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await reading;
    },
  };
}

/** Median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The `p` quantile (0..1) of `xs`. */
export function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}
