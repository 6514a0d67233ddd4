/**
 * HTTPS listeners (`tls_cert` / `tls_key`): certificates made by `openssl` in the test, requests
 * from a client that trusts only the certificate it expects, and a renewal while serving.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, envFor, script, tempDir } from "./_helpers.ts";
import { eventually } from "./_poll.ts";
import { InSession } from "./_session.ts";

/** A self-signed certificate for 127.0.0.1 in `dir/name.{crt,key}`; returns the certificate. */
async function makeCert(dir: string, name: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      // Not a CA: the client trusts this very certificate, which rustls refuses for a CA one.
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      join(dir, `${name}.key`),
      "-out",
      join(dir, `${name}.crt`),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return await Deno.readTextFile(join(dir, `${name}.crt`));
}

/** Status of a POST to `url` by a client trusting only `ca`, or the error's name. */
async function postTrusting(ca: string, url: string, body: string): Promise<number | string> {
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const res = await fetch(url, { method: "POST", body, client });
    await res.body?.cancel();
    return res.status;
  } catch (e) {
    return (e as Error).name;
  } finally {
    client.close();
  }
}

/** Replaces `dest` with `src` in one rename, as certificate renewers do. */
async function replace(src: string, dest: string): Promise<void> {
  await Deno.copyFile(src, dest + ".new");
  await Deno.rename(dest + ".new", dest);
}

Deno.test("tls: a hook serves HTTPS with its certificate, and a renewed one is served without a restart", async () => {
  const tmp = await tempDir();
  try {
    const a = await makeCert(tmp.path, "a");
    const b = await makeCert(tmp.path, "b");
    await Deno.copyFile(join(tmp.path, "a.crt"), join(tmp.path, "live.crt"));
    await Deno.copyFile(join(tmp.path, "a.key"), join(tmp.path, "live.key"));
    await script(tmp.path, "hook.sh", "cat");
    await config(
      tmp.path,
      `[[hooks]]\nname = "h"\nbind = "127.0.0.1:0"\nscript = "./hook.sh"\n` +
        `tls_cert = "live.crt"\ntls_key = "live.key"\n`,
    );
    const d = await InSession.open({ dir: tmp.path, name: "tls", hooks: ["h"], tlsCheckMs: 50 });
    try {
      const addr = await d.addr("h");
      const url = `https://${addr}/`;
      assert.equal(await postTrusting(a, url, "one"), 200);
      await d.waitFor((r) => r.type === "injected" && r.content === "one");
      assert.equal(await postTrusting(b, url, "x"), "TypeError", "b is not served yet");
      // Plain HTTP to an HTTPS port gets no answer of ours.
      const plain = await fetch(`http://${addr}/`, { method: "POST", body: "plain" }).then(
        async (r) => (await r.body?.cancel(), r.status),
        (e) => (e as Error).name,
      );
      assert.notEqual(plain, 200);

      // Renewal: the key first, then the certificate, each replaced in one rename.
      await replace(join(tmp.path, "b.key"), join(tmp.path, "live.key"));
      await replace(join(tmp.path, "b.crt"), join(tmp.path, "live.crt"));
      assert.ok(
        await eventually(async () => (await postTrusting(b, url, "two")) === 200),
        `the renewed certificate was never served; ${d.stderr}`,
      );
      assert.equal(await postTrusting(a, url, "x"), "TypeError", "the old one is gone");
      await d.waitFor((r) => r.type === "injected" && r.content === "two");

      // Files that cannot be used are logged; the loaded certificate stays.
      await Deno.writeTextFile(join(tmp.path, "live.crt"), "-----BEGIN CERTIFICATE-----\nnope\n");
      await eventually(() => d.stderr.includes("cannot be used"));
      assert.match(d.stderr, /New TLS files of '127\.0\.0\.1:\d+' cannot be used/);
      assert.equal(await postTrusting(b, url, "three"), 200);
      assert.equal(d.records.filter((r) => r.type === "injected").length, 3);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("tls: the plugin server serves HTTPS too", async () => {
  const tmp = await tempDir();
  try {
    const a = await makeCert(tmp.path, "a");
    const plugins = join(tmp.path, "plugins");
    await Deno.mkdir(plugins);
    await script(plugins, "echo.sh", "cat");
    await config(
      tmp.path,
      `[server]\nbind = "127.0.0.1:0"\ntls_cert = "a.crt"\ntls_key = "a.key"\n`,
    );
    const d = await InSession.open({ dir: tmp.path, name: "tls", pluginsDir: plugins });
    try {
      const url = `https://${await d.addr("server")}/hooks/echo`;
      assert.equal(await postTrusting(a, url, "hi"), 200);
    } finally {
      await d.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("tls: a certificate without its key, or a file that is not PEM, is a config error", async () => {
  const tmp = await tempDir();
  try {
    await makeCert(tmp.path, "a");
    await script(tmp.path, "hook.sh", "cat");
    await Deno.writeTextFile(join(tmp.path, "junk.pem"), "not a certificate\n");
    const cases = [
      ['tls_cert = "a.crt"', "hooks[0].tls_key", "go together"],
      ['tls_cert = "junk.pem"\ntls_key = "a.key"', "hooks[0].tls_cert", "is not a PEM file"],
      ['tls_cert = "a.crt"\ntls_key = "missing.key"', "hooks[0].tls_key", "Cannot read"],
    ] as const;
    for (const [keys, path, message] of cases) {
      await config(
        tmp.path,
        `[[hooks]]\nname = "h"\nbind = "127.0.0.1:0"\nscript = "./hook.sh"\n${keys}\n`,
      );
      const r = await cli(["config", "check"], { env: envFor(tmp.path) });
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(`${path}: `) && r.stderr.includes(message), r.stderr);
    }
  } finally {
    await tmp.cleanup();
  }
});
