// The opt-in Streamable HTTP transport for `demesne mcp` (invariant 7: stdio by default; HTTP only with a
// bearer token, on loopback unless the operator opts in, Host and Origin checked). Every refusal to start
// is a UsageError naming the flag that fixes it; the token never appears in a log line or an error.
//
// Stateless mode (a new McpServer and transport per POST, no session id): nothing lives between requests, so
// there is no session to hijack or to pile up in memory, and every request carries and proves the token.
// The cost is no server-initiated stream (GET is 405), which the tools here, request/response reads, do not need.
import { createHash, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { isIP, type AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { esc } from "../escape";
import { UsageError } from "../exit";

export const DEFAULT_PORT = 8765;
export const DEFAULT_LISTEN = "127.0.0.1";
/** The secret env var the CLI reads the token from when no --token-file is given. */
export const TOKEN_ENV = "DEMESNE_MCP_TOKEN";
/** 32 characters: a random token of that length (e.g. `openssl rand -hex 32` gives 64) cannot be guessed online. */
export const MIN_TOKEN_LENGTH = 32;
/** JSON-RPC requests are small; a cap stops a client from making the server buffer without end. */
export const MAX_BODY_BYTES = 1024 * 1024;
const PATH = "/mcp";

export interface HttpOptions {
  /** The address to listen on, an IP literal. Default 127.0.0.1. Not loopback only with `allowNonLoopback`. */
  listen?: string;
  /** The TCP port; 0 picks a free one (the returned url says which). Default 8765. */
  port?: number;
  /** Required to listen on a non-loopback address (--allow-non-loopback). Default false. */
  allowNonLoopback?: boolean;
  /** A file holding the bearer token; it must not be readable by group or others (--token-file). */
  tokenFile?: string;
  /** The bearer token itself; the CLI passes $DEMESNE_MCP_TOKEN here. Give this or `tokenFile`, not both. */
  token?: string;
  /** Browser origins allowed to call (--allowed-origin). Default none: a request with any Origin is refused. */
  allowedOrigins?: string[];
  /** Where one line per refused request goes (never a header value). Default: nowhere. The caller prints the url. */
  log?: (line: string) => void;
}

export interface HttpHandle {
  /** The endpoint, e.g. http://127.0.0.1:8765/mcp. */
  url: string;
  close(): Promise<void>;
}

const isLoopback = (address: string) => (isIP(address) === 4 ? address.startsWith("127.") : address === "::1");
const bracket = (address: string) => (isIP(address) === 6 ? `[${address}]` : address);
const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/** The token from the file or the value; every problem with it, never the token itself. */
export function readToken(opts: Pick<HttpOptions, "token" | "tokenFile">, problems: string[]): string | undefined {
  if (opts.token !== undefined && opts.tokenFile !== undefined) {
    problems.push(`give the token once: --token-file or ${TOKEN_ENV}, not both`);
    return undefined;
  }
  let token = opts.token;
  if (opts.tokenFile !== undefined) {
    const file = esc(opts.tokenFile); // for messages: a path is input, shown escaped
    let fd: number;
    try {
      // One descriptor for the check and the read (no swap in between); O_NONBLOCK so a FIFO cannot hang us.
      fd = fs.openSync(opts.tokenFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (err) {
      problems.push(`--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      return undefined;
    }
    try {
      const st = fs.fstatSync(fd);
      // Another user who can read the file can call every tool: the same rule as ssh's private keys.
      if (!st.isFile()) problems.push(`--token-file ${file}: not a regular file`);
      else if ((st.mode & 0o077) !== 0) {
        problems.push(`--token-file ${file}: mode ${(st.mode & 0o777).toString(8).padStart(4, "0")} lets group or others read it: chmod 600 ${file}`);
      } else token = fs.readFileSync(fd, "utf8").replace(/\r?\n$/, "");
    } finally {
      fs.closeSync(fd);
    }
    if (token === undefined) return undefined;
  }
  const from = opts.tokenFile !== undefined ? `--token-file ${esc(opts.tokenFile)}` : TOKEN_ENV;
  if (token === undefined || token === "") {
    problems.push(`the HTTP transport needs a bearer token: --token-file <path> (mode 0600) or ${TOKEN_ENV}`);
    return undefined;
  }
  // Printable ASCII only: anything else cannot travel in an Authorization header, so no client could send it.
  if (!/^[\x21-\x7e]+$/.test(token)) problems.push(`${from}: the token may hold only printable ASCII without spaces`);
  if (token.length < MIN_TOKEN_LENGTH) problems.push(`${from}: the token is shorter than ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
  return token;
}

interface Checked {
  listen: string;
  port: number;
  tokenDigest: Buffer;
  origins: Set<string>;
}

/** Every problem with the options, in one UsageError (each line names the flag that fixes it). */
export function checkHttpOptions(opts: HttpOptions): Checked {
  const problems: string[] = [];
  const listen = opts.listen ?? DEFAULT_LISTEN;
  const port = opts.port ?? DEFAULT_PORT;
  const shown = esc(listen.slice(0, 64));
  if (isIP(listen) === 0) problems.push(`--listen ${shown}: expected one IP address (e.g. 127.0.0.1, or a tailnet address)`);
  else if (listen === "0.0.0.0" || listen === "::") {
    // A wildcard bind has no single Host a client must name, so the DNS-rebinding check could not work.
    problems.push(`--listen ${shown}: listens on every interface; name the one address clients connect to`);
  } else if (!isLoopback(listen) && opts.allowNonLoopback !== true) {
    problems.push(`--listen ${shown} is not loopback: pass --allow-non-loopback as well to expose the MCP server beyond this host`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`--port ${esc(String(port))}: expected 0–65535`);
  const origins = new Set<string>();
  for (const o of opts.allowedOrigins ?? []) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    // Exact origins only (scheme://host[:port]): the header is compared as a string, so a path would never match.
    if (origin === undefined || origin === "null" || origin !== o) problems.push(`--allowed-origin ${esc(o.slice(0, 128))}: expected an origin such as https://app.example.com (no path)`);
    else origins.add(origin);
  }
  const token = readToken(opts, problems);
  if (problems.length > 0 || token === undefined) {
    throw new UsageError(`demesne mcp --transport http refused:\n  - ${problems.join("\n  - ")}`);
  }
  return { listen, port, tokenDigest: digest(token), origins };
}

/** Host forms a client may name: the bound address, and the localhost names when bound to loopback. */
function allowedHosts(listen: string, port: number): Set<string> {
  const names = isLoopback(listen) ? [bracket(listen), "localhost", "127.0.0.1", "[::1]"] : [bracket(listen)];
  return new Set(names.map((n) => `${n}:${port}`.toLowerCase()));
}

/** Does the Authorization header carry the token? Compared over digests, so neither length nor prefix leaks. */
function authorised(header: string | undefined, tokenDigest: Buffer): boolean {
  const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header ?? "");
  const presented = digest(m?.[1] ?? "");
  return timingSafeEqual(presented, tokenDigest) && m !== null;
}

function reply(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

/** The request body, up to MAX_BODY_BYTES; undefined when it is larger. */
function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * Starts the Streamable HTTP transport: one fresh McpServer from `factory` per request.
 * Throws a UsageError before binding when the options are unsafe (no token, a readable token file, a short
 * token, a non-loopback address without `allowNonLoopback`, a wildcard address, a malformed origin).
 */
export async function startHttp(factory: () => McpServer, opts: HttpOptions): Promise<HttpHandle> {
  const c = checkHttpOptions(opts);
  const log = opts.log ?? (() => undefined);
  let hosts = new Set<string>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const refuse = (status: number, why: string, headers?: Record<string, string>) => {
      // The method, path and peer only: header values (the token, a hostile Host) stay out of the log.
      log(`mcp http: ${status} ${why} (${req.method ?? "?"} from ${req.socket.remoteAddress ?? "?"})`);
      reply(res, status, why, headers);
    };
    // Host first: a browser led here by DNS rebinding names the attacker's host, whatever the Origin says.
    if (!hosts.has((req.headers.host ?? "").toLowerCase())) return refuse(403, "Host not allowed");
    // No Origin: a non-browser MCP client (they send none). Any Origin: a browser page, allowed only if listed.
    const origin = req.headers.origin;
    if (origin !== undefined && !c.origins.has(origin)) return refuse(403, "Origin not allowed");
    if (!authorised(req.headers.authorization, c.tokenDigest)) {
      return refuse(401, "missing or wrong bearer token", { "www-authenticate": 'Bearer realm="demesne-mcp"' });
    }
    if ((req.url ?? "").split("?")[0] !== PATH) return refuse(404, `not found: the endpoint is ${PATH}`);
    // Stateless: no server-initiated stream (GET) and no session to end (DELETE).
    if (req.method !== "POST") return refuse(405, "method not allowed: POST only (stateless)", { allow: "POST" });
    const raw = await readBody(req);
    if (raw === undefined) return refuse(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null }));
      return;
    }
    const server = factory();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`mcp http: 500 ${(err as Error).name ?? "error"}`);
      if (!res.headersSent) reply(res, 500, "internal error");
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(c.port, c.listen, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(c.listen, port);
  const url = `http://${bracket(c.listen)}:${port}${PATH}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
