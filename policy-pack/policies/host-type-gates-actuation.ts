import { TYPES } from "../../components/model/types";
import type { DemesneStackPolicy } from "../lib/metadata";
import { ancestors, isCommand } from "../lib/steps";

/** praxis invariant 5: no SSH step on a host that is not reached over SSH (Talos and other API-only hosts). */
export const SSH_HOST_TYPES: readonly string[] = ["ubuntu"];

export const hostTypeGatesActuation: DemesneStackPolicy = {
    name: "host-type-gates-actuation",
    description: "No SSH step targets a Talos (or any non-SSH) host, whether it belongs to the Host or to a Service placed on it.",
    enforcementLevel: "mandatory",
    severity: "critical",
    control: "invariant-5 host type gates actuation",
    remediationSteps: "Manage Talos hosts through their API (talosctl/machine config), not with SSH layers; remove the host's layers and services.",
    validateStack: (args, report) => {
        const hosts = args.resources.filter((r) => r.type === TYPES.Host);
        const hostByName = new Map(hosts.map((h) => [h.name, h]));
        for (const r of args.resources) {
            if (!isCommand(r)) continue;
            const up = ancestors(r);
            const host = up.find((a) => a.type === TYPES.Host)
                ?? (() => {
                    const svc = up.find((a) => a.type === TYPES.Service);
                    return svc ? hostByName.get(String(svc.props.host)) : undefined;
                })();
            if (!host) continue; // not under a Host or Service: single-execution-path reports it
            const kind = String(host.props.hostType ?? "unknown");
            if (!SSH_HOST_TYPES.includes(kind)) {
                report(`${r.name}: SSH step on host ${host.name}, whose type is ${kind}; only ${SSH_HOST_TYPES.join(", ")} hosts are reached over SSH`, r.urn);
            }
        }
        // A Talos host must also not be addressed by a raw command anywhere (by its address).
        const talos = hosts.filter((h) => !SSH_HOST_TYPES.includes(String(h.props.hostType)));
        for (const r of args.resources) {
            if (!isCommand(r)) continue;
            const host = (r.props.connection as { host?: unknown } | undefined)?.host;
            const t = talos.find((h) => h.props.address === host);
            if (t && !ancestors(r).includes(t)) report(`${r.name}: SSH connection to ${String(host)}, the address of ${t.props.hostType} host ${t.name}`, r.urn);
        }
    },
};
