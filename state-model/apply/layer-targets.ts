// `demesne plan --layer HOST/LAYER`: one layer (or service) of one host as the engine's --target list. A
// targeted update needs every resource it creates to have its parent in scope, so a layer brings its Host (or
// Service), its Actuator and its command and confirm steps. Layers are applied in order: each depends on the
// one before, and the engine refuses a layer whose predecessor was never applied, naming it. The keys are
// those of demesne:approvals: `<host>/<layer>`, `<host>/<service>` or a pending restore's `<host>/restore-<source>`.
// A command step has no Read, so running a layer's script again (to converge drift) is a replace of its command
// and confirm steps.
import { confirmStepName, stepIdentity, type StepSpec } from "../../components/actuator/steps";
import type { StackConfig } from "../../components/config/load";
import { resourceUrn } from "../../components/model/approvals";
import { TYPES } from "../../components/model/types";
import { planProgram } from "../../components/program-plan";

export class LayerError extends Error {}

export interface LayerScope {
  /** Every URN the update may touch. */
  targets: string[];
  /** The layers' command and confirm steps, for --target-replace. */
  steps: string[];
}

export function layerTargets(cfg: StackConfig<unknown>, stack: string, keys: string[]): LayerScope {
  const plan = planProgram(cfg, { stack, project: "demesne", dryRun: true });
  const ctx = plan.context;
  const urns = new Set<string>();
  const steps = new Set<string>();
  const addStep = (s: StepSpec) => {
    const urn = stepIdentity(s, ctx).urn;
    urns.add(resourceUrn(stack, "demesne", [...s.parentTypes, TYPES.Actuator], s.name));
    for (const u of s.deadManSeconds !== undefined ? [urn, confirmStepName(urn)] : [urn]) {
      urns.add(u);
      steps.add(u);
    }
  };
  for (const key of keys) {
    const [host, layer, ...rest] = key.split("/");
    if (!host || !layer || rest.length > 0) throw new LayerError(`--layer ${key}: expected HOST/LAYER or HOST/SERVICE`);
    const steps = plan.hostSteps.get(host);
    const service = plan.services.find((s) => s.service.host === host && s.service.name === layer);
    if (service) {
      urns.add(resourceUrn(stack, "demesne", [TYPES.Service], service.service.name));
      addStep(service.step);
      continue;
    }
    if (!steps) throw new LayerError(`--layer ${key}: ${host} is not a host of stack ${stack} reached over SSH`);
    // A pending restore is `<host>/restore-<source>`, its approval key (one restore step per source).
    const restore = plan.restores.get(host)?.find((s) => s.name === `${host}-${layer}`);
    const i = steps.findIndex((s) => s.stepClass === layer);
    if (!restore && i < 0) {
      const restores = (plan.restores.get(host) ?? []).map((s) => s.name.slice(host.length + 1));
      throw new LayerError(`--layer ${key}: ${host} has no layer or service ${layer} (layers: ${[...steps.map((s) => s.stepClass), ...restores].join(", ")})`);
    }
    urns.add(resourceUrn(stack, "demesne", [TYPES.Host], host));
    addStep(restore ?? steps[i]!);
  }
  return { targets: [...urns], steps: [...steps] };
}
