/**
 * `host:port` bind addresses: parsing and the "would these two bind the same socket" test.
 *
 * @module
 */

/** A parsed bind address. */
export interface BindAddress {
  /** Host as written. */
  host: string;
  /** Resolved IP literal (`localhost` becomes `127.0.0.1`). */
  ip: string;
  /** Port; 0 means any free port. */
  port: number;
  /** IP family. */
  family: 4 | 6;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpv6(host: string): boolean {
  // Good enough to tell a literal from a name; the OS has the last word when binding.
  return /^[0-9a-fA-F:.]+$/.test(host) && host.includes(":");
}

/**
 * Parses `host:port` (`[v6]:port` for IPv6). Throws a `TypeError` whose message says what is
 * wrong; hosts must be IP literals or `localhost`, so clashes can be told without DNS.
 */
export function parseBind(text: string): BindAddress {
  const m = /^(?:\[([^\]]*)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new TypeError(`Expected "host:port", got '${text}'`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) throw new TypeError(`Port '${m[3]}' is out of range 0..65535`);
  if (host === "") throw new TypeError(`Missing host in '${text}'`);
  if (host === "localhost") return { host, ip: "127.0.0.1", port, family: 4 };
  if (IPV4.test(host)) return { host, ip: host, port, family: 4 };
  if (m[1] !== undefined && isIpv6(host)) {
    return { host, ip: host.toLowerCase(), port, family: 6 };
  }
  throw new TypeError(`Host '${host}' is not an IP address or 'localhost'`);
}

/** Whether `a` is reachable only from this machine (`127.0.0.0/8`, `::1`). */
export function isLoopback(a: BindAddress): boolean {
  return a.ip.startsWith("127.") || a.ip === "::1";
}

function isWildcard(a: BindAddress): boolean {
  return a.ip === "0.0.0.0" || a.ip === "::";
}

/** Whether two addresses would bind the same socket (port 0 never clashes). */
export function bindsClash(a: BindAddress, b: BindAddress): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  if (a.ip === b.ip) return true;
  if (a.ip === "::" || b.ip === "::") return true;
  return a.family === b.family && (isWildcard(a) || isWildcard(b));
}

/** `host:port` with brackets around IPv6 hosts. */
export function formatAddr(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
