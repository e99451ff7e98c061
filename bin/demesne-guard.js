#!/usr/bin/env node
// The coding-agent guard (cli/guard/): a Claude Code PreToolUse hook and its tools, run through tsx like
// bin/demesne.js. It fails closed: anything that goes wrong here exits 2, which blocks the tool call
// (any other non-zero code would let the call through).
"use strict";
const fail = (e) => {
  try {
    process.stderr.write(`demesne-guard: refused: the guard failed (${String(e && e.message).replace(/[\x00-\x1f\x7f]/g, " ")})\n`);
  } finally {
    process.exit(2);
  }
};
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
try {
  require("tsx/cjs");
  const { main } = require("../cli/guard/main.ts");
  main(process.argv.slice(2)).then((code) => process.exit(code), fail);
} catch (e) {
  fail(e);
}
