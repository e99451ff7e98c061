// `demesne mcp`: the fleet model, the drift record and the actuator offered to AI agents over MCP, one profile
// per server process (praxis invariant 8). `read` observes and returns host-originated text as data; `act`
// plans and applies approved plans and returns none. No server offers both: an agent that reads text a host
// wrote (untrusted input) must not hold a tool that acts on it. A person stands between the two, with
// `demesne approve`. stdio is the default transport; HTTP (./http.ts) builds one server per request from
// the same factory.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { checkKillSwitch } from "../apply-commands";
import { loadStack } from "../drift-commands";
import { esc } from "../escape";
import { ACT_TOOLS } from "./act-tools";
import { READ_TOOLS } from "./read-tools";
import { registerDocResources } from "./resources";
import { PROFILES, type Profile } from "./profile";
import { auditInvalidInput, registerTool, type CallContext, type Tool } from "./tool";

export { PROFILES, type Profile } from "./profile";

export interface ServerOptions {
  /** read (the default of `demesne mcp`): observation only. act: plan and apply, nothing that returns host text. */
  profile: Profile;
  /** The client's name for the audit log; default: the name the client gives in its initialize request. */
  clientName?: string;
}

/**
 * The lethal trifecta, contained: a set of tools that both acts and returns host-originated text is refused
 * here, whatever profile lists it, so a future tool cannot join the wrong server unnoticed.
 */
export function checkContained(tools: Tool[]): void {
  const acting = tools.filter((t) => t.kind === "act").map((t) => t.name);
  const reading = tools.filter((t) => t.hostText).map((t) => t.name);
  if (acting.length && reading.length) {
    throw new Error(`one MCP server may not offer act tools (${acting.join(", ")}) with tools returning host text (${reading.join(", ")}): run two servers, with a person between them`);
  }
}

export function toolsOf(profile: Profile): Tool[] {
  const tools = profile === "act" ? ACT_TOOLS : READ_TOOLS;
  checkContained(tools);
  return tools;
}

const cut = (s: string) => esc(s).slice(0, 64) || "unknown";

/** A new server for one connection (stdio) or one request (HTTP). */
export function createMcpServer(opts: ServerOptions): McpServer {
  if (!PROFILES.includes(opts.profile)) throw new Error(`unknown MCP profile '${esc(opts.profile)}' (read or act)`);
  const mcp = new McpServer({ name: `demesne-${opts.profile}`, version: "0.1.0" });
  const context = (): Omit<CallContext, "store"> => {
    const client = cut(opts.clientName ?? mcp.server.getClientVersion()?.name ?? "unknown");
    return { profile: opts.profile, client, actor: `mcp:${client}` };
  };
  // The act profile asks the kill switch before every call, plan included: with it on, nothing is started.
  const guard = opts.profile === "act"
    ? (args: Record<string, unknown>) => checkKillSwitch(loadStack(args.stack as string | undefined), "the act profile refuses every call")
    : undefined;
  for (const t of toolsOf(opts.profile)) registerTool(mcp, t, context, guard);
  auditInvalidInput(mcp, context);
  registerDocResources(mcp, context);
  return mcp;
}

/** Serves one client over stdin/stdout until it disconnects. Nothing else may write to stdout meanwhile. */
export async function runStdio(opts: ServerOptions): Promise<void> {
  const mcp = createMcpServer(opts);
  const closed = new Promise<void>((resolve) => {
    mcp.server.onclose = () => resolve();
    // The client closing its end of the pipe ends the session (the SDK's transport only stops reading).
    process.stdin.once("end", () => void mcp.close());
  });
  await mcp.connect(new StdioServerTransport());
  await closed;
}
