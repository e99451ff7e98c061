// The shared, dependency-free model: tiers per change, the script catalogue, approvals.
import { describe, expect, it } from "vitest";
import { computeScriptCatalogue, LAYER_SCRIPT_NAMES, layerScript } from "../components/host/scripts";
import { approvalToken, DECLARE, stepContentHash } from "../components/model/approvals";
import { SCRIPT_CATALOGUE } from "../components/model/catalogue";
import { isStepClassName, isT3Class, modeAllows, STEP_CLASS_NAMES, STEP_CLASSES, tierOf } from "../components/model/tiers";

describe("tiers belong to changes", () => {
    it("an unchanged step is T0 whatever its class", () => {
        for (const cls of STEP_CLASS_NAMES) expect(tierOf(cls, "same")).toBe("T0");
    });

    it("ssh and firewall changes are T3; most layers are T2; deletes are T3", () => {
        expect(tierOf("ssh", "update")).toBe("T3");
        expect(tierOf("firewall", "create")).toBe("T3");
        expect(tierOf("docker", "update")).toBe("T2");
        expect(tierOf("tailnet-key", "replace")).toBe("T3");
        expect(tierOf("tailnet-policy", "replace")).toBe("T3");
        expect(tierOf("service", "delete")).toBe("T3");
    });

    it("unknown classes and operations are T3", () => {
        expect(tierOf("no-such-class", "create")).toBe("T3");
        expect(tierOf(undefined, "update")).toBe("T3");
        expect(tierOf("docker", "import")).toBe("T3");
    });

    it("T3-class steps are exactly those needing content-bound approval", () => {
        expect(STEP_CLASS_NAMES.filter(isT3Class)).toEqual(["ssh", "firewall", "hardening", "data-disk", "restore", "edge-firewall"]);
    });

    it("the confirm script cancels the dead-man of exactly the lock-out-capable host layers", () => {
        const confirm = layerScript("confirm").text;
        const listed = /case "\$LAYER" in ([a-z| -]+)\)/.exec(confirm)?.[1]?.split("|").map((s) => s.trim());
        const hostLayers = (LAYER_SCRIPT_NAMES as readonly string[]).filter((n) => isStepClassName(n) && STEP_CLASSES[n].lockOutCapable);
        expect(listed?.sort()).toEqual(hostLayers.sort());
    });

    it("modes cap the tier of a change", () => {
        expect(modeAllows("observe", "T1")).toBe(false);
        expect(modeAllows("operate", "T2")).toBe(true);
        expect(modeAllows("operate", "T3")).toBe(false);
        expect(modeAllows("break-glass", "T3")).toBe(true);
    });
});

describe("script catalogue", () => {
    it("the checked-in catalogue matches the scripts (run `npm run catalogue` after editing one)", () => {
        expect(SCRIPT_CATALOGUE).toEqual(computeScriptCatalogue());
    });
});

describe("approval tokens", () => {
    const urn = "urn:pulumi:control::demesne::demesne:host:Host$demesne:actuator:Actuator$command:remote:Command::control-1-ssh";

    it("depend on the URN and on the content", () => {
        const a = stepContentHash("ab".repeat(32), { DROPIN: "x" });
        const b = stepContentHash("ab".repeat(32), { DROPIN: "y" });
        expect(approvalToken(urn, a, DECLARE)).toBe(approvalToken(urn, a, DECLARE));
        expect(approvalToken(urn, a, DECLARE)).not.toBe(approvalToken(urn, b, DECLARE));
        expect(approvalToken(urn.replace("control-1-ssh", "control-2-ssh"), a, DECLARE)).not.toBe(approvalToken(urn, a, DECLARE));
    });

    it("do not depend on the order parameters were given in", () => {
        expect(stepContentHash("00", { A: "1", B: "2" })).toBe(stepContentHash("00", { B: "2", A: "1" }));
    });
});
