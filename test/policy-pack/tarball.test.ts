// The pack installed from its `npm pack` tarball works on its own: the shared model travels inside it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";
import { POLICIES } from "../../policy-pack/policies";
import { packPolicy } from "../../scripts/pack-policy";

it("the npm pack tarball carries the model and its policies run from it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "demesne-pack-"));
    const tgz = packPolicy(dir);
    execFileSync("tar", ["xzf", tgz, "-C", dir]);
    const pkg = path.join(dir, "package");
    // Only the pack's own dependencies (@pulumi/policy, @pulumi/pulumi) come from outside.
    symlinkSync(path.resolve(__dirname, "..", "..", "node_modules"), path.join(pkg, "node_modules"));
    const probe = `
      const { POLICIES } = require("./policy-pack/policies.js");
      const catalogue = require("./components/model/script-catalogue.json");
      const violations = [];
      const rogue = { type: "ovh:Cloud/project:Instance", name: "box", urn: "urn:x", props: {}, opts: {} };
      const p = POLICIES.find((x) => x.name === "configure-only");
      p.validateResource({ ...rogue, getConfig: () => ({}), stackTags: new Map() }, (m) => violations.push(m));
      const s = POLICIES.find((x) => x.name === "single-execution-path");
      s.validateStack({ resources: [{ ...rogue, type: "command:remote:Command", name: "raw", props: { create: "id" } }], getConfig: () => ({}), stackTags: new Map() }, (m) => violations.push(m));
      console.log(JSON.stringify({ names: POLICIES.map((x) => x.name), layers: Object.keys(catalogue).length, violations }));`;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", probe], { cwd: pkg, encoding: "utf8" })) as { names: string[]; layers: number; violations: string[] };
    expect(out.names).toEqual(POLICIES.map((p) => p.name));
    expect(out.layers).toBeGreaterThan(5);
    expect(out.violations).toEqual([
        "box: ovh:Cloud/project:Instance is not a configuration resource demesne may declare (configure-only)",
        "raw: remote command outside an Actuator (its parent is the stack)",
    ]);
    const files = execFileSync("tar", ["tzf", tgz], { encoding: "utf8" });
    expect(files).toContain("package/PulumiPolicy.yaml");
    expect(files).not.toMatch(/\.ts\n|test\//);
}, 120_000);
