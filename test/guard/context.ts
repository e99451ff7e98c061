import * as path from "node:path";
import type { DecideContext } from "../../cli/guard/decide";
import { packageScripts } from "../../cli/guard/main";

/** The decision context of the table and property tests: this work tree, a fixed home directory. */
export const ROOT = path.join(__dirname, "..", "..");
export const CTX: DecideContext = { root: ROOT, cwd: ROOT, home: "/home/agent", scripts: packageScripts(ROOT) };
