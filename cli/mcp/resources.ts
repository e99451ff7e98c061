// Documents an agent may cite: the runbooks and the invariants map. They are this checkout's own text (no
// host or store data), so they are offered by both profiles. Each read is audited like a tool call.
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { withMcpStore } from "./store";
import { audit, type CallContext } from "./tool";

const ROOT = path.resolve(__dirname, "..", "..");

export interface DocResource {
  name: string;
  uri: string;
  title: string;
  file: string;
}

/** Every runbooks/*.md (their index included) and docs/invariants.md, as demesne:// URIs. */
export function docResources(): DocResource[] {
  const runbooks = readdirSync(path.join(ROOT, "runbooks")).filter((f) => f.endsWith(".md")).sort().map((f) => ({
    name: `runbook-${f.slice(0, -3)}`, uri: `demesne://runbooks/${f}`, title: `Runbook: ${f.slice(0, -3).replace(/-/g, " ")}`, file: path.join(ROOT, "runbooks", f),
  }));
  return [...runbooks, { name: "invariants", uri: "demesne://docs/invariants.md", title: "The nine invariants and where each is enforced", file: path.join(ROOT, "docs", "invariants.md") }];
}

export function registerDocResources(mcp: McpServer, context: () => Omit<CallContext, "store">): void {
  for (const d of docResources()) {
    mcp.registerResource(d.name, d.uri, { title: d.title, mimeType: "text/markdown" }, async (uri) => {
      const text = readFileSync(d.file, "utf8");
      await withMcpStore((store) => audit(store, context(), "resource", { uri: d.uri }, { ok: true }, text));
      return { contents: [{ uri: uri.href, mimeType: "text/markdown", text }] };
    });
  }
}
