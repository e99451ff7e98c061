// Whether policy-pack/dist (from `npm run build:pack`) may run: only while every source it was compiled from
// still has the sha256 recorded at build time (dist/sources.json), so an edit never runs stale policies.
"use strict";
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const path = require("node:path");

/** Why the build in distDir cannot be used, or undefined when it is current. Sources are relative to repoDir. */
function staleness(distDir, repoDir) {
    let sources;
    try {
        sources = JSON.parse(readFileSync(path.join(distDir, "sources.json"), "utf8"));
    } catch {
        return "it is not built";
    }
    if (typeof sources !== "object" || sources === null || Object.keys(sources).length === 0) return "its list of sources is empty";
    for (const [file, sha] of Object.entries(sources)) {
        let text;
        try {
            text = readFileSync(path.join(repoDir, file));
        } catch {
            return `${file} is gone`;
        }
        if (createHash("sha256").update(text).digest("hex") !== sha) return `${file} changed since the build`;
    }
    return undefined;
}

module.exports = { staleness };
