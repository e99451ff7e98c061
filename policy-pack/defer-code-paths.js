// @pulumi/pulumi's index loads runtime/closure/codePaths eagerly, and with it npm's Arborist (pacote, sigstore,
// make-fetch-happen…): about a third of the pack's start-up (adr/0021), for code that packages closures of
// functions, which a policy pack never does. This puts a stand-in for that one module in the require cache
// before the SDK loads: each of its functions loads the real module on first call, so nothing changes but when
// the cost is paid. Skipped when the SDK is not where it is expected or the module is already loaded.
"use strict";
const Module = require("node:module");
const { existsSync } = require("node:fs");
const path = require("node:path");

function deferCodePaths(fromDir) {
    let file;
    try {
        // The SDK the policy SDK itself loads (a pack-local node_modules comes first, as for require).
        const policy = path.dirname(require.resolve("@pulumi/policy/package.json", { paths: [fromDir] }));
        const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [policy] }));
        file = path.join(sdk, "runtime", "closure", "codePaths.js");
    } catch {
        return false;
    }
    if (!existsSync(file) || require.cache[file]) return false;
    let real;
    const load = () => {
        if (!real) {
            delete require.cache[file];
            real = require(file);
        }
        return real;
    };
    const standIn = new Module(file);
    standIn.filename = file;
    standIn.loaded = true;
    // Every export of the module is a function; the SDK copies them at load, so each is a deferring wrapper.
    standIn.exports = new Proxy({}, {
        get: (_, name) => (name === "__esModule" ? true : typeof name === "string" ? (...args) => load()[name](...args) : undefined),
    });
    require.cache[file] = standIn;
    return true;
}

module.exports = { deferCodePaths };
