import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger, reset } from "@logtape/logtape";
import { HookhostError } from "../errors.ts";
import {
  deniedPermission,
  ModulePlugin,
  type ModulePluginOptions,
  PluginUnavailableError,
} from "./module_plugin.ts";
import { type CallMethod, fromWireHeaders, toWireHeaders, type WireResult } from "./protocol.ts";
import { captureLogs } from "../../test/_logs.ts";
import { until } from "../../test/_poll.ts";

// ---------------------------------------------------------------------------------------------
// deniedPermission()

Deno.test("deniedPermission() turns Deno's NotCapable messages into `<kind> <target>`", () => {
  const cases: [string, string][] = [
    [
      'NotCapable: Requires read access to "/etc/hostname", run again with the --allow-read flag',
      "read /etc/hostname",
    ],
    [
      'NotCapable: Requires net access to "127.0.0.1:8080", run again with the --allow-net flag',
      "net 127.0.0.1:8080",
    ],
    [
      'NotCapable: Requires env access to "GITHUB_TOKEN", run again with the --allow-env flag',
      "env GITHUB_TOKEN",
    ],
    ['NotCapable: Requires run access to "git", run again with the --allow-run flag', "run git"],
    [
      'NotCapable: Requires write access to "/tmp/out.txt", run again with the --allow-write flag',
      "write /tmp/out.txt",
    ],
    [
      'NotCapable: Requires sys access to "hostname", run again with the --allow-sys flag',
      "sys hostname",
    ],
    // As the host sees a handler's error (name: message), and inside other text.
    [
      'Error: fetch failed: NotCapable: Requires net access to "api.github.com:443", run again',
      "net api.github.com:443",
    ],
  ];
  for (const [error, want] of cases) assert.equal(deniedPermission(error), want, error);
});

Deno.test("deniedPermission() is null for errors that are not permission denials", () => {
  for (
    const error of [
      "Error: boom",
      "TypeError: Cannot read properties of undefined (reading 'x')",
      'NotFound: No such file or directory (os error 2): readfile "/nope"',
      "",
    ]
  ) {
    assert.equal(deniedPermission(error), null, error);
  }
});

Deno.test("deniedPermission() parses the errors a real Worker without permissions throws", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hh-denied" });
  const file = join(dir, "w.js");
  await Deno.writeTextFile(
    file,
    `self.onmessage = async () => {
      const out = [];
      for (const f of [
        () => Deno.readTextFile("/etc/hostname"),
        () => Deno.writeTextFile("${dir}/x", "x"),
        () => fetch("http://127.0.0.1:45678/"),
        () => Deno.env.get("HH_SOME_VAR"),
        () => new Deno.Command("sh").output(),
        () => Deno.hostname(),
      ]) {
        try { await f(); out.push(null); } catch (e) { out.push(e.name + ": " + e.message); }
      }
      self.postMessage(out);
    };`,
  );
  const worker = new Worker(new URL(`file://${file}`), {
    type: "module",
    deno: {
      permissions: {
        read: [file],
        write: false,
        net: false,
        env: false,
        run: false,
        sys: false,
        ffi: false,
        import: false,
      },
    },
  });
  try {
    const errors = await new Promise<(string | null)[]>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage(null);
    });
    assert.deepEqual(errors.map((e) => e === null ? null : deniedPermission(e)), [
      "read /etc/hostname",
      `write ${dir}/x`,
      "net 127.0.0.1:45678",
      "env HH_SOME_VAR",
      "run sh",
      "sys hostname",
    ], JSON.stringify(errors));
  } finally {
    worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// ModulePlugin over real Workers

interface Harness {
  dir: string;
  /** The plugin file. */
  file: string;
  /** Log lines (`level message`). */
  lines: string[];
  /** `ctx` calls the plugin made. */
  calls: { plugin: string; method: CallMethod; args: unknown[] }[];
}

/**
 * Writes `source` (with `$DIR` replaced by the temp folder) as `<fileName>.ts` into a temp
 * folder, collects the log, and runs `fn` with a ModulePlugin over it (not started). The plugin is
 * stopped, the log reset and the folder removed afterwards.
 */
async function withPlugin(
  source: string,
  options: Partial<ModulePluginOptions> & { fileName?: string; files?: Record<string, string> },
  fn: (plugin: ModulePlugin, h: Harness) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-module" });
  const fileName = options.fileName ?? "plug";
  const file = join(dir, `${fileName}.ts`);
  const calls: Harness["calls"] = [];
  const { log: captured, lines } = await captureLogs("test-plugins");
  let plugin: ModulePlugin | undefined;
  try {
    await Deno.writeTextFile(file, source.replaceAll("$DIR", dir));
    for (const [name, text] of Object.entries(options.files ?? {})) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    plugin = new ModulePlugin({
      fileName,
      module: file,
      root: file,
      session: "unit",
      timeoutMs: 5_000,
      log: captured,
      onCall: (plugin, method, args) => {
        calls.push({ plugin, method, args });
        if (method === "inject") return Promise.resolve(`id-${calls.length}`);
        if (method === "store.get") return Promise.reject(new Error("store is closed"));
        return Promise.resolve(undefined);
      },
      ...options,
    });
    await fn(plugin, { dir, file, lines, calls });
  } finally {
    await plugin?.stop();
    await reset();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Calls the plugin's `webhook()` with a GET of `/hooks/x<query>`. */
function get(plugin: ModulePlugin, query = ""): Promise<WireResult | undefined> {
  return plugin.invoke({
    t: "webhook",
    method: "GET",
    url: `http://127.0.0.1/hooks/x${query}`,
    headers: "",
    body: null,
  });
}

/** The text a `webhook()` returned as a string. */
async function text(plugin: ModulePlugin, query = ""): Promise<string> {
  const result = await get(plugin, query);
  assert.equal(result?.kind, "text", JSON.stringify(result));
  return (result as { text: string }).text;
}

const VISIBLE = "HH_UNIT_VISIBLE";
const HIDDEN = "HH_UNIT_HIDDEN";

/** Sets two environment variables of this process (Workers share it) for `fn`. */
async function withEnv(fn: () => Promise<void>): Promise<void> {
  Deno.env.set(VISIBLE, "seen");
  Deno.env.set(HIDDEN, "secret");
  try {
    await fn();
  } finally {
    Deno.env.delete(VISIBLE);
    Deno.env.delete(HIDDEN);
  }
}

Deno.test("ModulePlugin.start() reads the declaration and gives the Worker exactly those permissions", async () => {
  await withEnv(() =>
    withPlugin(
      `export default {
        name: "perm-check",
        permissions: { env: ["${VISIBLE}"], read: ["$DIR/data"] },
        async webhook(request) {
          const state = async (d) => (await Deno.permissions.query(d)).state;
          return JSON.stringify({
            env: Deno.env.get("${VISIBLE}"),
            data: await Deno.readTextFile("$DIR/data/file.txt"),
            granted: {
              envVisible: await state({ name: "env", variable: "${VISIBLE}" }),
              envHidden: await state({ name: "env", variable: "${HIDDEN}" }),
              readData: await state({ name: "read", path: "$DIR/data/file.txt" }),
              readOther: await state({ name: "read", path: "$DIR/other.txt" }),
              net: await state({ name: "net" }),
              write: await state({ name: "write" }),
              run: await state({ name: "run" }),
              sys: await state({ name: "sys", kind: "hostname" }),
              ffi: await state({ name: "ffi" }),
            },
          });
        },
        on: { tick() {}, notAFunction: 1 },
        message() {},
      };`,
      { operator: { env: true, read: true } },
      async (plugin, h) => {
        await Deno.mkdir(join(h.dir, "data"));
        await Deno.writeTextFile(join(h.dir, "data", "file.txt"), "file contents");
        await Deno.writeTextFile(join(h.dir, "other.txt"), "other");
        assert.equal(plugin.state, "starting");
        await plugin.start();
        assert.equal(plugin.state, "ready");
        assert.equal(plugin.name, "perm-check", "the declared name wins over the file name");
        assert.deepEqual(plugin.declared, { env: [VISIBLE], read: [`${h.dir}/data`] });
        assert.deepEqual(plugin.effective, {
          net: false,
          read: [`${h.dir}/data`],
          write: false,
          env: [VISIBLE],
          run: false,
          ffi: false,
          sys: false,
          import: false,
        });
        assert.deepEqual(plugin.kinds.sort(), ["message", "on:tick", "webhook"]);
        assert.ok(plugin.has("on:tick") && !plugin.has("on:notAFunction"));

        const got = JSON.parse(await text(plugin));
        assert.equal(got.env, "seen");
        assert.equal(got.data, "file contents");
        assert.equal(got.granted.envVisible, "granted");
        assert.equal(got.granted.readData, "granted");
        for (const kind of ["envHidden", "readOther", "net", "write", "run", "sys", "ffi"]) {
          assert.notEqual(got.granted[kind], "granted", `${kind} should not be granted`);
        }
      },
    )
  );
});

Deno.test("ModulePlugin reports a denied read as `plugin NAME: permission denied: read PATH` and keeps running", async () => {
  await withPlugin(
    `export default {
      async webhook(request) {
        const q = new URL(request.url).searchParams;
        if (q.has("self")) return await Deno.readTextFile(import.meta.filename);
        if (q.has("read")) return await Deno.readTextFile("$DIR/secret.txt");
        return "fine";
      },
      on: {
        async probe(event, ctx) {
          try {
            Deno.env.get("${HIDDEN}");
          } catch (e) {
            ctx.log.warn(e.message);
          }
        },
      },
    };`,
    { fileName: "denier" },
    async (plugin, h) => {
      await Deno.writeTextFile(join(h.dir, "secret.txt"), "secret");
      await plugin.start();
      assert.equal(plugin.name, "denier", "named after its file");
      assert.equal(plugin.effective.read, false);

      const error = await get(plugin, "?read").then(() => null, (e) => e);
      assert.ok(error instanceof HookhostError, String(error));
      assert.equal(error.code, "plugin_error");
      assert.match(error.message, /Requires read access/);
      assert.ok(
        h.lines.includes(`error plugin denier: permission denied: read ${h.dir}/secret.txt`),
        h.lines.join("\n"),
      );
      assert.match(plugin.lastError ?? "", /Requires read access/);

      // Its own file was readable for the import only.
      await assert.rejects(get(plugin, "?self"), /Requires read access/);
      assert.ok(
        h.lines.includes(`error plugin denier: permission denied: read ${h.file}`),
        h.lines.join("\n"),
      );

      // A denial the plugin catches and logs is reported the same way.
      await plugin.invoke({
        t: "event",
        event: { event: "probe", fullEvent: "event-probe", params: {}, timestamp: 0 },
      });
      await until(
        () => h.lines.includes(`error plugin denier: permission denied: env ${HIDDEN}`),
        () => h.lines.join("\n"),
      );

      assert.equal(plugin.state, "ready", "a denial is not a crash");
      assert.equal(await text(plugin), "fine");
    },
  );
});

Deno.test("ModulePlugin gets what it declares and the operator grants, and nothing without a grant", async () => {
  const source = `export default {
    name: "narrowed",
    permissions: { env: true, net: true },
    webhook(request) {
      return Deno.env.get(new URL(request.url).searchParams.get("var"));
    },
  };`;
  await withEnv(() =>
    withPlugin(source, { operator: { env: [VISIBLE] } }, async (plugin, h) => {
      await plugin.start();
      assert.deepEqual(plugin.effective.env, [VISIBLE]);
      assert.equal(plugin.effective.net, false);
      assert.equal(await text(plugin, `?var=${VISIBLE}`), "seen");
      await assert.rejects(get(plugin, `?var=${HIDDEN}`), /Requires env access/);
      assert.ok(
        h.lines.includes(`error plugin narrowed: permission denied: env ${HIDDEN}`),
        h.lines.join("\n"),
      );
    })
  );
  await withEnv(() =>
    withPlugin(source, {}, async (plugin) => {
      await plugin.start();
      assert.equal(plugin.state, "ready", "it loads, with nothing granted");
      assert.deepEqual(plugin.declared, { env: true, net: true });
      assert.equal(plugin.effective.env, false);
      assert.equal(plugin.effective.net, false);
      await assert.rejects(get(plugin, `?var=${VISIBLE}`), /Requires env access/);
    })
  );
});

Deno.test("ModulePlugin terminates a handler past its timeout and restarts the Worker with backoff", async () => {
  await withPlugin(
    `let served = 0;
    export default {
      webhook(request) {
        // A handler that never answers. (A tight loop would be the same to the host, but its
        // thread keeps spinning after terminate() in Deno 2.9.6 and would slow every later test.)
        if (new URL(request.url).searchParams.has("spin")) return new Promise(() => {});
        return "alive " + served++;
      },
    };`,
    { fileName: "spinner", timeoutMs: 300 },
    async (plugin, h) => {
      await plugin.start();
      assert.equal(await text(plugin), "alive 0");
      assert.equal(await text(plugin), "alive 1");

      const spin = async (delay: number) => {
        const error = await get(plugin, "?spin").then(() => null, (e) => e);
        assert.ok(error instanceof PluginUnavailableError, String(error));
        assert.equal(error.code, "plugin_timeout");
        assert.match(error.message, /did not answer within 0\.3 s/);
        assert.equal(plugin.state, "restarting");
        assert.ok(
          h.lines.includes(
            "error plugin spinner: A handler ran past its 0.3 s timeout; the Worker was " +
              `terminated; restarting in ${delay} ms`,
          ),
          h.lines.join("\n"),
        );
        // While it restarts, calls are refused at once rather than queued.
        const refused = await get(plugin).then(() => null, (e) => e);
        assert.ok(refused instanceof PluginUnavailableError, String(refused));
        assert.equal(refused.code, "plugin_unavailable");
        await until(() => plugin.state === "ready", () => `state ${plugin.state}`);
      };

      await spin(1000);
      // A fresh Worker: the module's state starts over.
      assert.equal(await text(plugin), "alive 0");
      assert.ok(h.lines.includes("info plugin spinner: restarted"), h.lines.join("\n"));

      // Hanging again right after a restart doubles the wait; an answer resets it.
      await spin(1000);
      await spin(2000);
      assert.equal(await text(plugin), "alive 0");
      await spin(1000);
      assert.equal(await text(plugin), "alive 0");
    },
  );
});

Deno.test("ModulePlugin gives each call its whole timeout, counted from its own start", async () => {
  await withPlugin(
    `export default {
      webhook(request) {
        // A handler that never answers. (A tight loop would be the same to the host, but its
        // thread keeps spinning after terminate() in Deno 2.9.6 and would slow every later test.)
        if (new URL(request.url).searchParams.has("spin")) return new Promise(() => {});
        return "quick";
      },
    };`,
    { fileName: "late", timeoutMs: 400 },
    async (plugin) => {
      await plugin.start();
      // The first call arms the plugin's one timer; the hanging call comes 250 ms later and
      // must still get its own 400 ms, not the 150 ms left on that timer.
      assert.equal(await text(plugin), "quick");
      await new Promise((r) => setTimeout(r, 250));
      const started = performance.now();
      const error = await get(plugin, "?spin").then(() => null, (e) => e);
      const waited = performance.now() - started;
      assert.ok(error instanceof PluginUnavailableError, String(error));
      assert.equal(error.code, "plugin_timeout");
      assert.ok(waited >= 390, `timed out after ${waited.toFixed(0)} ms`);
    },
  );
});

Deno.test("ModulePlugin.stop() during a restart keeps the Worker from coming back", async () => {
  await withPlugin(
    `export default { webhook() { return new Promise(() => {}); } };`,
    { fileName: "hang", timeoutMs: 200 },
    async (plugin, h) => {
      await plugin.start();
      await assert.rejects(get(plugin), PluginUnavailableError);
      assert.equal(plugin.state, "restarting");
      plugin.stop();
      assert.equal(plugin.state, "stopped");
      await assert.rejects(get(plugin), /is stopped/);
      assert.ok(!h.lines.some((l) => l.includes("restarted")), h.lines.join("\n"));
    },
  );
});

Deno.test("ModulePlugin rejects a handler that throws and keeps serving", async () => {
  await withPlugin(
    `export default {
      webhook(request) {
        if (new URL(request.url).searchParams.has("throw")) throw new RangeError("boom on purpose");
        if (new URL(request.url).searchParams.has("odd")) throw Object.create(null);
        return new Response("still here", { status: 202, headers: { "x-plugin": "yes" } });
      },
    };`,
    { fileName: "thrower" },
    async (plugin, h) => {
      await plugin.start();
      const error = await get(plugin, "?throw").then(() => null, (e) => e);
      assert.ok(error instanceof HookhostError && !(error instanceof PluginUnavailableError));
      assert.equal(error.code, "plugin_error");
      assert.equal(error.message, "RangeError: boom on purpose");
      assert.ok(
        h.lines.includes("error plugin thrower: RangeError: boom on purpose"),
        h.lines.join("\n"),
      );
      assert.equal(plugin.state, "ready");
      // A thrown value with no text at all is still an answer, not a hang until the timeout.
      await assert.rejects(get(plugin, "?odd"), /a value that cannot be shown as text/);
      assert.equal(plugin.state, "ready");
      const result = await get(plugin);
      assert.equal(result?.kind, "response");
      const r = result as Extract<WireResult, { kind: "response" }>;
      assert.equal(r.status, 202);
      assert.ok(fromWireHeaders(r.headers).some(([k, v]) => k === "x-plugin" && v === "yes"));
      assert.equal(new TextDecoder().decode(r.body), "still here");
    },
  );
});

Deno.test("ModulePlugin gives each of many concurrent calls its own answer, in the order made", async () => {
  await withPlugin(
    `const seen = [];
    export default {
      webhook(request) {
        const n = new URL(request.url).searchParams.get("n");
        if (n === "seen") return seen.join(",");
        seen.push(n);
        return "r" + n;
      },
    };`,
    {},
    async (plugin) => {
      await plugin.start();
      // Made at once, they reach the Worker in a few batches (see ToWorker "calls").
      const n = 300;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) => text(plugin, `?n=${i}`)),
      );
      assert.deepEqual(answers, Array.from({ length: n }, (_, i) => `r${i}`));
      assert.equal(await text(plugin, "?n=seen"), Array.from({ length: n }, (_, i) => i).join(","));
    },
  );
});

Deno.test("ModulePlugin gives each call of a batch its own body, small or large", async () => {
  await withPlugin(
    `export default {
      async webhook(request) {
        const bytes = new Uint8Array(await request.arrayBuffer());
        let sum = 0;
        for (const b of bytes) sum = (sum * 31 + b) >>> 0;
        return request.method + " " + bytes.length + " " + sum;
      },
    };`,
    {},
    async (plugin) => {
      await plugin.start();
      // Sizes around the transfer threshold, alone and together in a batch: the first call goes
      // alone, the others wait for its answer and go as one batch.
      const sizes = [5, 0, 300_000, 3, 70_000, 1];
      const bodies = sizes.map((n, i) =>
        Uint8Array.from({ length: n }, (_, j) => (i * 7 + j) & 255)
      );
      const expected = bodies.map((b) => {
        let sum = 0;
        for (const x of b) sum = (sum * 31 + x) >>> 0;
        return `POST ${b.length} ${sum}`;
      });
      const answers = await Promise.all(bodies.map(async (body) => {
        const result = await plugin.invoke({
          t: "webhook",
          method: "POST",
          url: "http://127.0.0.1/hooks/x",
          headers: "",
          body: body as Uint8Array<ArrayBuffer>,
        });
        return (result as { text: string }).text;
      }));
      assert.deepEqual(answers, expected);
      // The caller's own bytes are left as they were.
      assert.equal(bodies[2].length, 300_000);
      assert.equal(bodies[2][299_999], (2 * 7 + 299_999) & 255);
    },
  );
});

Deno.test("ModulePlugin builds webhook()'s request only when the handler uses it", async () => {
  await withPlugin(
    `let calls = 0;
    export default {
      webhook(request) {
        // The second call looks at its request: only then is it built, and it cannot be.
        return ++calls === 1 ? "never looked" : request.method;
      },
    };`,
    {},
    async (plugin) => {
      await plugin.start();
      // A method \`new Request()\` refuses (the host answers it with 405 before any plugin).
      const trace = () =>
        plugin.invoke({
          t: "webhook",
          method: "TRACE",
          url: "http://127.0.0.1/hooks/x",
          headers: "",
          body: null,
        });
      assert.deepEqual(await trace(), { kind: "text", text: "never looked" });
      await assert.rejects(trace, /Method is forbidden/);
    },
  );
});

Deno.test("ModulePlugin hands webhook() a request that is a Request in every way a plugin looks", async () => {
  await withPlugin(
    `export default {
      async webhook(request) {
        const copy = request.clone();
        const rebuilt = new Request(request.url, request);
        return JSON.stringify({
          isRequest: request instanceof Request,
          prototype: Object.getPrototypeOf(request) === Request.prototype,
          tag: Object.prototype.toString.call(request),
          printed: Deno.inspect(request).split("\\n")[0],
          headers: [...request.headers],
          url: new URL(request.url).search,
          copy: await copy.text(),
          rebuilt: rebuilt.method + " " + (await rebuilt.json()).n,
          used: request.bodyUsed,
        });
      },
    };`,
    {},
    async (plugin) => {
      await plugin.start();
      const result = await plugin.invoke({
        t: "webhook",
        method: "PUT",
        url: "http://127.0.0.1/hooks/x?q=1",
        headers: toWireHeaders(new Headers({ "content-type": "application/json", "x-a": "1" })),
        body: new TextEncoder().encode('{"n":7}') as Uint8Array<ArrayBuffer>,
      });
      assert.equal(result?.kind, "text", JSON.stringify(result));
      assert.deepEqual(JSON.parse((result as { text: string }).text), {
        isRequest: true,
        prototype: true,
        tag: "[object Request]",
        printed: "Request {",
        headers: [["content-type", "application/json"], ["x-a", "1"]],
        url: "?q=1",
        copy: '{"n":7}',
        rebuilt: "PUT 7",
        used: false, // as with a real Request: the init's body stream was read, not the request
      });
    },
  );
});

Deno.test("ModulePlugin does not hold quick calls behind a slow one made before them", async () => {
  await withPlugin(
    `export default {
      async webhook(request) {
        if (new URL(request.url).searchParams.has("slow")) {
          await new Promise((r) => setTimeout(r, 1500));
          return "slow";
        }
        return "quick";
      },
    };`,
    {},
    async (plugin) => {
      await plugin.start();
      const order: string[] = [];
      const call = (query: string) => text(plugin, query).then((t) => void order.push(t));
      // The slow call travels alone; the quick ones made right after it wait for its batch's
      // answer, which must not wait for the slow call itself.
      const slow = call("?slow");
      const quick = Array.from({ length: 20 }, () => call(""));
      await Promise.all(quick);
      assert.deepEqual(order, Array(20).fill("quick"));
      await slow;
      assert.equal(order.at(-1), "slow");
      // Quick calls in the same batch as a slow one: the first call is with the Worker, so
      // the next six go together.
      order.length = 0;
      const first = call("");
      const [slowToo, ...quickToo] = [call("?slow"), ...Array.from({ length: 5 }, () => call(""))];
      await Promise.all([first, ...quickToo]);
      assert.deepEqual(order, Array(6).fill("quick"));
      await slowToo;
      assert.equal(order.at(-1), "slow");
    },
  );
});

Deno.test("ModulePlugin passes ctx calls to the host and their answers back", async () => {
  await withPlugin(
    `export default {
      name: "caller",
      async webhook(request, ctx) {
        const id = await ctx.inject("hello", { source: "skill" });
        await ctx.store.set(["a", 1], { n: 1 });
        await ctx.emit("custom", { x: 1 });
        let failed = "";
        try {
          await ctx.store.get("k");
        } catch (e) {
          failed = e.message;
        }
        return JSON.stringify({ id, failed, name: ctx.name, session: ctx.session });
      },
    };`,
    {},
    async (plugin, h) => {
      await plugin.start();
      assert.deepEqual(JSON.parse(await text(plugin)), {
        id: "id-1",
        failed: "store is closed",
        name: "plug",
        session: "unit",
      });
      assert.deepEqual(h.calls, [
        { plugin: "caller", method: "inject", args: ["hello", { source: "skill" }] },
        { plugin: "caller", method: "store.set", args: [["a", 1], { n: 1 }] },
        { plugin: "caller", method: "emit", args: ["custom", { x: 1 }] },
        { plugin: "caller", method: "store.get", args: [["k"]] },
      ]);
    },
  );
});

Deno.test("ModulePlugin.start() fails with the reason when the plugin cannot load", async () => {
  const cases: [string, string, RegExp][] = [
    ["syntax error", "export default {", /.+/],
    ["not an object", "export default 42;", /default export must be a plugin object/],
    ["no default export", "export const x = 1;", /default export must be a plugin object/],
    ["throws at load", "throw new Error('cannot start');", /cannot start/],
    ["missing import", "import './nope.ts'; export default {};", /nope\.ts/],
  ];
  for (const [what, source, reason] of cases) {
    await withPlugin(source, {}, async (plugin) => {
      const error = await plugin.start().then(() => null, (e) => e);
      assert.ok(error instanceof HookhostError, `${what}: ${error}`);
      assert.equal(error.code, "plugin_load_failed", what);
      assert.match(error.message, reason, what);
      assert.notEqual(plugin.state, "ready", what);
    });
  }
  await withPlugin(`export default { permissions: { net: "yes" } };`, {}, async (plugin) => {
    const error = await plugin.start().then(() => null, (e) => e);
    assert.ok(error instanceof HookhostError, String(error));
    assert.equal(error.code, "plugin_invalid");
    assert.match(error.message, /Permission 'net' must be true, false or a list of strings/);
  });
});

/** A folder plugin over `h`'s temp folder: its module is `h.file`, its root the folder. */
function folderPlugin(h: Harness): ModulePlugin {
  return new ModulePlugin({
    fileName: "folder",
    module: h.file,
    root: h.dir,
    session: "unit",
    timeoutMs: 5_000,
    log: getLogger(["test-plugins"]),
    onCall: () => Promise.resolve(undefined),
  });
}

Deno.test("ModulePlugin loads a folder plugin whose mod.ts imports files beside it", async () => {
  await withPlugin(
    `import { greet } from "./helper.ts"; export default { webhook: () => greet() };`,
    { files: { "helper.ts": `export const greet = () => "hello from helper";` } },
    async (plugin, h) => {
      // Simulate a folder plugin: the root is the folder, the module mod-like file inside it.
      const folder = folderPlugin(h);
      try {
        await folder.start();
        assert.equal(await text(folder), "hello from helper");
      } finally {
        await folder.stop();
      }
      // The same module with only its own file readable cannot reach the helper.
      await assert.rejects(plugin.start(), /helper\.ts|Requires read access/);
    },
  );
});

Deno.test("ModulePlugin refuses a folder plugin holding a symlink that leads outside its folder", async () => {
  await withPlugin(`export default { webhook: () => "x" };`, {}, async (_, h) => {
    const outside = await Deno.makeTempDir({ prefix: "hh-outside" });
    try {
      await Deno.writeTextFile(join(outside, "secret.txt"), "secret");
      await Deno.mkdir(join(h.dir, "sub"));
      await Deno.symlink(outside, join(h.dir, "sub", "up"));
      const folder = folderPlugin(h);
      try {
        await assert.rejects(folder.start(), /sub\/up', a symlink to outside it/);
      } finally {
        await folder.stop();
      }
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  });
});
