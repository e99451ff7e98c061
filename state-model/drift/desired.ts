// What a host should look like, in the probes' vocabulary, from one of two sources:
//  - desired:<stack>  what the program's layers install, computed from the stack config by the same model
//                     the program uses (the ssh drop-in implies `sshd -T` values, the firewall layer UFW's
//                     rules and defaults, the baseline layer its sudoers file, user and packages);
//  - baseline:<name>  an operator-blessed observation (baseline.ts).
import { createHash } from "node:crypto";
import { sshdExpectations } from "../../components/render/sshd";
import { renderSudoers, SUDOERS_PATH } from "../../components/render/sudoers";
import { renderObserverSudoers, OBSERVER_SUDOERS_PATH, OBSERVER_USER } from "../../components/model/observer";
import { allowUsers, BASELINE_PACKAGES } from "../../components/host/layers";
import type { StackConfig } from "../../components/config/load";

export interface Expected {
  attribute: string;
  key: string;
  /** The exact value; absent: any value will do as long as the fact exists. */
  value?: unknown;
  /** Or any one of these values. */
  anyOf?: unknown[];
}

export interface HostDesired {
  expected: Expected[];
  /** Attributes whose every key is listed: an observed key that is not is drift ("unexpected"). */
  complete: string[];
}

export interface DesiredState {
  source: string;
  hosts: Map<string, HostDesired>;
  /** When the source was recorded or blessed (ISO-8601), if it has such a time. */
  asOf?: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * The firewall layer's defaults (components/render/ufw.ts) as `ufw status verbose` reports them. Routed
 * traffic shows "disabled" while the kernel forwards nothing (no Docker yet): stricter than deny.
 */
export const UFW_DEFAULTS_SEEN = [
  { incoming: "deny", outgoing: "allow", routed: "deny" },
  { incoming: "deny", outgoing: "allow", routed: "disabled" },
];

export function desiredFromConfig(cfg: StackConfig, stack: string): DesiredState {
  const hosts = new Map<string, HostDesired>();
  for (const host of cfg.hosts) {
    if (host.hostType !== "ubuntu") continue;
    const expected: Expected[] = [];
    for (const line of sshdExpectations({ allowUsers: allowUsers(cfg, host) })) {
      const [k, ...v] = line.split(" ");
      const prev = expected.find((e) => e.attribute === "sshd" && e.key === k);
      if (prev) prev.value = `${prev.value as string} ${v.join(" ")}`;
      else expected.push({ attribute: "sshd", key: k!, value: v.join(" ") });
    }
    expected.push({ attribute: "ufw.status", key: "", value: "active" });
    expected.push({ attribute: "ufw.default", key: "", anyOf: UFW_DEFAULTS_SEEN });
    for (const range of cfg.adminRanges) {
      const v6 = range.includes(":");
      expected.push({ attribute: "ufw.rule", key: `22/tcp ALLOW IN ${range}`, value: [v6 ? "v6" : "v4"] });
    }
    expected.push({ attribute: "iptables.policy", key: "INPUT", value: "DROP" });
    expected.push({ attribute: "iptables.policy", key: "FORWARD", value: "DROP" });
    expected.push({ attribute: "sudoers.file", key: SUDOERS_PATH, value: sudoersFact(renderSudoers(cfg.deployUser)) });
    expected.push({ attribute: "sudoers.file", key: OBSERVER_SUDOERS_PATH, value: sudoersFact(renderObserverSudoers()) });
    expected.push({ attribute: "user", key: cfg.deployUser });
    expected.push({ attribute: "user", key: OBSERVER_USER });
    for (const p of BASELINE_PACKAGES) expected.push({ attribute: "package", key: p });
    hosts.set(host.name, { expected, complete: ["ufw.rule"] });
  }
  return { source: `desired:${stack}`, hosts };
}

/** The sudoers fact the observer's parser makes of a file with this content (see observe/parse.ts). */
function sudoersFact(text: string): { sha256: string } {
  return { sha256: sha256(text) };
}

