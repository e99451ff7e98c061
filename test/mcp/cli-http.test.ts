// `demesne mcp --transport http` as the command wires it (cli/mcp-command.ts): the act profile served over
// HTTP to the SDK's own client with the bearer token from DEMESNE_MCP_TOKEN; the token never reaches a child
// process (the stand-in `pulumi` records its environment), and each call is audited with the client `http`.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planWorkspace } from "../helpers/plans";
import { auditRows, call } from "./client";

const ws = planWorkspace();
const TOKEN = randomBytes(32).toString("hex");
const BIN = path.join(ws.work, "http-bin");
const NEXT = path.join(ws.work, "next.plan.json");
const ENV_SEEN = path.join(ws.work, "pulumi-env");
let server: ChildProcess;
let url = "";
let stderr = "";

beforeAll(async () => {
  mkdirSync(BIN);
  writeFileSync(path.join(BIN, "pulumi"), [
    "#!/bin/sh",
    `env > '${ENV_SEEN}'`,
    `if [ "$1" = preview ]; then while [ $# -gt 0 ]; do if [ "$1" = --save-plan ]; then cp '${NEXT}' "$2"; fi; shift; done; fi`,
    "exit 0",
    "",
  ].join("\n"));
  chmodSync(path.join(BIN, "pulumi"), 0o755);
  server = spawn(process.execPath, [path.join(__dirname, "..", "..", "bin", "demesne.js"), "mcp", "--profile", "act", "--transport", "http", "--port", "0"], {
    cwd: ws.work, env: { ...process.env, ...ws.env, PATH: `${BIN}:${ws.env.PATH}`, DEMESNE_MCP_TOKEN: TOKEN },
  });
  server.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 600 && !url; i++) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr)?.[1] ?? "";
    if (!url) await new Promise((r) => setTimeout(r, 200));
  }
  expect(url, stderr).not.toBe("");
}, 300_000);

afterAll(() => {
  server?.kill("SIGTERM");
});

describe("demesne mcp --transport http", { timeout: 600_000 }, () => {
  it("serves the act profile to a client holding the token, passes the token to no child, and audits the calls as http", async () => {
    const client = new Client({ name: "vitest-http", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["plan", "apply"]);
      copyFileSync(ws.planFor("ops", { docker: "update" }), NEXT);
      const r = await call(client, "plan", { stack: "ops" });
      expect(r.isError, r.text).toBe(false);
      expect(r.structured).toMatchObject({ stack: "ops", maxTier: "T2" });
    } finally {
      await client.close();
    }
    // The engine ran with the server's environment, less the token.
    expect(existsSync(ENV_SEEN)).toBe(true);
    const seen = readFileSync(ENV_SEEN, "utf8");
    expect(seen).toMatch(/^DEMESNE_STATE_DIR=/m);
    expect(seen).not.toContain(TOKEN);
    expect(seen).not.toMatch(/DEMESNE_MCP_TOKEN/);
    const last = (await auditRows(ws.openStore)).filter((a) => a.action === "mcp plan").pop()!;
    expect(last).toMatchObject({ actor: "mcp:http", params: { profile: "act", client: "http", tool: "plan" } });
    expect(JSON.stringify(await auditRows(ws.openStore))).not.toContain(TOKEN);
    expect(stderr).not.toContain(TOKEN);
  });

  it("refuses a client without the token", async () => {
    const client = new Client({ name: "no-token", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(url)))).rejects.toThrow(/401|Unauthorized|bearer/i);
  });
});
