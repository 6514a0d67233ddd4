/**
 * End-to-end tests of webhook authentication (docs/security.md): signatures checked before
 * anything runs, delivery ids answered once, trigger rules, the config failing closed. Real
 * sessions (in-process, or `hookhost run` where a process is needed), real HTTP, real scripts;
 * every signature is computed here from the provider's recipe with node:crypto.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { cli, config, envFor, Proc, request, script, tempDir } from "./_helpers.ts";
import type { Rec } from "./_records.ts";
import { eventually, exists } from "./_poll.ts";
import { InSession } from "./_session.ts";

const GH_SECRET = "It's a Secret to Everybody";
const ghSig = (body: string, secret = GH_SECRET) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

const SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const mac = (key: string | Uint8Array, data: string, enc: "hex" | "base64" = "hex") =>
  createHmac("sha256", key).update(data).digest(enc);
const unixNow = () => String(Math.floor(Date.now() / 1000));

/** A script that notes each run in `runs.log` and prints its body. */
const RECORDING = 'echo run >> "$DIR/runs.log"; cat';

async function runs(dir: string): Promise<number> {
  try {
    return (await Deno.readTextFile(join(dir, "runs.log"))).split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

/**
 * A temp folder with `hook.sh` (recording), a `gh.secret` file and `hookhost.toml` made of
 * `toml`; `body` gets an in-process session serving hook `h`.
 */
async function withHook(
  toml: string,
  body: (ctx: { dir: string; d: InSession; url: string }) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", RECORDING.replaceAll("$DIR", tmp.path));
    await Deno.writeTextFile(join(tmp.path, "gh.secret"), GH_SECRET + "\n");
    await Deno.writeTextFile(join(tmp.path, "sw.secret"), SW_SECRET);
    await config(tmp.path, toml);
    const d = await InSession.open({ dir: tmp.path, name: "auth", hooks: ["h"] });
    try {
      await body({ dir: tmp.path, d, url: `http://${await d.addr("h")}/` });
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
}

const hook = (extra: string) =>
  `[[hooks]]\nname = "h"\nbind = "127.0.0.1:0"\nscript = "./hook.sh"\n${extra}\n`;

const GITHUB = hook('verify = "github"\nsecret_file = "gh.secret"');

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  request(url, { method: "POST", body, headers });

const hookRuns = (d: InSession) => d.records.filter((r: Rec) => r.type === "hook_run");
const injected = (d: InSession) => d.records.filter((r: Rec) => r.type === "injected");

Deno.test("verify github: a signed delivery runs; forged, unsigned or changed ones get 401 and run nothing", async () => {
  await withHook(GITHUB, async ({ dir, d, url }) => {
    const body = '{"ref":"refs/heads/main"}';
    const ok = await post(url, body, { "X-Hub-Signature-256": ghSig(body) });
    assert.equal(ok.status, 200, ok.text);
    await d.waitFor((r) => r.type === "injected" && r.content === body);

    const refused = [
      [{}, "missing header"],
      [{ "X-Hub-Signature-256": ghSig(body, "wrong secret") }, "signature mismatch"],
      [{ "X-Hub-Signature-256": ghSig(body).replace(/.$/, "0") }, "signature mismatch"],
      [{ "X-Hub-Signature-256": "sha256=zz" }, "signature mismatch"],
    ] as const;
    for (const [headers, reason] of refused) {
      const res = await post(url, body + " ", headers);
      assert.equal(res.status, 401, res.text);
      assert.equal(res.text, `Unauthorized: ${reason}\n`);
    }
    // The body changed by one byte after signing.
    const changed = await post(url, body.replace("main", "mein"), {
      "X-Hub-Signature-256": ghSig(body),
    });
    assert.equal(changed.status, 401);
    await d.waitForCount((r) => r.type === "hook_run" && r.status === 401, 5);
    assert.equal(await runs(dir), 1, "only the signed delivery ran the script");
    assert.equal(injected(d).length, 1);
    const reasons = hookRuns(d).filter((r) => r.status === 401).map((r) => r.reason);
    assert.deepEqual(reasons, [
      "missing header",
      "signature mismatch",
      "signature mismatch",
      "signature mismatch",
      "signature mismatch",
    ]);
    // What the right signature of a refused body is appears nowhere.
    const expected = ghSig(body + " ").slice(7);
    assert.ok(!JSON.stringify(d.records).includes(expected));
    assert.ok(!d.stderr.includes(expected));
  });
});

Deno.test("verify: a secret rotated in as a second file passes, and so does the old one", async () => {
  const toml = hook('verify = "github"\nsecret_file = ["gh.secret", "new.secret"]');
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", RECORDING.replaceAll("$DIR", tmp.path));
    await Deno.writeTextFile(join(tmp.path, "gh.secret"), GH_SECRET);
    await Deno.writeTextFile(join(tmp.path, "new.secret"), "the new one\n");
    await config(tmp.path, toml);
    const d = await InSession.open({ dir: tmp.path, name: "auth", hooks: ["h"] });
    try {
      const url = `http://${await d.addr("h")}/`;
      for (const secret of [GH_SECRET, "the new one"]) {
        const body = `{"with":"${secret}"}`;
        const res = await post(url, body, { "X-Hub-Signature-256": ghSig(body, secret) });
        assert.equal(res.status, 200, res.text);
      }
      const res = await post(url, "{}", { "X-Hub-Signature-256": ghSig("{}", "the new one\n") });
      assert.equal(res.status, 401, "the file's trailing newline is not part of the secret");
      assert.equal(await runs(tmp.path), 2);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("dedupe: a signed delivery sent 5 times gives one message and the first answer each time", async () => {
  await withHook(GITHUB, async ({ dir, d, url }) => {
    const body = '{"action":"push","n":1}';
    const headers = { "X-Hub-Signature-256": ghSig(body), "X-GitHub-Delivery": "d-1" };
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await post(url, body, headers));
    assert.deepEqual(answers.map((a) => [a.status, a.text]), Array(5).fill([200, "ok"]));
    assert.deepEqual(answers.map((a) => a.headers.get("x-hookhost-duplicate")), [
      null,
      "true",
      "true",
      "true",
      "true",
    ]);
    await d.waitForCount((r) => r.type === "hook_run" && r.duplicate === true, 4);
    assert.equal(await runs(dir), 1);
    // The same signed body under another delivery id is the same delivery: the id is unsigned.
    const again = await post(url, body, { ...headers, "X-GitHub-Delivery": "d-2" });
    assert.equal(again.headers.get("x-hookhost-duplicate"), "true");
    // A new delivery runs.
    const other = '{"action":"push","n":2}';
    const res = await post(url, other, {
      "X-Hub-Signature-256": ghSig(other),
      "X-GitHub-Delivery": "d-3",
    });
    assert.equal(res.headers.get("x-hookhost-duplicate"), null);
    await d.waitFor((r) => r.type === "injected" && r.content === other);
    assert.equal(await runs(dir), 2);
    assert.deepEqual(injected(d).map((r) => r.content), [body, other]);
  });
});

Deno.test("dedupe: a signed request sent again with unsigned headers changed is a duplicate; ids count only in their own header", async () => {
  const swKey = Uint8Array.from(atob(SW_SECRET.slice(6)), (c) => c.charCodeAt(0));
  const sw = (id: string, body: string, ts = unixNow()) => ({
    "webhook-id": id,
    "webhook-timestamp": ts,
    "webhook-signature": `v1,${mac(swKey, `${id}.${ts}.${body}`, "base64")}`,
  });
  const ts = unixNow();
  const cases: {
    name: string;
    toml: string;
    sends: { body: string; headers: Record<string, string>; duplicate: boolean }[];
  }[] = [
    {
      name: "standard-webhooks: only the signed webhook-id counts",
      toml: hook('verify = "standard-webhooks"\nsecret_file = "sw.secret"'),
      sends: [
        { body: "a", headers: sw("msg_1", "a"), duplicate: false },
        { body: "a", headers: { ...sw("msg_1", "a"), "X-GitHub-Delivery": "x" }, duplicate: true },
        // Another header's id in a new delivery marks nothing: msg_3 below still runs.
        {
          body: "b",
          headers: { ...sw("msg_2", "b"), "X-GitHub-Delivery": "gh" },
          duplicate: false,
        },
        {
          body: "c",
          headers: { ...sw("msg_3", "c"), "X-GitHub-Delivery": "gh" },
          duplicate: false,
        },
      ],
    },
    {
      name: "stripe: a replay within the tolerance",
      toml: hook('verify = "stripe"\nsecret_file = "gh.secret"'),
      sends: [
        {
          body: "s",
          headers: { "Stripe-Signature": `t=${ts},v1=${mac(GH_SECRET, `${ts}.s`)}` },
          duplicate: false,
        },
        {
          body: "s",
          headers: {
            "Stripe-Signature": `t=${ts},v1=${mac(GH_SECRET, `${ts}.s`)}`,
            "Idempotency-Key": "new",
          },
          duplicate: true,
        },
      ],
    },
    {
      name: "slack: a replay within the tolerance",
      toml: hook('verify = "slack"\nsecret_file = "gh.secret"'),
      sends: [0, 1].map((i) => ({
        body: "k",
        headers: {
          "X-Slack-Request-Timestamp": ts,
          "X-Slack-Signature": `v0=${mac(GH_SECRET, `v0:${ts}:k`)}`,
        },
        duplicate: i === 1,
      })),
    },
    {
      name: "hmac-sha256: one signed body is one delivery",
      toml: hook('verify = "hmac-sha256"\nsecret_file = "gh.secret"'),
      sends: [0, 1].map((i) => ({
        body: "h",
        headers: { "X-Signature": mac(GH_SECRET, "h"), "Idempotency-Key": `k${i}` },
        duplicate: i === 1,
      })),
    },
    {
      name: "github: an unmatched delivery replayed with X-GitHub-Event changed to match",
      toml: GITHUB + '\n[[hooks.match]]\nheader = "X-GitHub-Event"\nequals = "push"\n',
      sends: [
        {
          body: "i",
          headers: { "X-Hub-Signature-256": ghSig("i"), "X-GitHub-Event": "issues" },
          duplicate: false,
        },
        {
          body: "i",
          headers: {
            "X-Hub-Signature-256": ghSig("i"),
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "new",
          },
          duplicate: true,
        },
      ],
    },
    {
      name: "no verify: an id is recorded with its header's name",
      toml: hook(""),
      sends: [
        { body: "n", headers: { "Idempotency-Key": "same" }, duplicate: false },
        { body: "n", headers: { "X-GitHub-Delivery": "same" }, duplicate: false },
        { body: "n", headers: { "Idempotency-Key": "same" }, duplicate: true },
      ],
    },
  ];
  for (const c of cases) {
    await withHook(c.toml, async ({ dir, url }) => {
      const answers = [];
      for (const send of c.sends) answers.push(await post(url, send.body, send.headers));
      for (const a of answers) assert.ok(a.status < 300, `${c.name}: ${a.status} ${a.text}`);
      assert.deepEqual(
        answers.map((a) => a.headers.get("x-hookhost-duplicate") === "true"),
        c.sends.map((s) => s.duplicate),
        c.name,
      );
      const unmatched = c.name.startsWith("github") ? 1 : 0;
      assert.equal(await runs(dir), c.sends.filter((s) => !s.duplicate).length - unmatched, c.name);
    });
  }
});

Deno.test("dedupe: concurrent copies of one delivery run the script once", async () => {
  await withHook(hook('dedupe_header = "X-Delivery"'), async ({ dir, d, url }) => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => post(url, "same", { "X-Delivery": "one" })),
    );
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
    assert.equal(answers.filter((a) => a.headers.get("x-hookhost-duplicate")).length, 7);
    assert.equal(await runs(dir), 1);
    assert.equal(injected(d).length, 1);
  });
});

Deno.test("dedupe: a failed run is not remembered, so the provider's retry runs again", async () => {
  const tmp = await tempDir();
  try {
    // Fails the first time, succeeds the second.
    await script(
      tmp.path,
      "hook.sh",
      `echo run >> "${tmp.path}/runs.log"; [ "$(wc -l < "${tmp.path}/runs.log")" -gt 1 ] || exit 3; cat`,
    );
    await config(tmp.path, hook(""));
    const d = await InSession.open({ dir: tmp.path, name: "auth", hooks: ["h"] });
    try {
      const url = `http://${await d.addr("h")}/`;
      const headers = { "Idempotency-Key": "k1" };
      assert.equal((await post(url, "x", headers)).status, 500);
      assert.equal((await post(url, "x", headers)).status, 200);
      const third = await post(url, "x", headers);
      assert.equal(third.status, 200);
      assert.equal(third.headers.get("x-hookhost-duplicate"), "true");
      assert.equal(await runs(tmp.path), 2);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("dedupe: an async hook's repeated delivery answers the first job's id and stores no job", async () => {
  await withHook(hook('mode = "async"'), async ({ dir, d, url }) => {
    const first = await post(url, "job", { "webhook-id": "msg_1" });
    assert.equal(first.status, 202);
    const second = await post(url, "job", { "webhook-id": "msg_1" });
    assert.equal(second.status, 202);
    assert.equal(second.text, first.text);
    assert.equal(second.headers.get("x-hookhost-duplicate"), "true");
    await d.waitFor((r) => r.type === "injected" && r.content === "job");
    const third = await post(url, "other", { "webhook-id": "msg_2" });
    assert.equal(third.status, 202);
    await d.waitFor((r) => r.type === "injected" && r.content === "other");
    assert.equal(await runs(dir), 2);
  });
});

Deno.test("dedupe: dedupe_window = 0 turns it off", async () => {
  await withHook(hook("dedupe_window = 0"), async ({ dir, url }) => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await post(url, "x", { "Idempotency-Key": "same" })).status, 200);
    }
    assert.equal(await runs(dir), 3);
  });
});

Deno.test("dedupe: a delivery acknowledged before kill -9 is still a duplicate after the restart", async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", RECORDING.replaceAll("$DIR", tmp.path));
    await config(tmp.path, hook('verify = "github"\nsecret_env = "GH_SECRET"'));
    const env = envFor(tmp.path, { GH_SECRET });
    const args = ["run", "--name", "k9", "--daemon", "--format", "jsonl", "--hook", "h"];
    const body = '{"deploy":1}';
    const headers = { "X-Hub-Signature-256": ghSig(body), "X-GitHub-Delivery": "once" };
    const first = Proc.start(args, { env });
    try {
      const res = await post(`http://${await first.addr("h")}/`, body, headers);
      assert.equal(res.status, 200, res.text);
      await first.waitFor((r) => r.type === "injected" && r.content === body);
    } finally {
      await first.stop("SIGKILL");
    }
    const second = Proc.start(args, { env });
    try {
      const res = await post(`http://${await second.addr("h")}/`, body, headers);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-hookhost-duplicate"), "true");
      await second.waitFor((r) => r.type === "hook_run" && r.duplicate === true);
      assert.equal(await runs(tmp.path), 1);
      // No second message was made: whatever was printed is the one message (printed again
      // only if the kill came between its print and its ack).
      const printed = [...first.records, ...second.records].filter((r) => r.type === "injected");
      assert.equal(new Set(printed.map((r) => r.id)).size, 1);
    } finally {
      assert.equal(await second.stop(), 0, second.stderr);
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("match: header, query and JSON conditions decide whether the script runs", async () => {
  const toml = hook(`
[[hooks.match]]
header = "X-GitHub-Event"
equals = "push"

[[hooks.match]]
json = "/ref"
regex = "^refs/heads/(main|release)$"

[[hooks.match]]
query = "env"
one_of = ["prod", "staging"]
`);
  await withHook(toml, async ({ dir, d, url }) => {
    const push = { "X-GitHub-Event": "push" };
    const main = '{"ref":"refs/heads/main"}';
    assert.equal((await post(url + "?env=prod", main, push)).status, 200);
    const misses = [
      [url + "?env=prod", main, { "X-GitHub-Event": "issues" }],
      [url + "?env=prod", main, {}],
      [url + "?env=prod", '{"ref":"refs/heads/feature"}', push],
      [url + "?env=prod", '{"ref":1}', push],
      [url + "?env=prod", "not json", push],
      [url + "?env=dev", main, push],
      [url, main, push],
    ] as const;
    for (const [u, body, headers] of misses) {
      const res = await post(u, body, headers);
      assert.equal(res.status, 204, `${u} ${body} ${JSON.stringify(headers)}`);
    }
    await d.waitForCount((r) => r.type === "hook_run" && r.reason === "unmatched", misses.length);
    assert.equal(await runs(dir), 1);
  });
});

Deno.test("match: unmatched_status sets the answer; JSON values compare by type", async () => {
  const toml = hook(`unmatched_status = 202
[[hooks.match]]
json = "/count"
equals = 3
`);
  await withHook(toml, async ({ dir, url }) => {
    assert.equal((await post(url, '{"count":"3"}')).status, 202);
    assert.equal((await post(url, '{"count":3}')).status, 200);
    assert.equal(await runs(dir), 1);
  });
});

Deno.test("verify: a plugin route is checked by the host before the plugin runs", async () => {
  const tmp = await tempDir();
  try {
    const plugins = join(tmp.path, "plugins");
    await Deno.mkdir(plugins);
    await Deno.writeTextFile(
      join(plugins, "signed.ts"),
      `export default { name: "signed", webhook: (req) => req.text().then((t) => "got " + t) };\n`,
    );
    await Deno.writeTextFile(join(tmp.path, "gh.secret"), GH_SECRET);
    await config(
      tmp.path,
      `[server]\nbind = "127.0.0.1:0"\n\n[plugins.signed]\nverify = "github"\nsecret_file = "gh.secret"\n`,
    );
    const d = await InSession.open({ dir: tmp.path, name: "auth", pluginsDir: plugins });
    try {
      const url = `http://${await d.addr("server")}/hooks/signed`;
      const unsigned = await post(url, "hi");
      assert.equal(unsigned.status, 401);
      const signed = await post(url, "hi", { "X-Hub-Signature-256": ghSig("hi") });
      assert.equal(signed.status, 200, signed.text);
      await d.waitFor((r) => r.type === "injected" && r.content === "got hi");
      assert.equal(injected(d).length, 1);
      const run = await d.waitFor((r) => r.type === "hook_run" && r.status === 401);
      assert.equal(run.reason, "missing header");
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("fail closed: a missing, empty or unreadable secret is a config error naming the key (exit 2)", async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", "cat");
    await Deno.writeTextFile(join(tmp.path, "empty.secret"), "\n");
    const cases = [
      ['verify = "github"\nsecret_env = "HH_UNSET_SECRET"', "hooks[0].secret_env", "is not set"],
      ['verify = "github"\nsecret_env = "HH_EMPTY"', "hooks[0].secret_env", "is empty"],
      ['verify = "github"\nsecret_file = "empty.secret"', "hooks[0].secret_file", "is empty"],
      ['verify = "github"\nsecret_file = "nope.secret"', "hooks[0].secret_file", "Cannot read"],
      ['verify = "github"', "hooks[0].verify", "needs 'secret_env' or 'secret_file'"],
      ['secret_env = "HH_EMPTY"', "hooks[0].secret_env", "needs 'verify'"],
      ['verify = "md5"\nsecret_file = "empty.secret"', "hooks[0].verify", "ust be one of"],
      ['verify = "github"\nsecret_env = "X"\ntolerance = 60', "hooks[0].tolerance", "signs no"],
      [
        'verify = "standard-webhooks"\nsecret_env = "HH_NOT_WHSEC"',
        "hooks[0].secret_env",
        "not a Standard Webhooks secret",
      ],
    ] as const;
    const env = envFor(tmp.path, { HH_EMPTY: "", HH_NOT_WHSEC: "whsec_***", X: "x" });
    for (const [keys, path, message] of cases) {
      await config(tmp.path, hook(keys));
      const check = await cli(["config", "check"], { env });
      assert.equal(check.code, 2, `${keys}\n${check.stderr}`);
      assert.match(
        check.stderr,
        new RegExp(`hookhost\\.toml:\\d+:\\d+: ${path.replace(/[[\]]/g, "\\$&")}: `),
      );
      assert.ok(check.stderr.includes(message), `${keys}: ${check.stderr}`);
      // The secret's value is never printed.
      assert.ok(!check.stderr.includes("***"), check.stderr);
    }
    // A plugin hook is guarded by its plugin's table: keys that would not apply are refused.
    await config(
      tmp.path,
      `[[hooks]]\nname = "p"\nbind = "127.0.0.1:0"\nplugin = "x"\nverify = "github"\nsecret_env = "X"\n`,
    );
    const plugin = await cli(["config", "check"], { env });
    assert.equal(plugin.code, 2, plugin.stderr);
    assert.match(plugin.stderr, /hooks\[0\]\.verify: Set 'verify' in \[plugins\.x\]/);
    await config(tmp.path, hook('verify = "github"\nsecret_env = "HH_EMPTY"'));
    const run = await cli(["run", "--name", "x", "--hook", "h"], { env });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /secret_env: Secret in 'HH_EMPTY' is empty/);
    assert.ok(!(await exists(join(tmp.path, "state", "hookhost.kv"))), "nothing was started");
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("environment: secrets (hooks.json's too), the KV token and HOOKHOST_* reach no script, handler or event command; env allowlists, env_set adds", async () => {
  const tmp = await tempDir();
  try {
    const dump = (name: string) => `env | sort > "${tmp.path}/${name}.env"; cat > /dev/null`;
    await script(tmp.path, "open.sh", `${dump("open")}; echo open`);
    await script(tmp.path, "listed.sh", `${dump("listed")}; echo listed`);
    await script(tmp.path, "handler.sh", dump("handler"));
    await Deno.writeTextFile(
      join(tmp.path, "hooks.json"),
      JSON.stringify({
        message_received: [{ hooks: [{ type: "command", command: dump("event") }] }],
        never_fired: [{
          hooks: [{ type: "http", url: "http://127.0.0.1:9/", secret_env: "SIGN_SECRET" }],
        }],
      }),
    );
    await config(
      tmp.path,
      `[session]
handler = "./handler.sh"
env_set = { FROM_SESSION = "s" }

[events]
env = ["PATH", "KEEP"]

[[hooks]]
name = "open"
bind = "127.0.0.1:0"
script = "./open.sh"
verify = "github"
secret_env = "GH_SECRET"

[[hooks]]
name = "listed"
bind = "127.0.0.1:0"
script = "./listed.sh"
verify = "gitlab"
secret_env = ["GL_OLD", "GL_NEW"]
env = ["PATH", "KEEP", "GH_SECRET", "HOOKHOST_EXTRA"]
env_set = { EXTRA = "x y" }
`,
    );
    const env = envFor(tmp.path, {
      GH_SECRET,
      SIGN_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      GL_OLD: "old-token",
      GL_NEW: "new-token",
      DENO_KV_ACCESS_TOKEN: "kv-token",
      HOOKHOST_EXTRA: "extra",
      HOOKHOST_EVENTS: join(tmp.path, "hooks.json"),
      KEEP: "kept",
      OTHER: "other",
    });
    const d = Proc.start(
      [
        "run",
        "--name",
        "envs",
        "--daemon",
        "--format",
        "jsonl",
        "--hook",
        "open",
        "--hook",
        "listed",
      ],
      { env },
    );
    try {
      const a = await post(`http://${await d.addr("open")}/`, "{}", {
        "X-Hub-Signature-256": ghSig("{}"),
        "X-Hookhost-Verified": "forged",
      });
      assert.equal(a.status, 200, a.text);
      const b = await post(`http://${await d.addr("listed")}/`, "{}", {
        "X-Gitlab-Token": "new-token",
      });
      assert.equal(b.status, 200, b.text);
      for (const f of ["open", "listed", "handler", "event"]) {
        const ok = await eventually(() => exists(join(tmp.path, `${f}.env`)));
        assert.ok(ok, `${f}.env was never written; ${d.stderr}`);
      }
    } finally {
      assert.equal(await d.stop(), 0, d.stderr);
    }
    const read = async (f: string) =>
      Object.fromEntries(
        (await Deno.readTextFile(join(tmp.path, `${f}.env`))).split("\n").filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
    const secrets = [
      "GH_SECRET",
      "GL_OLD",
      "GL_NEW",
      "SIGN_SECRET",
      "DENO_KV_ACCESS_TOKEN",
      "HOOKHOST_STATE",
    ];
    for (const f of ["open", "listed", "handler", "event"]) {
      const vars = await read(f);
      for (const s of secrets) assert.ok(!(s in vars), `${f} saw ${s}`);
      const text = JSON.stringify(vars);
      for (const value of [GH_SECRET, "old-token", "new-token", "kv-token", "MfKQ9r8GKYqr"]) {
        assert.ok(!text.includes(value), `${f} saw a secret's value`);
      }
    }
    const open = await read("open");
    assert.equal(open.KEEP, "kept");
    assert.equal(open.OTHER, "other");
    assert.ok(!("HOOKHOST_EXTRA" in open));
    assert.equal(open.HOOK_VERIFIED, "github");
    assert.ok(!("HOOK_HEADER_X_HOOKHOST_VERIFIED" in open), "a client's X-Hookhost-Verified");
    const listed = await read("listed");
    assert.equal(listed.KEEP, "kept");
    assert.equal(listed.EXTRA, "x y");
    assert.equal(listed.HOOKHOST_EXTRA, "extra", "a HOOKHOST_ variable allowed by name passes");
    assert.ok(!("OTHER" in listed), "not in the allowlist");
    assert.equal(listed.HOOK_VERIFIED, "gitlab");
    const handler = await read("handler");
    assert.equal(handler.FROM_SESSION, "s");
    assert.equal(handler.OTHER, "other");
    assert.equal(handler.HOOKHOST_SESSION, "envs", "hookhost's own variables for the handler stay");
    const event = await read("event");
    assert.deepEqual(Object.keys(event).filter((k) => !["PWD", "SHLVL", "_"].includes(k)).sort(), [
      "KEEP",
      "PATH",
    ]);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("shipped examples: process-github-push.sh and the github-push plugin work only behind verify", async () => {
  const tmp = await tempDir();
  try {
    const repo = new URL("..", import.meta.url).pathname;
    const plugins = join(tmp.path, "plugins");
    await Deno.mkdir(plugins);
    await Deno.copyFile(join(repo, "plugins/github-push.ts"), join(plugins, "github-push.ts"));
    // The plugin imports its types from the repo: point the copy there.
    const src = await Deno.readTextFile(join(plugins, "github-push.ts"));
    await Deno.writeTextFile(
      join(plugins, "github-push.ts"),
      src.replace("../src/plugins/types.ts", join(repo, "src/plugins/types.ts")),
    );
    const sh = join(repo, "scripts/hooks/process-github-push.sh");
    await Deno.writeTextFile(join(tmp.path, "gh.secret"), GH_SECRET);
    await config(
      tmp.path,
      `[server]\nbind = "127.0.0.1:0"\n\n` +
        `[[hooks]]\nname = "signed"\nbind = "127.0.0.1:0"\nscript = "${sh}"\n` +
        `verify = "github"\nsecret_file = "gh.secret"\n\n` +
        `[[hooks]]\nname = "open"\nbind = "127.0.0.1:0"\nscript = "${sh}"\n`,
    );
    const d = await InSession.open({
      dir: tmp.path,
      name: "ex",
      hooks: ["signed", "open"],
      pluginsDir: plugins,
    });
    try {
      const push = JSON.stringify({
        ref: "refs/heads/main",
        repository: { full_name: "octo/repo" },
        pusher: { name: "alice" },
        commits: [{ id: "1" }],
      });
      const headers = { "X-GitHub-Event": "push", "X-Hub-Signature-256": ghSig(push) };
      const signed = await post(`http://${await d.addr("signed")}/`, push, headers);
      assert.equal(signed.status, 200, signed.text);
      await d.waitFor((r) =>
        r.type === "injected" && r.content === "New push to octo/repo (main) by alice: 1 commit(s)."
      );
      const open = await post(`http://${await d.addr("open")}/`, push, headers);
      assert.equal(open.status, 500, "the script refuses to run unverified");
      const plugin = await post(
        `http://${await d.addr("server")}/hooks/github-push`,
        push,
        headers,
      );
      assert.equal(plugin.status, 401, "the plugin refuses without [plugins.github-push] verify");
      assert.equal(injected(d).length, 1);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});
