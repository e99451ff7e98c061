// What a host should look like, in the probes' vocabulary:
//  - desired:<stack>  what the program's layers install, computed from the stack config by the same model
//                     the program uses (the ssh drop-in implies `sshd -T` values, the firewall layer UFW's
//                     rules and defaults, the baseline layer its sudoers files, users and packages);
//  - applied:<stack>, plan:FILE  the same, for just the layers whose content the checkpoint or plan holds;
//  - baseline:<name>  an operator-blessed observation (baseline.ts).
import { sha256Hex } from "../../components/model/hash";
import { sshdExpectations } from "../../components/render/sshd";
import { renderSudoers, SUDOERS_PATH } from "../../components/render/sudoers";
import { renderObserverSudoers, OBSERVER_SUDOERS_PATH, OBSERVER_USER } from "../../components/model/observer";
import { allowUsers, BASELINE_PACKAGES, hostLayerSteps } from "../../components/host/layers";
import type { StackConfig } from "../../components/config/load";
import { stepIdentity } from "../../components/actuator/steps";
import { planProgram } from "../../components/program-plan";
import type { Queryable } from "../db/store";
import { asOf } from "../queries";
import { OWNERS } from "./owners";
import type { HardeningRules } from "./hardening";
import { plannedTriggers, type PlannedResource } from "../plan-format";

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
  /** The hardening and audit layers' tables the host is held to (hardening.ts); a baseline has none. */
  rules?: HardeningRules;
  /** The host has the backup layer: its backups are held to components/model/backup.ts's limits (backup.ts). */
  backup?: boolean;
}

export interface DesiredState {
  source: string;
  /** What this source cannot vouch for, said to the person reading the report. */
  notes?: string[];
  hosts: Map<string, HostDesired>;
  /** When the source was recorded or blessed (ISO-8601), if it has such a time. */
  asOf?: string;
}


/**
 * The firewall layer's defaults (components/render/ufw.ts) as `ufw status verbose` reports them. Routed
 * traffic shows "disabled" while the kernel forwards nothing (no Docker yet): stricter than deny.
 */
export const UFW_DEFAULTS_SEEN = [
  { incoming: "deny", outgoing: "allow", routed: "deny" },
  { incoming: "deny", outgoing: "allow", routed: "disabled" },
];

export function desiredFromConfig(cfg: StackConfig<unknown>, stack: string): DesiredState {
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
    const backup = hostLayerSteps(cfg, host).some((s) => s.stepClass === "backup");
    hosts.set(host.name, { expected, complete: ["ufw.rule"], rules: { hardening: true, audit: { immutable: cfg.hardening.auditImmutable } }, backup });
  }
  return { source: `desired:${stack}`, hosts };
}

/** The sudoers fact the observer's parser makes of a file with this content (see observe/parse.ts). */
function sudoersFact(text: string): { sha256: string } {
  return { sha256: sha256Hex(text) };
}


/** The content-hash triggers a source holds for a step URN (undefined: the source does not have that step). */
type TriggersOf = (urn: string) => Promise<unknown[] | undefined>;

/**
 * The config's expectations restricted to the layers whose content in `source` (a checkpoint, a plan) is the
 * config's; every other layer is left out with a note — pending work or a stale source, not drift.
 */
async function desiredFromContent(
  cfg: StackConfig<unknown>, stack: string, source: string, triggersOf: TriggersOf, says: { missing: string; changed: string },
): Promise<DesiredState> {
  const desired = desiredFromConfig(cfg, stack);
  const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
  const notes: string[] = [];
  for (const [host, want] of desired.hosts) {
    const keep = new Set<string>();
    for (const step of plan.hostSteps.get(host) ?? []) {
      const id = stepIdentity(step, plan.context);
      const triggers = await triggersOf(id.urn);
      if (!triggers) notes.push(`${host} ${step.stepClass}: ${says.missing}; left out`);
      else if (!triggers.includes(`content:${id.contentHash}`)) notes.push(`${host} ${step.stepClass}: ${says.changed}; left out`);
      else {
        keep.add(step.stepClass);
      }
    }
    const layerOf = (attribute: string) => OWNERS[attribute]?.layer ?? "";
    want.expected = want.expected.filter((e) => keep.has(layerOf(e.attribute)));
    want.complete = want.complete.filter((a) => keep.has(layerOf(a)));
    want.rules = { hardening: keep.has("hardening") ? want.rules?.hardening : undefined, audit: keep.has("audit") ? want.rules?.audit : undefined };
    want.backup = keep.has("backup") && want.backup;
  }
  return { source, hosts: desired.hosts, notes };
}

const triggersIn = (inputs: unknown) => {
  const t = (inputs as { triggers?: unknown } | undefined)?.triggers;
  return Array.isArray(t) ? t : undefined;
};

/**
 * What was last applied, as far as the recorder knows it: the stack's checkpoint (an ingested `pulumi stack
 * export`) names each layer step with the content hash in its triggers.
 */
export async function desiredFromApplied(db: Queryable, cfg: StackConfig<unknown>, stack: string): Promise<DesiredState> {
  const d = await desiredFromContent(cfg, stack, `applied:${stack}`,
    async (urn) => triggersIn((await asOf(db, { subject: urn })).find((f) => f.attribute === "inputs")?.value),
    { missing: "not in the last applied checkpoint (never applied)", changed: "the config changed since it was applied (pending, not drift)" });
  if ([...d.hosts.values()].every((h) => h.expected.length === 0) && d.notes!.every((n) => n.includes("never applied"))) {
    throw new Error(`no applied checkpoint of stack ${stack} in the recorder: ingest one (pulumi stack export | demesne ingest - --stack ${stack})`);
  }
  return d;
}

/** What a saved plan (`pulumi preview --save-plan FILE`) will leave on the hosts: its steps' goal inputs. */
export async function desiredFromPlan(planText: string, file: string, cfg: StackConfig<unknown>, stack: string): Promise<DesiredState> {
  let doc: { resourcePlans?: Record<string, PlannedResource> };
  try {
    doc = JSON.parse(planText) as typeof doc;
  } catch (e) {
    throw new Error(`${file}: not a plan (JSON: ${(e as Error).message})`);
  }
  if (!doc.resourcePlans || typeof doc.resourcePlans !== "object") throw new Error(`${file}: not a plan (no resourcePlans)`);
  return desiredFromContent(cfg, stack, `plan:${file}`, async (urn) => {
    const rp = doc.resourcePlans![urn];
    if (!rp || (rp.steps ?? []).includes("delete")) return undefined;
    return plannedTriggers(rp);
  }, { missing: "not in the plan, or deleted by it", changed: "the config changed since the plan was saved (a stale plan)" });
}
