import type { VertexKind } from "../facts/types";

/** `urn:pulumi:<stack>::<project>::<parent$type>::<name>` → its parts. */
export function parseUrn(urn: string): { stack: string; project: string; type: string; name: string } | undefined {
  const m = /^urn:pulumi:([^:]+)::([^:]+)::(.+?)::(.*)$/s.exec(urn);
  if (!m) return undefined;
  const qualified = m[3]!;
  return { stack: m[1]!, project: m[2]!, type: qualified.split("$").pop()!, name: m[4]! };
}

/** Which kind of vertex a resource of `type` is in the fleet model. */
export function vertexKindOf(type: string): VertexKind {
  if (type === "pulumi:pulumi:Stack") return "stack";
  if (type === "demesne:host:Host") return "host";
  if (type === "demesne:service:Service") return "service";
  if (type.startsWith("demesne:tailnet:") || type.startsWith("demesne:edge:") || type.startsWith("tailscale:") || type.startsWith("ovh:Ip/")) {
    return "network";
  }
  return "resource";
}
