// The SSH throttle as rendered (components/render/ssh-throttle.ts): rules iptables accepts, numbers that keep
// ssh-audit's DHEat rate test below its threshold while a `pulumi up` stays inside the burst, and an
// effective-access model that reads SSH as open to the admin ranges, rate-limited, and nothing else as open.
import { describe, expect, it } from "vitest";
import { outcomeOfPlan } from "../components/access-check";
import { loadConfig } from "../components/config/load";
import { accessViolations, effectiveAccess } from "../components/model/access";
import { hostOutcomeOf } from "../components/model/outcome";
import { planProgram } from "../components/program";
import { renderSshThrottleBlock, SSH_THROTTLE } from "../components/render/ssh-throttle";
import { controlStack, sourceOf } from "./helpers/stack";
import { run } from "./helpers/tools";

const ranges = ["198.51.100.0/24", "203.0.113.0/28", "2001:db8::/32"];
// The chains the package's before.rules declares ahead of our block (it is appended to that file).
const packageHead = (p: string) => `*filter\n:${p}-before-input - [0:0]\nCOMMIT\n`;

function planned(mutate: (v: Record<string, unknown>) => void = () => undefined) {
    const s = controlStack();
    mutate(s.values);
    const cfg = loadConfig(sourceOf(s), { dryRun: true });
    return { cfg, plan: planProgram(cfg, { stack: "control", project: "demesne", dryRun: true }) };
}

describe("the SSH throttle as rendered", () => {
    it("loads after the package's before.rules (nft and legacy, IPv4 and IPv6), one rule per admin range of the family", () => {
        const v4 = renderSshThrottleBlock(ranges, 4);
        const v6 = renderSshThrottleBlock(ranges, 6);
        expect(v4.match(/^-A /gm)).toHaveLength(2);
        expect(v6.match(/^-A /gm)).toHaveLength(1);
        expect(v6).toContain("-s 2001:db8::/32 ");
        expect(v6).toContain("--hashlimit-srcmask 64");
        // Loaded for real as ufw-init loads before.rules (restore -n, the package's section first), in a network
        // namespace of its own that goes away with the command: nothing touches this machine's tables.
        const load = (tool: string, list: string, chain: string, rules: string) =>
            run("unshare", ["-n", "sh", "-c", `${tool} -n && ${list} -S ${chain}`], rules);
        for (const [tool, list] of [["iptables-restore", "iptables"], ["iptables-legacy-restore", "iptables-legacy"]]) {
            const res = load(tool!, list!, "ufw-before-input", packageHead("ufw") + v4);
            expect(res.status, `${tool}: ${res.stderr}`).toBe(0);
            expect(res.stdout.match(/-m hashlimit/g), res.stdout).toHaveLength(2);
        }
        const res6 = load("ip6tables-legacy-restore", "ip6tables-legacy", "ufw6-before-input", packageHead("ufw6") + v6);
        expect(res6.status, res6.stderr).toBe(0);
        expect(res6.stdout).toContain("--hashlimit-srcmask 64");
        // The check can fail: a misspelt match option is refused.
        const broken = load("iptables-legacy-restore", "iptables-legacy", "ufw-before-input", packageHead("ufw") + v4.replace("--hashlimit-burst", "--hashlimit-bust"));
        expect(broken.status).not.toBe(0);
    });

    it("keeps ssh-audit's DHEat rate test (38 connections, 3 at a time, 1.5 s, warns above 20 a second) under its threshold", () => {
        // What gets through in the test's 1.5 s at most: the whole burst plus what refills meanwhile.
        const admitted = SSH_THROTTLE.burst + 1.5 * SSH_THROTTLE.perSecond;
        expect(admitted).toBeLessThan(38);
        expect(admitted / 1.5).toBeLessThan(20);
        // A `pulumi up` opens about one connection per layer step of a host, several at once: inside the burst.
        const { plan } = planned();
        const steps = plan.hostSteps.get("control-1")!.length + plan.services.filter((s) => s.service.host === "control-1").length;
        expect(steps).toBeLessThan(SSH_THROTTLE.burst);
    });
});

describe("the effective-access model reads the throttle", () => {
    it("SSH stays open to the admin ranges, rate-limited, and the stack is accepted", () => {
        const { cfg, plan } = planned();
        const outcome = outcomeOfPlan(cfg, plan);
        expect(accessViolations(outcome, cfg.adminRanges)).toEqual([]);
        const ssh = effectiveAccess(outcome).filter((r) => r.principal === "internet" && r.owner.kind === "ssh" && r.port === 22);
        expect(ssh.flatMap((r) => r.sources ?? []).sort()).toEqual([...cfg.adminRanges].sort());
        for (const r of ssh) expect(r.rateLimited, JSON.stringify(r)).toBe(true);
        expect(outcome.hosts[0]!.hostFirewall!.throttles.map((t) => t.source).sort()).toEqual([...cfg.adminRanges].sort());
    });

    it("without the block SSH is open but not rate-limited; a before-rules rule that accepts reads as open to everyone", () => {
        const { plan } = planned();
        const params = plan.hostSteps.get("control-1")!.find((s) => s.script === "firewall")!.params;
        const read = (p: Record<string, string>) => hostOutcomeOf("control-1", 22, [{ layer: "firewall", params: p }], undefined);
        const bare = read({ ...params, BEFORE_BLOCK: "", BEFORE6_BLOCK: "" });
        expect(bare.hostFirewall!.throttles).toEqual([]);
        expect(bare.hostFirewall!.accepts).toEqual(read(params).hostFirewall!.accepts);
        const open = read({ ...params, BEFORE_BLOCK: params.BEFORE_BLOCK!.replace("COMMIT", "-A ufw-before-input -p tcp --dport 3000 -j ACCEPT\nCOMMIT") });
        expect(open.hostFirewall!.accepts).toContainEqual({ family: 4 });
        const jump = read({ ...params, BEFORE_BLOCK: params.BEFORE_BLOCK!.replace("-j DROP", "-j ufw-user-limit-accept") });
        expect(jump.hostFirewall!.throttles).toEqual([]);
        expect(jump.hostFirewall!.accepts).toContainEqual({ family: 4 });
    });
});
