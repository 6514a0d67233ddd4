/**
 * Serving a handler on a bind address with `Deno.serve`.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { formatAddr, parseBind } from "../config/bind.ts";

/** A running listener. */
export interface Listener {
  /** The real `host:port` (the chosen port when bound to port 0). */
  addr: string;
  /** Stops accepting and waits for in-flight requests. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** Serves `handler` on `bind` (`host:port`). Rejects if the address cannot be bound. */
export function listen(
  bind: string,
  handler: (req: Request) => Promise<Response>,
  options: { log?: Logger } = {},
): Listener {
  const addr = parseBind(bind);
  const server = Deno.serve({
    hostname: addr.ip,
    port: addr.port,
    onListen: () => {},
    // One log line instead of Deno's default stack trace on stderr.
    onError: (e) => {
      options.log?.error("Request failed: {reason}", {
        reason: (e as Error)?.message ?? String(e),
      });
      return new Response("Internal error\n", { status: 500 });
    },
  }, handler);
  const local = server.addr as Deno.NetAddr;
  return {
    addr: formatAddr(local.hostname, local.port),
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}
