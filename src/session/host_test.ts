import assert from "node:assert/strict";
import { validateConfig } from "../config/load.ts";
import { defaultMaxConnections, openListenerWarning } from "./host.ts";

const config = (toml: string) => {
  const r = validateConfig(toml, { file: null, dir: "/" });
  assert.ok(r.config, JSON.stringify(r.problems));
  return r.config;
};

Deno.test("openListenerWarning: a hook others can reach without verify is warned about, once per listener", () => {
  Deno.env.set("HOST_TEST_SECRET", "s");
  const c = config(`
[[hooks]]
name = "open"
bind = "0.0.0.0:9000"
script = "/bin/true"

[[hooks]]
name = "signed"
bind = "0.0.0.0:9001"
script = "/bin/true"
verify = "github"
secret_env = "HOST_TEST_SECRET"
`);
  assert.match(
    openListenerWarning(c, "open", "0.0.0.0:9000")!,
    /Hook 'open' listens on '0\.0\.0\.0:9000'.*without 'verify'/,
  );
  assert.equal(openListenerWarning(c, "signed", "0.0.0.0:9001"), undefined);
  assert.equal(openListenerWarning(c, "open", "[::]:9000")?.startsWith("Hook 'open'"), true);
  assert.match(openListenerWarning(c, "server", "192.168.1.5:9800")!, /Plugin server/);
  for (const loopback of ["127.0.0.1:9000", "127.3.2.1:1", "localhost:9000", "[::1]:9000"]) {
    assert.equal(openListenerWarning(c, "open", loopback), undefined, loopback);
    assert.equal(openListenerWarning(c, "server", loopback), undefined, loopback);
  }
});

Deno.test("defaultMaxConnections: four fifths of the fd limit, shared by the listeners", () => {
  const limits = (soft: number) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft}                 ${soft}                 files     \n`;
  assert.equal(defaultMaxConnections(1, limits(1024)), 819);
  assert.equal(defaultMaxConnections(4, limits(1024)), 204);
  assert.equal(defaultMaxConnections(100, limits(256)), 16, "never below 16");
  assert.equal(defaultMaxConnections(1, "garbage"), 1000);
});
