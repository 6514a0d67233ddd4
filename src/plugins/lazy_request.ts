/**
 * The `Request` a module plugin's `webhook()` receives, built when the plugin first looks at it.
 *
 * Building a `Request` in a Worker (its URL parsed against the Worker's location, every header
 * checked, the body wrapped) cost 4–6 µs of the Worker's CPU per request, more than everything
 * else the Worker did for it; a plugin that answers without reading its request (a trigger, a
 * health check) now pays none of it. A plugin that does read it gets the very `Request` it got
 * before, behind a forwarding proxy.
 *
 * @module
 */

const BUILD = Symbol("build");
const REAL = Symbol("request");
const INSPECT = Symbol.for("Deno.customInspect");

/** The proxy's target: an empty object whose prototype is `Request.prototype`. */
interface Target {
  [BUILD]: (() => Request) | undefined;
  [REAL]: Request | undefined;
}

/** The request behind `t`, built at the first call. */
function real(t: Target): Request {
  let request = t[REAL];
  if (!request) {
    // When building throws, every later look throws the same way: the plugin sees the error.
    request = t[REAL] = t[BUILD]!();
    t[BUILD] = undefined;
  }
  return request;
}

/**
 * `console.log()` and `Deno.inspect()` look through a proxy at its target (they do not use the
 * traps), so the target shows the real request instead of an empty one.
 */
function inspect(
  this: Target,
  show: (value: unknown, options: unknown) => string,
  options: unknown,
): string {
  return show(real(this), options);
}

// Every operation but those on the prototype and extensibility goes to the real request. Its
// own properties are configurable class fields, which keeps the proxy invariants.
const handler: ProxyHandler<Target> = {
  get: (t, key) => Reflect.get(real(t), key),
  set: (t, key, value) => Reflect.set(real(t), key, value),
  has: (t, key) => Reflect.has(real(t), key),
  deleteProperty: (t, key) => Reflect.deleteProperty(real(t), key),
  ownKeys: (t) => Reflect.ownKeys(real(t)),
  getOwnPropertyDescriptor: (t, key) => Reflect.getOwnPropertyDescriptor(real(t), key),
  defineProperty: (t, key, descriptor) => Reflect.defineProperty(real(t), key, descriptor),
};

/**
 * A `Request` that `build()` makes on first use: reading any property, calling any method
 * (which Deno's brand checks let through the proxy), `in`, `Object.keys()`, passing it to
 * `fetch()` or `new Request()`. Until then only an empty object exists. It is an `instanceof
 * Request`, its prototype is `Request.prototype`, and it prints as the real one.
 *
 * Freezing or sealing it throws a `TypeError` (the proxy invariants forbid it); nothing else
 * a `Request` allows is known to differ.
 */
export function lazyRequest(build: () => Request): Request {
  const target = Object.create(Request.prototype) as Target;
  target[BUILD] = build;
  target[REAL] = undefined;
  (target as unknown as Record<symbol, unknown>)[INSPECT] = inspect;
  return new Proxy(target, handler) as unknown as Request;
}
