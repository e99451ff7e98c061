// The pack's entry point (package.json "main"). Pulumi starts a Node policy pack through ts-node with type
// checking; compiling the pack and the model that way is most of a cold start (adr/0021). So: the compiled pack
// from `npm run build:pack` while it is current, else the TypeScript as before. Plain JavaScript on purpose:
// this file must load without a compiler.
"use strict";
const path = require("node:path");
const { staleness } = require("./build-state");
const { deferCodePaths } = require("./defer-code-paths");

// DEMESNE_PACK_EAGER_SDK and DEMESNE_PACK_FROM_SOURCE bring back the pre-0021 start-up (test/bench/pack.ts).
if (process.env.DEMESNE_PACK_EAGER_SDK !== "1") deferCodePaths(__dirname);
const why = process.env.DEMESNE_PACK_FROM_SOURCE === "1" ? "DEMESNE_PACK_FROM_SOURCE=1" : staleness(path.join(__dirname, "dist"), path.join(__dirname, ".."));
if (why === undefined) {
    require("./dist/policy-pack/index.js");
} else {
    process.stderr.write(`demesne policy pack: compiling from TypeScript (${why}); \`npm run build:pack\` makes it start fast\n`);
    require("./index.ts");
}
