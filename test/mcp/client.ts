// A real MCP client for the tests: the SDK's Client over stdio, spawning `demesne mcp` (bin/demesne.js) in
// the workspace, exactly as an agent's host application would.
import * as path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Store } from "../../state-model/db/store";

const BIN = path.join(__dirname, "..", "..", "bin", "demesne.js");

export interface Connected {
  client: Client;
  stderr(): string;
  close(): Promise<void>;
}

export async function connect(args: string[], env: Record<string, string>, cwd: string, name = "vitest-agent"): Promise<Connected> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, "mcp", ...args], env: { ...(process.env as Record<string, string>), ...env }, cwd, stderr: "pipe" });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

export interface CallResult {
  isError: boolean;
  text: string;
  structured: Record<string, unknown>;
}

export async function call(c: Client, name: string, args: Record<string, unknown> = {}): Promise<CallResult> {
  const r = await c.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });
  const text = (r.content as { type: string; text?: string }[]).map((x) => x.text ?? "").join("\n");
  return { isError: r.isError === true, text, structured: (r.structuredContent ?? {}) as Record<string, unknown> };
}

export interface AuditRow {
  seq: number;
  actor: string;
  action: string;
  params: Record<string, unknown> & { reason?: string; client?: string; tool?: string; profile?: string };
  output_sha256: string;
  output_len: number;
}

export async function auditRows(open: () => Promise<Store>): Promise<AuditRow[]> {
  const s = await open();
  try {
    return (await s.query<AuditRow>("SELECT seq, actor, action, params, output_sha256, output_len FROM audit_log ORDER BY seq")).rows.map((r) => ({ ...r, seq: Number(r.seq), output_len: Number(r.output_len) }));
  } finally {
    await s.close();
  }
}
