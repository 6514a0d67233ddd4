/**
 * Serving plugins over HTTP: a module plugin's `webhook()` behind the same limits as script
 * hooks, and the `[server]` router (`/hooks/<name>` for both kinds, `GET /healthz`).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import {
  compose,
  type InjectMeta,
  type Middleware,
  storeMessage,
  text,
  withoutHeader,
} from "../webhook/chain.ts";
import { REQUEST_ID_HEADER } from "../webhook/request_id.ts";
import { limitBody, type LimitBodyOptions } from "../webhook/body_limit.ts";
import { fromWireHeaders, toWireHeaders } from "./protocol.ts";
import type { HookRun } from "../webhook/script_hook.ts";
import { VERIFIED_HEADER } from "../webhook/env.ts";
import type { PluginManager } from "./manager.ts";
import { type ModulePlugin, PluginUnavailableError } from "./module_plugin.ts";

/** What serving a plugin needs from the host. */
export interface ServeOptions {
  /** Largest accepted body in bytes. */
  maxBody: number;
  /**
   * Takes a plugin's string answer as source `webhook`; resolves once it is durable in the inbox
   * or already written to the output (see `SessionRunner.deliver()`).
   */
  inject: (plugin: string, content: string, meta: InjectMeta) => Promise<unknown>;
  /**
   * The steps (verify, dedupe) of a plugin's route, from its `[plugins.NAME]` table: by its
   * file's name, never by the name it declares.
   */
  steps?: (fileName: string) => readonly Middleware[];
  /** Told about every request (for `hook_run` records and `hook_failed` events). */
  onRun?: (run: HookRun) => void;
  /** Where failures are logged. */
  log: Logger;
  /** Aborting stops waiting for slow bodies (shutdown). */
  signal?: AbortSignal;
  /** How bodies are read: the shared budget, the stall timeout. */
  body?: Omit<LimitBodyOptions, "signal">;
}

/** Each plugin's handler per set of options (one set per router), made at its first request. */
const handlers = new WeakMap<
  ServeOptions,
  WeakMap<ModulePlugin, (request: Request) => Promise<Response>>
>();

/** Methods `Deno.serve` accepts but a `Request` cannot be made with, so no plugin can get them. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * `headers` for the plugin: a client's `X-Hookhost-Verified` dropped, the host's added, and
 * `X-Request-Id` the request's id (a client's replaced when hookhost did not accept it).
 */
function pluginHeaders(headers: Headers, verified: string | undefined, requestId: string) {
  const own = headers.has(VERIFIED_HEADER) || headers.get(REQUEST_ID_HEADER) !== requestId;
  let wire = own
    ? toWireHeaders(
      new Headers([...headers].filter(([k]) => k !== VERIFIED_HEADER && k !== REQUEST_ID_HEADER)),
    )
    : toWireHeaders(headers);
  if (own) wire += `${REQUEST_ID_HEADER}\n${requestId}\n`;
  if (verified) wire += `${VERIFIED_HEADER}\n${verified}\n`;
  return wire;
}

/** Runs module plugin `plugin`'s `webhook()` for `request`. */
export function moduleWebhook(
  plugin: ModulePlugin,
  request: Request,
  options: ServeOptions,
): Promise<Response> {
  if (FORBIDDEN_METHODS.has(request.method)) {
    const response = text(405, `Method '${request.method}' is not allowed\n`);
    response.headers.set("allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    return Promise.resolve(response);
  }
  let byPlugin = handlers.get(options);
  if (!byPlugin) handlers.set(options, byPlugin = new WeakMap());
  let handle = byPlugin.get(plugin);
  if (!handle) byPlugin.set(plugin, handle = webhookHandler(plugin, options));
  return handle(request);
}

function webhookHandler(
  plugin: ModulePlugin,
  options: ServeOptions,
): (request: Request) => Promise<Response> {
  const steps = [
    limitBody(options.maxBody, { ...options.body, signal: options.signal }),
    ...options.steps?.(plugin.fileName) ?? [],
  ];
  return compose(steps, async (ctx) => {
    const started = performance.now();
    const answer = (status: number, response: Response) => {
      options.onRun?.({
        hook: plugin.name,
        status,
        exit_code: null,
        duration_ms: Math.round(performance.now() - started),
        request_id: ctx.requestId,
      });
      return response;
    };
    let result;
    try {
      result = await plugin.invoke({
        t: "webhook",
        method: ctx.request.method,
        url: ctx.request.url,
        headers: pluginHeaders(
          withoutHeader(ctx.request.headers, ctx.secretHeader),
          ctx.verified,
          ctx.requestId,
        ),
        body: ctx.body.length ? ctx.body as Uint8Array<ArrayBuffer> : null,
      });
    } catch (e) {
      if (e instanceof PluginUnavailableError && e.code === "plugin_timeout") {
        return answer(504, text(504, "Plugin timed out\n"));
      }
      if (e instanceof PluginUnavailableError) return answer(503, text(503, `${e.message}\n`));
      return answer(500, text(500, "Plugin failed\n"));
    }
    if (!result || result.kind === "none") return answer(204, text(204, null));
    if (result.kind === "response") {
      const body = result.status === 204 || result.status === 304 ? null : result.body;
      return answer(
        result.status,
        new Response(body, { status: result.status, headers: fromWireHeaders(result.headers) }),
      );
    }
    const stored = await storeMessage(result.text, {
      inject: (message, meta) => options.inject(plugin.name, message, meta),
      log: options.log,
      who: `plugin ${plugin.name}`,
      requestId: ctx.requestId,
      dedupe: ctx.dedupe,
    });
    return answer(stored.status, stored);
  });
}

/** Answers `request` with plugin `name` (script or module), or 404. */
export function servePlugin(
  manager: PluginManager,
  name: string,
  request: Request,
  options: ServeOptions,
): Promise<Response> {
  const entry = manager.get(name);
  if (entry?.script) return entry.script(request);
  if (entry?.module?.has("webhook")) return moduleWebhook(entry.module, request, options);
  const why = entry ? `Plugin '${name}' has no webhook` : `No plugin named '${name}'`;
  return Promise.resolve(text(404, `${why}\n`));
}

/** The `[server]` handler: `/hooks/<name>[/…]` and `GET /healthz`. */
export function pluginRouter(
  manager: PluginManager,
  options: ServeOptions & { session: string },
): (request: Request) => Promise<Response> {
  return (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/healthz") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return Promise.resolve(text(405, "Use GET\n"));
      }
      const plugins = manager.status();
      return Promise.resolve(Response.json({
        status: "ok",
        session: options.session,
        plugins: plugins.length,
        failed: plugins.filter((p) => p.state !== "ready").map((p) => p.name),
      }));
    }
    const m = /^\/hooks\/([^/]+)(?:\/.*)?$/.exec(path);
    if (!m) return Promise.resolve(text(404, "Not found: use /hooks/<name> or /healthz\n"));
    let name: string;
    try {
      name = decodeURIComponent(m[1]);
    } catch {
      return Promise.resolve(text(400, "Malformed URL: bad percent-encoding\n"));
    }
    return servePlugin(manager, name, request, options);
  };
}
