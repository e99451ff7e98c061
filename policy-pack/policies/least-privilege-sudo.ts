import type { DemesneStackPolicy } from "../lib/metadata";
import { decodeStdin, isCommand } from "../lib/steps";

const BROAD = [
    { re: /NOPASSWD\s*:\s*ALL\b/, what: "NOPASSWD: ALL" },
    { re: /\bALL\s*=\s*\(\s*ALL(\s*:\s*ALL)?\s*\)\s*(NOPASSWD\s*:\s*)?ALL\b/, what: "ALL=(ALL) ALL" },
    { re: /^\s*[^#\s]+\s+ALL\s*=\s*ALL\b/m, what: "ALL=ALL" },
];

/** praxis invariant 9: no step installs broad sudo. */
export const leastPrivilegeSudo: DemesneStackPolicy = {
    name: "least-privilege-sudo",
    description: "No sudoers content installed by any step grants `NOPASSWD: ALL`, `ALL=(ALL) ALL` or equivalent; the deploy user may run only the script runner.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "invariant-9 least privilege",
    remediationSteps: "Grant only `/usr/local/sbin/demesne-run` (components/render/sudoers.ts); new privileged work is a new catalogued layer script.",
    validateStack: (args, report) => {
        for (const r of args.resources) {
            if (!isCommand(r)) continue;
            const step = decodeStdin(r.props.stdin);
            if ("error" in step) continue;
            for (const [name, value] of Object.entries(step.params)) {
                if (!/SUDOERS/.test(name) && !/^\s*(Defaults|[%\w.-]+\s+\S+\s*=)/m.test(value)) continue;
                const body = value.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n");
                for (const b of BROAD) if (b.re.test(body)) report(`${r.name}: parameter ${name} grants ${b.what}`, r.urn);
            }
            const create = String(r.props.create ?? "");
            if (/NOPASSWD\s*:\s*ALL|sudoers/.test(create)) report(`${r.name}: its command line edits sudo rights`, r.urn);
        }
    },
};
