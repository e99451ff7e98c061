import { unrestrictedSudoIn } from "../../components/model/sudo";
import type { DemesneStackPolicy } from "../lib/metadata";
import { decodeStdin, isCommand } from "../lib/steps";


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
                for (const what of unrestrictedSudoIn(value)) report(`${r.name}: parameter ${name} grants ${what}`, r.urn);
            }
            const create = String(r.props.create ?? "");
            if (/NOPASSWD\s*:\s*ALL|sudoers/.test(create)) report(`${r.name}: its command line edits sudo rights`, r.urn);
        }
    },
};
