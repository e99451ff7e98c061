// `demesne observe`, `demesne drift` and `demesne baseline bless`. Hosts come from the stack file
// (address, SSH port and the pinned host key); the observer's key from --identity or DEMESNE_OBSERVER_KEY.
import { existsSync } from "node:fs";
import type { StackConfig } from "../components/config/load";
import { loadStackFile, stackFilePath } from "../components/config/stack-file";
import type { Store } from "../state-model/db/store";
import { blessBaseline, desiredFromBaseline } from "../state-model/drift/baseline";
import { desiredFromApplied, desiredFromConfig, desiredFromPlan, type DesiredState } from "../state-model/drift/desired";
import { computeDrift, hostStates, recordFindings, type ConvergeContext, type Finding } from "../state-model/drift/drift";
import { DEFAULT_IGNORE_FILE, loadIgnoreRules } from "../state-model/drift/ignore";
import { checkNesting } from "../state-model/ingest/parse";
import { decodeUtf8, DEFAULT_MAX_BYTES, readInputFile } from "../state-model/ingest/read";
import { DEFAULT_CONCURRENCY, DEFAULT_HOST_TIMEOUT_SECONDS, MAX_CONCURRENCY, observeFleet, progressStep } from "../state-model/observe/fleet";
import { recordObservation, type HostObservation, type ObserveTarget } from "../state-model/observe/observe";
import { int, str, type Parsed } from "./args";
import { EXIT, UsageError } from "./exit";
import { esc, shown } from "./escape";
import { note, table, type Output } from "./output";

export interface Stack {
  name: string;
  cfg: StackConfig<string>;
}

export function stackOf(p: Parsed): Stack {
  return loadStack(str(p, "stack"));
}

/** The stack named (else $PULUMI_STACK, else control) from its Pulumi.<stack>.yaml in the working directory. */
export function loadStack(given: string | undefined): Stack {
  const name = given ?? process.env.PULUMI_STACK ?? "control";
  const file = stackFilePath(name);
  if (!existsSync(file)) throw new UsageError(`no stack file Pulumi.${name}.yaml here (use --stack NAME in the project directory)`);
  return { name, cfg: loadStackFile(file) };
}

/**
 * --host a,b (default: every host of the stack that is reached over SSH). A Talos host is never reached over
 * SSH (praxis invariant 5), so it is never observed; naming one, or an unknown host, is a usage error.
 */
export function hostsOf(p: Parsed, stack: Stack): string[] {
  const ssh = stack.cfg.hosts.filter((h) => h.hostType === "ubuntu").map((h) => h.name);
  const want = str(p, "host")?.split(",").map((s) => s.trim()).filter(Boolean);
  if (!want) return ssh;
  for (const h of want) {
    const host = stack.cfg.hosts.find((x) => x.name === h);
    if (!host) throw new UsageError(`--host ${h}: not a host of stack ${stack.name} (hosts: ${stack.cfg.hosts.map((x) => x.name).join(", ")})`);
    if (host.hostType !== "ubuntu") throw new UsageError(`--host ${h}: a ${host.hostType} host is never reached over SSH, so it cannot be observed`);
  }
  return want;
}

function targetsOf(stack: Stack, hosts: string[]): ObserveTarget[] {
  return hosts.map((name) => {
    const i = stack.cfg.hosts.findIndex((h) => h.name === name);
    const h = stack.cfg.hosts[i]!;
    if (!h.hostKey) throw new UsageError(`demesne:hosts[${i}].hostKey is not set: observing never trusts a host key on first use`);
    return { name, address: h.address, port: h.sshPort, hostKey: h.hostKey };
  });
}

/** What the audit entry keeps of each host's observation. */
export type ObservedHost = Pick<HostObservation, "host" | "reachable" | "outputSha256">;

/** observe's flags, declared here beside the code that reads them. */
export const OBSERVE_VALUED = ["stack", "host", "identity", "actor", "concurrency", "host-timeout"];

export async function observe(p: Parsed, out: Output, store: Store, actor: string): Promise<{ code: number; observations: ObservedHost[] }> {
  const stack = stackOf(p);
  const identity = str(p, "identity") ?? process.env.DEMESNE_OBSERVER_KEY;
  if (!identity) throw new UsageError("the observer's private key is needed: --identity FILE or DEMESNE_OBSERVER_KEY");
  if (!existsSync(identity)) throw new UsageError(`--identity ${identity}: no such file`);
  const targets = targetsOf(stack, hostsOf(p, stack));
  const concurrency = int(p, "concurrency", 1, MAX_CONCURRENCY) ?? DEFAULT_CONCURRENCY;
  const timeoutMs = (int(p, "host-timeout", 1, 86_400) ?? DEFAULT_HOST_TIMEOUT_SECONDS) * 1000;
  const rows: Record<string, unknown>[] = [];
  // What the audit entry names per host; the observation itself is let go once recorded.
  const observations: ObservedHost[] = [];
  const step = progressStep(targets.length);
  const started = Date.now();
  // Each host is one SSH connection running the whole catalogue; its slot is held until it is recorded.
  await observeFleet(targets, { identity, timeoutMs, concurrency }, async (o, n) => {
    const r = await recordObservation(store, o, actor);
    observations.push({ host: o.host, reachable: o.reachable, outputSha256: o.outputSha256 });
    if (!o.reachable) note(shown`observed ${o.host} (${n}/${targets.length}): unreachable: ${o.error}`);
    else if (n % step === 0 || n === targets.length) note(step === 1 ? shown`observed ${o.host} (${n}/${targets.length})` : `observed ${n}/${targets.length} hosts (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    rows.push({
      host: o.host,
      reachable: o.reachable,
      probes: o.results.filter((x) => x.status === "ok").length,
      unavailable: o.results.filter((x) => x.status === "unavailable").map((x) => x.probe).join(",") || "-",
      failed: o.results.filter((x) => x.status === "failed").map((x) => `${x.probe} (${x.error})`).join(",") || "-",
      facts: o.results.reduce((s, x) => s + x.facts.length, 0),
      changed: r.factsAdded + r.factsClosed,
      error: o.error ?? null,
    });
  });
  rows.sort((a, b) => String(a.host).localeCompare(String(b.host)));
  if (out.json) out.data({ stack: stack.name, hosts: rows });
  else out.line(table(rows, ["host", "reachable", "probes", "unavailable", "failed", "facts", "changed"]));
  const bad = rows.some((r) => !r.reachable || r.failed !== "-");
  return { code: bad ? EXIT.refused : EXIT.ok, observations };
}

async function desiredOf(store: Store, against: string, stack: Stack): Promise<DesiredState> {
  if (against === "desired") return desiredFromConfig(stack.cfg, stack.name);
  if (against.startsWith("baseline:")) return desiredFromBaseline(store, against.slice(9));
  if (against === "applied") return desiredFromApplied(store, stack.cfg, stack.name);
  if (against.startsWith("plan:")) {
    const file = against.slice(5);
    let text: string;
    try {
      // A saved plan is engine output: read as the recorder reads it (a regular file, within its limits, UTF-8).
      text = decodeUtf8(readInputFile(file, DEFAULT_MAX_BYTES));
      checkNesting(text);
    } catch (e) {
      throw new UsageError(`--against ${esc(against)}: ${(e as Error).message}`);
    }
    return desiredFromPlan(text, file, stack.cfg, stack.name);
  }
  throw new UsageError(`--against must be desired, applied, plan:FILE or baseline:NAME (got '${against}')`);
}

function convergeContext(stack: Stack, against: string): ConvergeContext {
  return { stack: stack.name, baselineName: against.startsWith("baseline:") ? against.slice(9) : undefined };
}

export async function drift(p: Parsed, out: Output, store: Store, actor: string): Promise<number> {
  const stack = stackOf(p);
  const hosts = hostsOf(p, stack);
  const against = str(p, "against") ?? "desired";
  const ignore = loadIgnoreRules(str(p, "ignore") ?? DEFAULT_IGNORE_FILE, p.flags.has("ignore"));
  const desired = await desiredOf(store, against, stack);
  const states = await hostStates(store, hosts);
  const report = computeDrift(desired, states, ignore, convergeContext(stack, against));
  const findings = await recordFindings(store, report, hosts, { actor });
  if (out.json) {
    out.data({ stack: stack.name, source: report.source, summary: report.summary, notes: report.notes, findings });
  } else {
    const s = report.summary;
    out.line(shown`drift of stack ${stack.name} against ${report.source}: ${s.findings} finding${s.findings === 1 ? "" : "s"} on ${s.hosts} host${s.hosts === 1 ? "" : "s"}` +
      ` (changed ${s.changed}, missing ${s.missing}, unexpected ${s.unexpected}, violations ${s.violations}, unreachable ${s.unreachable}, ignored ${s.ignored})`);
    for (const n of report.notes) out.line(shown`  note: ${n}`);
    for (const f of findings) out.line(formatFinding(f));
  }
  return findings.length ? EXIT.refused : EXIT.ok;
}

const brief = (v: unknown) => (v === null || v === undefined ? "-" : esc(v));

/** A finding for people: host paths, observed values and the converge command all come from hosts or config, so each is escaped. */
export function formatFinding(f: Finding): string {
  return [
    `\n${shown`[${f.severity}] ${f.host} ${f.path.join(" ")}: ${f.change}`}${f.why ? shown` — ${f.why}` : ""}`,
    `  desired:    ${brief(f.desired)}`,
    `  observed:   ${brief(f.observed)}`,
    shown`  first seen: ${f.firstSeen ?? "now"}   tier to converge: ${f.tier ?? "-"}`,
    shown`  converge:   ${f.converge}`,
  ].join("\n");
}

export async function bless(p: Parsed, out: Output, store: Store, actor: string): Promise<number> {
  const name = p.positional[1];
  if (p.positional[0] !== "bless" || !name || p.positional.length > 2) throw new UsageError("usage: demesne baseline bless NAME [--stack S] [--host H,…] [--reason R]");
  const stack = stackOf(p);
  let r;
  try {
    r = await blessBaseline(store, name, hostsOf(p, stack), { actor, reason: str(p, "reason") });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (out.json) out.data(r);
  else out.line(shown`baseline ${name} blessed by ${actor}: ` + r.hosts.map((h) => shown`${h.host} (${h.facts} facts)`).join(", "));
  return EXIT.ok;
}
