/**
 * Row 9a's baseline in `deno task bench`: a bare `Deno.serve` that writes each request to one
 * long-lived worker process as a JSON line and answers with the message of the answer line that
 * names it, as a persistent hook does. No inbox, no output, no limits, no restarts. Prints
 * `LISTENING <port>`, then serves until killed.
 *
 * usage: deno run -A pipe_baseline.ts WORKER
 *
 * @module
 */
const worker = new Deno.Command(Deno.args[0], {
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const writer = worker.stdin.getWriter();
const enc = new TextEncoder();
const waiting = new Map<string, (message: string) => void>();
let next = 0;
(async () => {
  let buf = "";
  for await (const chunk of worker.stdout.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const answer = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      waiting.get(answer.id)?.(answer.message ?? "");
      waiting.delete(answer.id);
    }
  }
})();
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`LISTENING ${port}`),
}, async (request) => {
  const body = await request.text();
  const id = String(next++);
  const message = await new Promise<string>((resolve) => {
    waiting.set(id, resolve);
    writer.write(enc.encode(JSON.stringify({ v: 1, id, method: request.method, body }) + "\n"));
  });
  return new Response(message ? "ok" : null, { status: message ? 200 : 204 });
});
