/**
 * `hookhost __plugin-host NAME`: the child process a process-isolated plugin runs in. The first
 * frame on stdin says how: inline (the process was started with exactly the plugin's
 * permissions, and runs worker_main.ts on its own thread, as a Worker would), or in a Worker
 * with those permissions (the compiled binary, which takes no permission flags). Then it relays
 * frames between stdin/stdout and the plugin, nothing else. The process is what the host can
 * bound and stop, which a Worker is not in this Deno: its heap is capped by
 * `--max-old-space-size` (from `DENO_V8_FLAGS`), and the host kills it for a hang, for its RSS,
 * or to stop it.
 *
 * @module
 */
import { WORKER_URL } from "../assets.ts";
import { FrameWriter, loadFrames, readFrames } from "./frames.ts";
import { PROCESS_ERROR, type SpawnFrame } from "./plugin_process.ts";

// Taken before any plugin code runs: an inline plugin shares this realm and could replace them.
const exit: (code?: number) => never = Deno.exit.bind(Deno);
const addSignalListener = Deno.addSignalListener.bind(Deno);

/** What worker_main.ts uses of its global scope, given to it on this thread. */
interface WorkerScope {
  postMessage: (msg: unknown) => void;
  onmessage: ((e: MessageEvent) => unknown) | null;
  close: () => void;
}

/** Starts the plugin as `spawn` says; returns how to hand it a message. */
async function start(spawn: SpawnFrame, out: FrameWriter): Promise<(msg: unknown) => void> {
  if (spawn.inline) {
    const scope = globalThis as unknown as WorkerScope;
    scope.postMessage = (msg) => out.send(msg);
    // A Worker's self.close() ends it; so it ends this process (the host restarts it).
    scope.close = () => exit(0);
    await import("./worker_main.ts");
    return (data) => void scope.onmessage?.(new MessageEvent("message", { data }));
  }
  const worker = new Worker(WORKER_URL, {
    type: "module",
    name: `plugin ${spawn.name}`,
    deno: { permissions: spawn.permissions },
  });
  worker.onmessage = (e) => out.send(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    out.send({ t: PROCESS_ERROR, message: e.message });
  };
  worker.onmessageerror = () => out.send({ t: PROCESS_ERROR, message: "unreadable message" });
  return (msg) => worker.postMessage(msg);
}

/** Relays until stdin ends (the host stopped the plugin, or is gone); then exits. */
export async function pluginHostMain(): Promise<never> {
  // A terminal's Ctrl-C or a service manager's SIGTERM reaches the whole process group: the
  // host stops its plugins itself, in order, so this process waits for stdin to end instead.
  for (const signal of ["SIGINT", "SIGTERM"] as const) addSignalListener(signal, () => {});
  await loadFrames();
  const out = new FrameWriter(Deno.stdout.writable.getWriter());
  let deliver: ((msg: unknown) => void) | null = null;
  try {
    // The host is trusted: its frames are bounded by its own limits (max_body), not by these.
    for await (const msg of readFrames(Deno.stdin.readable, { maxFrame: 2 ** 31 })) {
      if (deliver) deliver(msg);
      else deliver = await start(msg as SpawnFrame, out);
    }
  } catch (e) {
    out.send({ t: PROCESS_ERROR, message: (e as Error).message });
  }
  await out.close();
  // Exits even with the plugin spinning on another thread, which terminate() could not stop.
  exit(0);
}
