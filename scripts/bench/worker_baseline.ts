/**
 * Row 3's baseline in `deno task bench`: a bare `Deno.serve` that hands each request to one Worker
 * and answers with what the Worker returns, as the issue's "through one Worker ~44k" does. No
 * inbox, no output, no events, no limits. Prints `LISTENING <port>`, then serves until killed.
 *
 * usage: deno run -A worker_baseline.ts
 *
 * @module
 */
/// <reference lib="deno.worker" />

if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onmessage = (e: MessageEvent<{ id: number; url: string; body: Uint8Array }>) => {
    self.postMessage({ id: e.data.id, text: "fast" });
  };
} else {
  const worker = new Worker(import.meta.url, { type: "module" });
  const waiting = new Map<number, (text: string) => void>();
  let next = 0;
  worker.onmessage = (e: MessageEvent<{ id: number; text: string }>) => {
    waiting.get(e.data.id)?.(e.data.text);
    waiting.delete(e.data.id);
  };
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`LISTENING ${port}`),
  }, async (request) => {
    const body = await request.bytes();
    const id = next++;
    const text = await new Promise<string>((resolve) => {
      waiting.set(id, resolve);
      worker.postMessage({ id, url: request.url, body });
    });
    return new Response(text);
  });
}
