import assert from "node:assert/strict";
import { openSocketTable, peerKey } from "./socket_table.ts";

Deno.test("peerKey: IPv6 spelled one way whichever side spells it", () => {
  assert.equal(peerKey("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(peerKey("::1", 80), "[::1]:80");
  assert.equal(peerKey("0:0:0:0:0:0:0:1", 80), "[::1]:80");
  assert.equal(peerKey("::ffff:127.0.0.1", 5), peerKey("::ffff:7f00:1", 5));
});

Deno.test("openSocketTable: lists this process's accepted connection by its peer, and ends it", async () => {
  const table = openSocketTable();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  const client = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    const peer = peerKey("127.0.0.1", client.localAddr.port);
    await client.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buf = new Uint8Array(1024);
    assert.ok(await client.read(buf), "answered");
    const listed = table.connections(server.addr.port, "127.0.0.1");
    assert.deepEqual(listed.map((s) => s.peer), [peer], "the listener itself is not listed");
    assert.ok(listed[0].bytesReceived >= 27, "the head's bytes are counted");
    assert.deepEqual(table.connections(server.addr.port, "127.0.0.2"), [], "another IP's");
    assert.equal(table.end(listed[0]), true);
    assert.equal(await client.read(buf), null, "the client sees the end");
    assert.equal(table.end(listed[0]), false, "its fd is no longer that connection");
  } finally {
    client.close();
    await server.shutdown();
    table.close();
  }
});
