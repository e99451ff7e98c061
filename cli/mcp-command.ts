// `demesne mcp [--profile read|act] [--transport stdio|http …]`: flags checked here, the server in cli/mcp/.
// stdio is the default (praxis invariant 7); HTTP is opt-in and its own checks (token, loopback, Origin)
// live in cli/mcp/http.ts. The server and the transport are loaded only when this command runs: every other
// command starts without the MCP SDK. (`require`: tsx runs the CLI as CommonJS, where `import()` of a path
// without its extension does not resolve.)
import { str, type Parsed } from "./args";
import { EXIT, UsageError } from "./exit";
import { esc } from "./escape";
import { note, type Output } from "./output";
import { PROFILES, type Profile } from "./mcp/profile";

export const MCP_VALUED = ["profile", "transport", "listen", "port", "token-file", "allowed-origin"];
export const MCP_BOOLEANS = ["allow-non-loopback"];
const HTTP_ONLY = ["listen", "port", "token-file", "allowed-origin", "allow-non-loopback"];

export async function mcp(p: Parsed, out: Output): Promise<number> {
  if (p.positional.length) throw new UsageError("mcp takes no arguments (its flags: --profile, --transport)");
  if (out.json) throw new UsageError("--json: the MCP server speaks JSON-RPC on stdout; it has no --json output");
  const profile = (str(p, "profile") ?? "read") as Profile;
  if (!PROFILES.includes(profile)) throw new UsageError(`--profile must be read or act (got '${esc(profile)}')`);
  const transport = str(p, "transport") ?? "stdio";
  if (transport === "stdio") {
    const stray = HTTP_ONLY.filter((f) => p.flags.has(f));
    if (stray.length) throw new UsageError(`--${stray[0]} is for --transport http`);
    const { runStdio } = require("./mcp/server") as typeof import("./mcp/server");
    await runStdio({ profile });
    return EXIT.ok;
  }
  if (transport !== "http") throw new UsageError(`--transport must be stdio or http (got '${esc(transport)}')`);
  const port = str(p, "port");
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new UsageError(`--port: '${esc(port.slice(0, 16))}' is not a port number`);
  const { startHttp } = require("./mcp/http") as typeof import("./mcp/http");
  const { createMcpServer } = require("./mcp/server") as typeof import("./mcp/server");
  const token = str(p, "token-file") ? undefined : process.env.DEMESNE_MCP_TOKEN;
  // Read once, then gone from this process's environment: `pulumi` and every other child never inherit it.
  delete process.env.DEMESNE_MCP_TOKEN;
  // Stateless HTTP builds a server per request, after the one that carried the client's name: audited as http.
  const handle = await startHttp(() => createMcpServer({ profile, clientName: "http" }), {
    listen: str(p, "listen"),
    port: port === undefined ? undefined : Number(port),
    allowNonLoopback: p.flags.get("allow-non-loopback") === true,
    tokenFile: str(p, "token-file"),
    // The token from the environment only when no file is named: never from a flag (it would be in `ps`).
    token,
    allowedOrigins: str(p, "allowed-origin")?.split(",").map((o) => o.trim()).filter(Boolean),
    log: note,
  });
  note(`MCP (${profile} profile) listening on ${handle.url}`);
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });
  await handle.close();
  return EXIT.ok;
}
