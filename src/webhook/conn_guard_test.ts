import assert from "node:assert/strict";
import { closeAfter, ConnGuard, type ConnGuardOptions } from "./conn_guard.ts";
import type { SocketInfo, SocketTable } from "./socket_table.ts";

/** A socket table the test writes: connections by peer port, and which were ended. */
function table() {
  const conns = new Map<number, SocketInfo>();
  const ended: number[] = [];
  const t: SocketTable = {
    connections: () => [...conns.values()],
    end: (s) => {
      ended.push(Number(s.peer.split(":").pop()));
      return conns.delete(Number(s.peer.split(":").pop()));
    },
    close: () => {},
  };
  const open = (port: number, bytesReceived = 0) =>
    conns.set(port, { fd: port, peer: `127.0.0.1:${port}`, bytesReceived });
  return { t, conns, ended, open };
}

function guarded(options: Partial<ConnGuardOptions> = {}) {
  let now = 0;
  const tb = table();
  const guard = new ConnGuard(80, tb.t, {
    headerTimeout: 10,
    idleTimeout: 60,
    maxConnections: 100,
    now: () => now,
    ...options,
  });
  const at = (s: number) => {
    now = s * 1000;
    guard.tick();
  };
  const request = (port: number) => {
    const conn = guard.requested({ hostname: "127.0.0.1", port });
    return (answer: Response | null) => guard.answered(conn, answer);
  };
  return { guard, ...tb, at, request };
}

Deno.test("ConnGuard: a connection without a request head is ended at header_timeout", () => {
  const g = guarded();
  g.open(1);
  g.at(0);
  g.at(9.9);
  assert.deepEqual(g.ended, []);
  g.at(10);
  assert.deepEqual(g.ended, [1]);
  assert.equal(g.guard.ended.head, 1);
});

Deno.test("ConnGuard: a request in progress is never ended, however long it takes", () => {
  const g = guarded();
  g.open(1);
  g.at(0);
  const done = g.request(1);
  g.at(500);
  assert.deepEqual(g.ended, [], "head complete, body or script running: their own timeouts");
  done(new Response("ok"));
  g.at(559);
  assert.deepEqual(g.ended, []);
  g.at(560);
  assert.deepEqual(g.ended, [1], "idle for idle_timeout after its answer");
  assert.equal(g.guard.ended.idle, 1);
});

Deno.test("ConnGuard: bytes of a next head that never completes are ended at header_timeout", () => {
  const g = guarded();
  g.open(1);
  g.at(0);
  g.request(1)(new Response("ok"));
  g.at(1); // The idle spell starts: bytes received are noted.
  g.open(1, 40); // Part of a head trickles in.
  g.at(2);
  g.at(11.9);
  assert.deepEqual(g.ended, []);
  g.at(12);
  assert.deepEqual(g.ended, [1]);
  assert.equal(g.guard.ended.head, 1);
});

Deno.test("ConnGuard: an answer with Connection: close ends the connection at the next tick", () => {
  const g = guarded();
  g.open(1);
  g.open(2);
  g.at(0);
  g.request(1)(closeAfter(new Response("no", { status: 408 })));
  // The header alone (a plugin's answer, say) is the client's business, not the guard's.
  g.request(2)(new Response("ok", { headers: { connection: "close" } }));
  g.at(0.5);
  assert.deepEqual(g.ended, [1]);
  assert.equal(g.guard.ended.close, 1);
});

Deno.test("ConnGuard: over max_connections, the newest never-served go first, then the longest idle; busy ones stay", () => {
  const g = guarded({ maxConnections: 3 });
  g.open(1);
  g.open(2);
  g.at(0);
  g.request(1)(new Response("ok")); // Served at 0, idle since.
  g.request(2); // Busy.
  g.open(3);
  g.at(1);
  g.request(3)(new Response("ok")); // Served at 1.
  g.open(4);
  g.at(2);
  g.open(5);
  g.open(6);
  g.at(3);
  // Six, three allowed: 5 and 6 (newest, never served), then 4 (never served).
  assert.deepEqual(g.ended.toSorted(), [4, 5, 6]);
  g.open(7);
  g.request(7)(new Response("ok"));
  g.at(4);
  // 1, 2, 3, 7 with 2 busy: 1 is the longest idle.
  assert.deepEqual(g.ended.slice(3), [1]);
  assert.equal(g.guard.ended.over, 4);
});

Deno.test("ConnGuard: a connection gone from the table is forgotten; its fd reused is a new one", () => {
  const g = guarded();
  g.open(1);
  g.at(0);
  g.conns.delete(1);
  g.at(5);
  g.open(1); // Same peer again: a new connection, its own header_timeout.
  g.at(6);
  g.at(14);
  assert.deepEqual(g.ended, []);
  g.at(16);
  assert.deepEqual(g.ended, [1]);
});
