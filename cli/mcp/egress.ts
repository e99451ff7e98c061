// The one way the MCP server reaches out (a drift webhook, now or later): SSRF-filtered egress (invariant 7).
// A tool caller can choose a URL, so a URL is never trusted: the host is resolved here, every address it
// resolves to must be a public one, the connection goes to the address that was checked (no second lookup
// for DNS rebinding to race), and each redirect hop is checked the same way. No credentials ride along:
// the inbound bearer token must never be passed through, so an Authorization header is refused outright.
// Errors name the URL's origin only: a webhook URL often carries its secret in the path.
import * as dns from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { parseCidr } from "../../components/model/ranges";

export class EgressRefused extends Error {
  override name = "EgressRefused";
}

interface Range {
  family: 4 | 6;
  net: bigint;
  prefix: number;
  why: string;
}

function v4ToBigInt(a: string): bigint {
  return a.split(".").reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

/** An IPv6 address (any valid textual form: compressed, expanded, upper case, dotted tail) as a number. */
export function v6ToBigInt(address: string): bigint {
  let s = address.split("%")[0]!.toLowerCase();
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const v4 = Number(v4ToBigInt(dotted[2]!));
    s = `${dotted[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const words = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return words.reduce((acc, w) => (acc << 16n) | BigInt(parseInt(w, 16)), 0n);
}

const v4Of = (n: bigint) => [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 255n)).join(".");

function table(family: 4 | 6, rows: [string, string][]): Range[] {
  return rows.map(([cidr, why]) => {
    const c = parseCidr(cidr);
    if (!c || c.family !== family) throw new Error(`egress: bad range ${cidr}`); // a typo here, caught at load
    return { family, net: family === 4 ? v4ToBigInt(c.address) : v6ToBigInt(c.address), prefix: c.prefix, why };
  });
}

// First match gives the reason, so the narrow ones (metadata) come before the ranges that hold them.
const REFUSED_V4 = table(4, [
  ["169.254.169.254/32", "the cloud metadata service"],
  ["0.0.0.0/8", "unspecified (this network)"],
  ["10.0.0.0/8", "private (RFC 1918)"],
  ["100.64.0.0/10", "shared address space (CGNAT, the tailnet)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private (RFC 1918)"],
  ["192.0.0.0/24", "IETF protocol assignments"],
  ["192.0.2.0/24", "documentation (TEST-NET-1)"],
  ["192.88.99.0/24", "the 6to4 relay anycast"],
  ["192.168.0.0/16", "private (RFC 1918)"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation (TEST-NET-2)"],
  ["203.0.113.0/24", "documentation (TEST-NET-3)"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]);

const REFUSED_V6 = table(6, [
  ["fd00:ec2::254/128", "the cloud metadata service"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  // Every mapped form, not only mapped private ones: a socket sends it over IPv4, and no webhook needs it.
  ["::ffff:0:0/96", "IPv4-mapped IPv6: write the IPv4 address"],
  ["::/96", "IPv4-compatible IPv6 (deprecated)"],
  ["::ffff:0:0:0/96", "IPv4-translated IPv6"],
  ["64:ff9b:1::/48", "local-use NAT64"],
  ["100::/64", "discard-only"],
  ["2001::/23", "IETF protocol assignments (Teredo and others)"],
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["fc00::/7", "unique-local (private)"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local (deprecated)"],
  ["ff00::/8", "multicast"],
]);

const inRange = (n: bigint, r: Range) => {
  const shift = BigInt((r.family === 4 ? 32 : 128) - r.prefix);
  return n >> shift === r.net >> shift;
};
const MAPPED = table(6, [["::ffff:0:0/96", "IPv4-mapped"]])[0]!;
const NAT64 = table(6, [["64:ff9b::/96", "NAT64"]])[0]!;
const SIX_TO_FOUR = table(6, [["2002::/16", "6to4"]])[0]!;
const GLOBAL_UNICAST = table(6, [["2000::/3", "global unicast"]])[0]!;

/** Why egress to this address is refused, or undefined for a public address. Not an IP literal: refused. */
export function refusedAddress(address: string): string | undefined {
  const family = isIP(address.split("%")[0]!);
  if (family === 4) {
    const n = v4ToBigInt(address);
    return REFUSED_V4.find((r) => inRange(n, r))?.why;
  }
  if (family !== 6) return "not an IP address";
  const n = v6ToBigInt(address);
  // NAT64 and 6to4 carry an IPv4 address a gateway will reach: judge that address (DNS64 networks need NAT64).
  const embedded = inRange(n, NAT64) ? n & 0xffffffffn : inRange(n, SIX_TO_FOUR) ? (n >> 80n) & 0xffffffffn : undefined;
  if (embedded !== undefined) {
    const why = refusedAddress(v4Of(embedded));
    return why && `${inRange(n, NAT64) ? "NAT64" : "6to4"} of ${v4Of(embedded)}, ${why}`;
  }
  const hit = REFUSED_V6.find((r) => inRange(n, r));
  if (hit && inRange(n, MAPPED)) return `IPv4-mapped IPv6 of ${v4Of(n & 0xffffffffn)}, ${refusedAddress(v4Of(n & 0xffffffffn)) ?? "refused in every form: write the IPv4 address"}`;
  if (hit) return hit.why;
  return inRange(n, GLOBAL_UNICAST) ? undefined : "not global unicast (outside 2000::/3)";
}

export interface Address {
  address: string;
  family: 4 | 6;
}
export type Resolver = (host: string) => Promise<Address[]>;

const systemResolve: Resolver = async (host) =>
  (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/**
 * Test seams, deliberately a separate argument that no config, flag or env var reaches: the test servers
 * live on loopback, which the policy refuses. `allowForTests` lets exact loopback `address:port` pairs
 * through (nothing wider: not a range, not a private or metadata address); `resolve` replaces DNS.
 */
export interface EgressTestHooks {
  allowForTests?: readonly string[];
  resolve?: Resolver;
}

/** The address to connect to for this URL: checked scheme, no credentials, every resolved address allowed. */
export async function checkTarget(url: URL, hooks: EgressTestHooks = {}): Promise<Address> {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new EgressRefused(`egress refused: scheme ${url.protocol} (only http and https)`);
  if (url.username !== "" || url.password !== "") throw new EgressRefused(`egress refused: ${url.origin}: credentials in the URL`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // the WHATWG parser has already normalised 0177.0.0.1, 2130706433, …
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const literal = isIP(host);
  let addresses: Address[];
  if (literal !== 0) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (hooks.resolve ?? systemResolve)(host);
    } catch (err) {
      throw new EgressRefused(`egress refused: ${url.origin}: ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    }
  }
  if (addresses.length === 0) throw new EgressRefused(`egress refused: ${url.origin}: ${host} resolves to no address`);
  for (const a of addresses) {
    if (allowedForTests(hooks, a.address, port)) continue;
    // Any refused answer refuses the name: a name that also resolves inside is not a public endpoint.
    const why = refusedAddress(a.address);
    const shown = literal !== 0 ? a.address : `${host} resolves to ${a.address}, which`;
    if (why) throw new EgressRefused(`egress refused: ${url.origin}: ${shown} is ${why}`);
  }
  return addresses[0]!;
}

function allowedForTests(hooks: EgressTestHooks, address: string, port: number): boolean {
  const key = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  if (!(hooks.allowForTests ?? []).includes(key)) return false;
  // Even the seam cannot open anything but loopback.
  if (!/^loopback/.test(refusedAddress(address) ?? "")) throw new Error(`allowForTests takes loopback address:port pairs only: ${key}`);
  return true;
}

export interface EgressInit {
  /** Default GET. */
  method?: string;
  /** Authorization, Proxy-Authorization and Cookie are refused: no credential is passed through. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The whole exchange, redirects included. Default 10 000 ms. */
  timeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  /** A larger response is an error. Default 1 MiB. */
  maxBodyBytes?: number;
}

const FORBIDDEN_HEADERS = ["authorization", "proxy-authorization", "cookie"];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/** Always hands back the checked address: the socket connects to what was judged, whatever DNS says now. */
function pinned(a: Address): LookupFunction {
  return (_host, options, callback) => {
    if (options.all) callback(null, [{ address: a.address, family: a.family }]);
    else callback(null, a.address, a.family);
  };
}

interface Raw {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One hop: `leftMs` is what remains of the whole request's `limitMs`, which errors name (what the caller set). */
function send(url: URL, to: Address, method: string, headers: Record<string, string>, body: string | Uint8Array | undefined, limit: { leftMs: number; limitMs: number }, max: number): Promise<Raw> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const opts: https.RequestOptions = {
    hostname: host, // for the Host header and the certificate check; the socket goes to `to` via `lookup`
    port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
    method,
    headers: { "user-agent": "demesne-egress", ...headers },
    agent: false, // no pooled socket from an earlier, differently checked hop
    lookup: pinned(to),
  };
  const mod = url.protocol === "https:" ? https : http;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<Raw>((resolve, reject) => {
    // A deadline for the whole exchange: the socket `timeout` option only measures idle time.
    timer = setTimeout(() => {
      reject(new EgressRefused(`egress: ${url.origin}: no answer within ${limit.limitMs} ms`));
      req.destroy();
    }, limit.leftMs);
    const req = mod.request(opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        // Reject first: once the response has begun, destroying the request does not reach req's error listener.
        if (size > max) {
          reject(new EgressRefused(`egress: ${url.origin}: response larger than ${max} bytes`));
          req.destroy();
        } else chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  }).finally(() => clearTimeout(timer));
}

/**
 * fetch, for the MCP server's outbound requests: only here, so the SSRF rules hold for every one of them.
 * Redirects are followed by hand (each hop checked; https → http refused). Throws EgressRefused for a
 * refused target; the response body is read whole (up to `maxBodyBytes`).
 */
export async function egressFetch(url: string | URL, init: EgressInit = {}, hooks: EgressTestHooks = {}): Promise<Response> {
  const headers = { ...(init.headers ?? {}) };
  const forbidden = Object.keys(headers).filter((k) => FORBIDDEN_HEADERS.includes(k.toLowerCase()));
  if (forbidden.length > 0) throw new EgressRefused(`egress refused: a ${forbidden.join(", ")} header: no credential is passed through to an outbound request`);
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new EgressRefused("egress refused: not a URL");
  }
  let method = (init.method ?? "GET").toUpperCase();
  // The methods a webhook uses; CONNECT would open a tunnel through the checked host, TRACE echoes headers back.
  if (!METHODS.includes(method)) throw new EgressRefused(`egress refused: method ${method.slice(0, 16)} (one of ${METHODS.join(", ")})`);
  let body = init.body;
  const limitMs = init.timeoutMs ?? 10_000;
  const deadline = Date.now() + limitMs;
  const maxRedirects = init.maxRedirects ?? 5;
  for (let hop = 0; ; hop++) {
    const to = await checkTarget(current, hooks);
    const res = await send(current, to, method, headers, body, { leftMs: Math.max(1, deadline - Date.now()), limitMs }, init.maxBodyBytes ?? 1024 * 1024);
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(res.status) && location !== undefined) {
      if (hop >= maxRedirects) throw new EgressRefused(`egress refused: ${current.origin}: more than ${maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new EgressRefused(`egress refused: ${current.origin}: a redirect to something that is not a URL`);
      }
      if (current.protocol === "https:" && next.protocol === "http:") throw new EgressRefused(`egress refused: ${current.origin}: a redirect from https to http`);
      // As fetch does: 303, and 301/302 after a POST, become a GET without a body.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
        for (const k of Object.keys(headers)) if (/^content-/i.test(k)) delete headers[k];
      }
      current = next;
      continue;
    }
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) out.append(k, one);
    const empty = [204, 205, 304].includes(res.status) || method === "HEAD";
    return new Response(empty ? null : res.body, { status: res.status, statusText: res.statusText, headers: out });
  }
}
