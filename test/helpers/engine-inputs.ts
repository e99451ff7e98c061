/** Small engine-shaped inputs for recorder tests (the real engine's own output is in test/fixtures/engine). */
export const STACK = "control";
export const urn = (type: string, name: string) => `urn:pulumi:${STACK}::demesne::${type}::${name}`;
export const ACL = urn("tailscale:index/acl:Acl", "tailnet-policy");
export const STACK_URN = urn("pulumi:pulumi:Stack", "demesne-control");
export const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };

export function events(ts: number, lines: Record<string, unknown>[]): string {
  return `${lines.map((l, i) => JSON.stringify({ sequence: i, timestamp: ts + i, ...l })).join("\n")}\n`;
}

export function aclUpdate(ts: number, opts: { admin: string; sentinel: string; withSummary?: boolean; acl?: string }): string {
  const inputs = { acl: opts.acl ?? JSON.stringify({ groups: { "group:admins": [opts.admin] } }) };
  const state = {
    type: "tailscale:index/acl:Acl",
    id: "acl",
    inputs,
    outputs: { ...inputs, authKey: { ...SECRET, plaintext: JSON.stringify(opts.sentinel) }, apiToken: opts.sentinel, note: `joined with tskey-auth-${opts.sentinel}` },
    parent: STACK_URN,
  };
  const meta = { op: "create", urn: ACL, type: "tailscale:index/acl:Acl", new: state, provider: "" };
  return events(ts, [
    { preludeEvent: { config: { "demesne:sshPrivateKey": "[secret]" } } },
    { resourcePreEvent: { metadata: { op: "create", urn: STACK_URN, type: "pulumi:pulumi:Stack", provider: "" } } },
    { resourcePreEvent: { metadata: meta } },
    { resOutputsEvent: { metadata: meta } },
    ...(opts.withSummary === false ? [] : [{ summaryEvent: { resourceChanges: { create: 2 }, isPreview: false, durationSeconds: 2, result: "succeeded" } }]),
  ]);
}

export function stackExport(time: string, resources: Record<string, unknown>[]): string {
  return JSON.stringify(
    { version: 3, deployment: { manifest: { time, magic: "m", version: "v3.274.1" }, secrets_providers: { type: "passphrase" }, resources, pending_operations: [] } },
    null,
    2,
  );
}
