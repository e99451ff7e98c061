// The opt-in HTTP transport, end to end on loopback: the SDK's own Client over Streamable HTTP against a tiny
// server of our own (so this file does not depend on demesne's tools), then each refusal with raw requests.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import { UsageError } from "../../cli/exit";
import { startHttp, type HttpHandle } from "../../cli/mcp/http";

const TOKEN = "t".repeat(20) + "0123456789abcdef"; // 36 characters
const tiny = () => {
  const s = new McpServer({ name: "tiny", version: "0.0.0" });
  s.registerTool("echo", { description: "echoes its text", inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text: `echo: ${text}` }],
  }));
  return s;
};

/** A raw request, so a test can set any Host, Origin or Authorization it wants. */
function raw(url: string, headers: Record<string, string>, body = initialize()): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", setHost: false, headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
function initialize(): string {
  return JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } });
}

describe("startHttp on loopback", () => {
  let h: HttpHandle;
  let host: string;
  const lines: string[] = [];
  beforeAll(async () => {
    h = await startHttp(tiny, { port: 0, token: TOKEN, log: (l) => lines.push(l) });
    host = new URL(h.url).host;
  });
  afterAll(async () => h.close());

  it("reports the actual port and the /mcp endpoint", () => {
    expect(h.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(h.url).not.toContain(":0/");
  });

  it("serves the SDK's own client: list and call a tool with the bearer token", async () => {
    const client = new Client({ name: "test", version: "0.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(h.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toEqual(["echo"]);
      const out = await client.callTool({ name: "echo", arguments: { text: "hi" } });
      expect(out.content).toEqual([{ type: "text", text: "echo: hi" }]);
    } finally {
      await client.close();
    }
  });

  it("refuses the SDK client without the token (401)", async () => {
    const client = new Client({ name: "test", version: "0.0.0" });
    // The SDK's StreamableHTTPError carries the HTTP status as `code`.
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(h.url)))).rejects.toMatchObject({ code: 401, message: expect.stringContaining("missing or wrong bearer token") });
  });

  it("accepts a raw initialize with the token, and the localhost Host form", async () => {
    const ok = await raw(h.url, { host, authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('"serverInfo"');
    const port = new URL(h.url).port;
    expect((await raw(h.url, { host: `localhost:${port}`, authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it.each([
    ["no Authorization header", undefined],
    ["a wrong token of the same length", `Bearer ${"x".repeat(TOKEN.length)}`],
    ["a wrong token of another length", `Bearer ${TOKEN}x`],
    ["a prefix of the token", `Bearer ${TOKEN.slice(0, 32)}`],
    ["another scheme", `Basic ${TOKEN}`],
    ["the token without a scheme", TOKEN],
  ])("answers 401 with WWW-Authenticate: Bearer for %s", async (_, authorization) => {
    const r = await raw(h.url, { host, ...(authorization ? { authorization } : {}) });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(r.text).not.toContain(TOKEN);
  });

  it("refuses any Origin when none is allowed (403), even with the token", async () => {
    const r = await raw(h.url, { host, origin: "https://evil.example", authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(403);
    expect(r.text).toContain("Origin not allowed");
  });

  it.each(["evil.example", "evil.example:80", `127.0.0.1:1`, "", "127.0.0.1"])("refuses Host %j (403): DNS rebinding", async (bad) => {
    const r = await raw(h.url, { host: bad, authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(403);
    expect(r.text).toContain("Host not allowed");
  });

  it("answers 405 to GET (stateless: no server stream) and 404 off the endpoint", async () => {
    const get = await new Promise<number>((resolve, reject) => {
      http.get(h.url, { headers: { authorization: `Bearer ${TOKEN}` } }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject);
    });
    expect(get).toBe(405);
    expect((await raw(h.url.replace("/mcp", "/other"), { host, authorization: `Bearer ${TOKEN}` })).status).toBe(404);
  });

  it("never logs the token, and logs each refusal", () => {
    expect(lines.some((l) => l.includes("401"))).toBe(true);
    expect(lines.some((l) => l.includes("403"))).toBe(true);
    expect(lines.join("\n")).not.toContain(TOKEN);
  });
});

describe("startHttp with an allowed origin", () => {
  it("accepts exactly that Origin and refuses another", async () => {
    const h = await startHttp(tiny, { port: 0, token: TOKEN, allowedOrigins: ["https://app.example.com"] });
    try {
      const host = new URL(h.url).host;
      expect((await raw(h.url, { host, origin: "https://app.example.com", authorization: `Bearer ${TOKEN}` })).status).toBe(200);
      expect((await raw(h.url, { host, origin: "https://app.example.com.evil", authorization: `Bearer ${TOKEN}` })).status).toBe(403);
    } finally {
      await h.close();
    }
  });
});

describe("startHttp refuses to start", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "demesne-mcp-http-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = (mode: number, content = `${TOKEN}\n`) => {
    const f = path.join(dir, `token-${mode.toString(8)}-${content.length}`);
    fs.writeFileSync(f, content);
    fs.chmodSync(f, mode);
    return f;
  };
  const refused = async (opts: Parameters<typeof startHttp>[1], message: RegExp) => {
    const err = await startHttp(tiny, { port: 0, ...opts }).then(
      async (h) => (await h.close(), undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(TOKEN);
    if (opts.token) expect((err as Error).message).not.toContain(opts.token);
  };

  it("without a token, naming --token-file and DEMESNE_MCP_TOKEN", () => refused({}, /needs a bearer token: --token-file <path> \(mode 0600\) or DEMESNE_MCP_TOKEN/));
  it("with a short token", () => refused({ token: "a".repeat(31) }, /DEMESNE_MCP_TOKEN: the token is shorter than 32 characters/));
  it("with a token holding a space", () => refused({ token: `${TOKEN} x` }, /printable ASCII without spaces/));
  it("with a token file readable by group and others (0644), naming the file", async () => {
    const f = tokenFile(0o644);
    await refused({ tokenFile: f }, new RegExp(`--token-file ${f}: mode 0644 lets group or others read it: chmod 600`));
  });
  it("with a token file readable by group (0640)", () => refused({ tokenFile: tokenFile(0o640) }, /mode 0640 lets group or others read it/));
  it("with a short token in a 0600 file", () => refused({ tokenFile: tokenFile(0o600, "short\n") }, /--token-file .*: the token is shorter than 32/));
  it("with a missing token file", () => refused({ tokenFile: path.join(dir, "absent") }, /absent: cannot read it \(ENOENT\)/));
  it("with a directory as the token file", () => refused({ tokenFile: dir }, /: not a regular file/));
  it("with both a token file and a token", () => refused({ token: TOKEN, tokenFile: tokenFile(0o600) }, /give the token once/));
  it("on 0.0.0.0, even with the opt-in", async () => {
    await refused({ token: TOKEN, listen: "0.0.0.0" }, /--listen 0\.0\.0\.0: listens on every interface/);
    await refused({ token: TOKEN, listen: "::", allowNonLoopback: true }, /--listen ::: listens on every interface/);
  });
  it("on a non-loopback address without --allow-non-loopback", () =>
    refused({ token: TOKEN, listen: "192.0.2.10" }, /--listen 192\.0\.2\.10 is not loopback: pass --allow-non-loopback/));
  it("on a host name, a bad port or a malformed origin", () =>
    refused({ token: TOKEN, listen: "localhost", port: 70000, allowedOrigins: ["https://a.example/path"] }, /--listen localhost: expected one IP address[\s\S]*--port 70000[\s\S]*--allowed-origin https:\/\/a\.example\/path/));

  it("starts with a 0600 token file and answers that token", async () => {
    const h = await startHttp(tiny, { port: 0, tokenFile: tokenFile(0o600) });
    try {
      const r = await raw(h.url, { host: new URL(h.url).host, authorization: `Bearer ${TOKEN}` });
      expect(r.status).toBe(200);
    } finally {
      await h.close();
    }
  });
});
