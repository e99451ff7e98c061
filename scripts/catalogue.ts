// Regenerates components/model/script-catalogue.json from the layer scripts.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { computeScriptCatalogue } from "../components/host/scripts";

const out = path.join(__dirname, "..", "components", "model", "script-catalogue.json");
writeFileSync(out, `${JSON.stringify(computeScriptCatalogue(), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
