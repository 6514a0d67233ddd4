/**
 * A KV Connect server for the tests of remote KV (`--kv http://…`): the protocol Deno's remote
 * KV client speaks to Deno Deploy and to a self-hosted `denokv` (denoland/denokv,
 * proto/kv-connect.md and proto/schema/datapath.proto), served on loopback port 0 and backed by a
 * real Deno KV database in memory. `denokv` itself is a Rust server this machine cannot build.
 *
 * What it speaks: the metadata exchange (protocol version 3, one strong endpoint), and
 * `snapshot_read`, `atomic_write` (checks, set and delete with expiry: what hookhost writes) and
 * `watch` (4-byte little-endian length-prefixed frames). Keys stay in the client's encoding and
 * are stored as one byte-string part, which Deno KV orders bytewise, as the protocol wants.
 * Versionstamps are the backing database's. Queues are not part of KV Connect, here as there.
 *
 * @module
 */

const STRONG = "strong";

// ---- Protocol Buffers: just the wire format these messages need. ----

type Field = { n: number; wire: number; v: bigint | Uint8Array };

function readVarint(b: Uint8Array, at: { i: number }): bigint {
  let out = 0n;
  let shift = 0n;
  while (true) {
    const byte = b[at.i++];
    if (byte === undefined) throw new Error("truncated varint");
    out |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return out;
    shift += 7n;
  }
}

/** The fields of one message, in order (repeated fields appear several times). */
function decode(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const at = { i: 0 };
  while (at.i < b.length) {
    const tag = Number(readVarint(b, at));
    const n = tag >>> 3, wire = tag & 7;
    if (wire === 0) out.push({ n, wire, v: readVarint(b, at) });
    else if (wire === 2) {
      const len = Number(readVarint(b, at));
      out.push({ n, wire, v: b.subarray(at.i, at.i + len) });
      at.i += len;
    } else if (wire === 1) at.i += 8;
    else if (wire === 5) at.i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (fs: Field[], n: number) =>
  fs.filter((f) => f.n === n && f.wire === 2).map((f) => f.v as Uint8Array);
const one = (fs: Field[], n: number) => bytesOf(fs, n)[0] ?? new Uint8Array();
const num = (fs: Field[], n: number) => {
  const f = fs.find((f) => f.n === n && f.wire === 0);
  return f ? BigInt.asIntN(64, f.v as bigint) : 0n;
};

function varint(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x) byte |= 0x80;
    out.push(byte);
  } while (x);
  return out;
}

/** Encodes fields given as `[number, value]`: numbers and booleans as varints, bytes as such. */
function encode(
  fields: [number, number | boolean | Uint8Array | undefined][],
): Uint8Array<ArrayBuffer> {
  const parts: number[] = [];
  for (const [n, v] of fields) {
    if (v === undefined || v === false || v === 0) continue;
    if (v instanceof Uint8Array) {
      parts.push(...varint(BigInt((n << 3) | 2)), ...varint(BigInt(v.length)), ...v);
    } else parts.push(...varint(BigInt(n << 3)), ...varint(BigInt(Number(v))));
  }
  return new Uint8Array(parts);
}

// ---- The store. ----

interface Stored {
  data: Uint8Array;
  encoding: number;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));

function entry(key: Uint8Array, e: Deno.KvEntryMaybe<Stored>): Uint8Array {
  return encode([
    [1, key],
    [2, e.value!.data],
    [3, e.value!.encoding],
    [4, unhex(e.versionstamp!)],
  ]);
}

/** A running server: `url` for `--kv`, `token` for `DENO_KV_ACCESS_TOKEN`. */
export interface KvConnectServer {
  /** The metadata URL (what `Deno.openKv` takes). */
  url: string;
  /** The access token it accepts. */
  token: string;
  /** Requests it answered, per kind. */
  stats: { reads: number; writes: number; watches: number };
  /** From now on every request is answered 503, as by a server that is down (Deno retries). */
  down(): void;
  /** Serves again. */
  up(): void;
  /** Stops serving and closes the backing database. */
  close(): Promise<void>;
}

/** Starts a KV Connect server on 127.0.0.1, port 0. */
export async function startKvConnect(): Promise<KvConnectServer> {
  const db = await Deno.openKv(":memory:");
  const token = `test-${crypto.randomUUID()}`;
  const stats = { reads: 0, writes: 0, watches: 0 };
  const watchers = new Set<AbortController>();
  let outage = false;
  const authorized = (req: Request) => req.headers.get("authorization") === `Bearer ${token}`;

  const snapshotRead = async (body: Uint8Array) => {
    stats.reads++;
    const ranges: Uint8Array[] = [];
    for (const r of bytesOf(decode(body), 1)) {
      const f = decode(r);
      const start = one(f, 1), end = one(f, 2);
      const limit = Number(num(f, 3)) || 1;
      const reverse = num(f, 4) !== 0n;
      const values: [number, Uint8Array][] = [];
      const it = db.list<Stored>({ start: [start], end: [end] }, { limit, reverse });
      for await (const e of it) values.push([1, entry(e.key[0] as Uint8Array, e)]);
      ranges.push(encode(values));
    }
    return encode([...ranges.map((r) => [1, r] as [number, Uint8Array]), [4, true], [8, 1]]);
  };

  const atomicWrite = async (body: Uint8Array) => {
    stats.writes++;
    const f = decode(body);
    if (bytesOf(f, 3).length) throw new RangeError("queues are not part of KV Connect");
    const op = db.atomic();
    for (const c of bytesOf(f, 1)) {
      const cf = decode(c);
      const vs = one(cf, 2);
      op.check({ key: [one(cf, 1)], versionstamp: vs.length ? hex(vs) : null });
    }
    for (const m of bytesOf(f, 2)) {
      const mf = decode(m);
      const key = [one(mf, 1)];
      const type = Number(num(mf, 3));
      const expireAt = Number(num(mf, 4));
      if (type === 1) {
        const v = decode(one(mf, 2));
        const expireIn = expireAt > 0 ? Math.max(1, expireAt - Date.now()) : undefined;
        op.set(key, { data: one(v, 1), encoding: Number(num(v, 2)) } satisfies Stored, {
          expireIn,
        });
      } else if (type === 2) op.delete(key);
      else throw new RangeError(`mutation type ${type} is not served by this test server`);
    }
    const res = await op.commit();
    return res.ok ? encode([[1, 1], [2, unhex(res.versionstamp)]]) : encode([[1, 2]]);
  };

  /** A watch answer: a frame at once with every key, then one whenever one of them changes. */
  const watch = (body: Uint8Array, ended: AbortController) => {
    const signal = ended.signal;
    stats.watches++;
    const keys = bytesOf(decode(body), 1).map((k) => one(decode(k), 1).slice());
    const last = new Map<number, string | null>();
    const reader = db.watch<Stored[]>(keys.map((k) => [k])).getReader();
    const stop = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    return new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (done || !value) {
          signal.removeEventListener("abort", stop);
          return ctl.close();
        }
        const outs = value.map((e, i) => {
          const changed = !last.has(i) || last.get(i) !== e.versionstamp;
          last.set(i, e.versionstamp);
          if (!changed) return encode([]);
          return encode([[1, true], [2, e.value ? entry(keys[i], e) : undefined]]);
        });
        const msg = encode([[1, 1], ...outs.map((o) => [2, o] as [number, Uint8Array])]);
        const out = new Uint8Array(4 + msg.length);
        new DataView(out.buffer).setUint32(0, msg.length, true);
        out.set(msg, 4);
        ctl.enqueue(out);
      },
      cancel: () => ended.abort(),
    });
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      if (outage) return new Response("Service unavailable", { status: 503 });
      if (req.method !== "POST") return new Response("not found", { status: 404 });
      if (!authorized(req)) return new Response("Invalid access token.", { status: 401 });
      const path = new URL(req.url).pathname;
      if (path === "/") {
        return Response.json({
          version: 3,
          databaseId: "00000000-0000-0000-0000-000000000000",
          endpoints: [{ url: "/v2", consistency: STRONG }],
          token,
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        });
      }
      const body = new Uint8Array(await req.arrayBuffer());
      const proto = { headers: { "content-type": "application/x-protobuf" } };
      try {
        if (path === "/v2/snapshot_read") return new Response(await snapshotRead(body), proto);
        if (path === "/v2/atomic_write") return new Response(await atomicWrite(body), proto);
        if (path === "/v2/watch") {
          // Ended by the client (the stream is cancelled) or by close().
          const ctl = new AbortController();
          watchers.add(ctl);
          ctl.signal.addEventListener("abort", () => watchers.delete(ctl), { once: true });
          return new Response(watch(body, ctl), {
            headers: { "content-type": "application/octet-stream" },
          });
        }
      } catch (e) {
        return new Response((e as Error).message, { status: 400 });
      }
      return new Response("not found", { status: 404 });
    },
  );
  const srv: KvConnectServer = {
    url: `http://127.0.0.1:${server.addr.port}/`,
    token,
    stats,
    down() {
      outage = true;
      for (const w of [...watchers]) w.abort();
    },
    up() {
      outage = false;
    },
    async close() {
      for (const w of [...watchers]) w.abort();
      await server.shutdown();
      db.close();
    },
  };
  return srv;
}
