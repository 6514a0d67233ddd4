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
/** Read through the proxy, gives its target (see `inspect()`). */
const TARGET = Symbol("target");
const INSPECT = Symbol.for("Deno.customInspect");

/** The proxy's target: `Request.prototype` as its prototype, and only this module's keys. */
interface Target {
  [BUILD]: (() => Request) | undefined;
  [REAL]: Request | undefined;
  [INSPECT]: typeof inspect;
  [TARGET]?: Target;
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
 * traps), so the target shows the real request instead of an empty one. With `showProxy` they
 * call this on the proxy itself.
 */
function inspect(
  this: Target,
  show: (value: unknown, options: unknown) => string,
  options: unknown,
): string {
  return show(real(this[TARGET] ?? this), options);
}

// Every operation but those on the prototype goes to the real request.
const handler: ProxyHandler<Target> = {
  get: (t, key) => key === TARGET ? t : Reflect.get(real(t), key),
  set: (t, key, value) => Reflect.set(real(t), key, value),
  has: (t, key) => Reflect.has(real(t), key),
  deleteProperty: (t, key) => Reflect.deleteProperty(real(t), key),
  ownKeys: (t) => Reflect.ownKeys(real(t)),
  getOwnPropertyDescriptor: (t, key) => Reflect.getOwnPropertyDescriptor(real(t), key),
  defineProperty: (t, key, descriptor) => {
    const request = real(t);
    if (!Reflect.defineProperty(request, key, descriptor)) return false;
    // The proxy may report a property as non-configurable only if its target has it so too.
    // (The request's own fields are configurable; a plugin's `defineProperty` defaults to not.)
    const now = Reflect.getOwnPropertyDescriptor(request, key)!;
    if (!now.configurable) Reflect.defineProperty(t, key, now);
    return true;
  },
  // A target that is not extensible would have to list its own keys among the request's: the
  // proxy refuses instead, so freezing, sealing or `preventExtensions` throw a `TypeError`.
  preventExtensions: () => false,
};

/**
 * A `Request` that `build()` makes on first use: reading any property, calling any method
 * (which Deno's brand checks let through the proxy), `in`, `Object.keys()`, passing it to
 * `fetch()` or `new Request()`. Until then only the proxy and its small target exist. It stays
 * a proxy (over the real request) for good: it is an `instanceof Request`, its prototype is
 * `Request.prototype`, and it prints as the real one.
 *
 * Known differences from a real `Request`: freezing, sealing or `Object.preventExtensions()`
 * throw a `TypeError`; a property set through an object that inherits from it lands on the
 * request rather than on that object; changing its prototype does not change what it answers.
 */
export function lazyRequest(build: () => Request): Request {
  const target = Object.create(Request.prototype) as Target;
  target[BUILD] = build;
  target[REAL] = undefined;
  target[INSPECT] = inspect;
  return new Proxy(target, handler) as unknown as Request;
}
