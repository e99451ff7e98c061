#!/usr/bin/env node
// The `demesne` command: runs the TypeScript CLI through tsx (no build step to forget).
"use strict";
require("tsx/cjs");
const { main } = require("../cli/main.ts");
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    // The last net: even an unexpected error's message is shown with its control characters escaped.
    const { esc } = require("../cli/escape.ts");
    process.stderr.write(`demesne: ${esc(String(e && e.message))}\n`);
    process.exit(2);
  },
);
