// What a running container says about its host whatever the desired state: a port Docker publishes beyond
// loopback (Docker's NAT rules take those packets before UFW's INPUT chain sees them, so the host firewall
// does not stand in front of it; the program publishes services on loopback with tailscale serve in front),
// and an image run by a name that can change (a tag, not a digest). Facts come from the containers probe
// (`docker ps --format '{{json .}}'`, parsed in observe/parse.ts).
import { DIGEST_PINNED_IMAGE } from "../../components/model/compose";
import { isLoopback } from "../../components/model/ports";
import type { Severity } from "./owners";

export interface ContainerFactValue {
    image?: string;
    state?: string;
    /** Docker's Ports column split on ", ": `0.0.0.0:8090->80/tcp`, `:::8090->80/tcp`, `[::]:8090->80/tcp`, `80/tcp`. */
    ports?: string[];
}

/** The host side of each published port (`0.0.0.0:8090`), leaving out ports only exposed (`80/tcp`). */
export function publishedBindings(ports: readonly string[]): { address: string; port: string }[] {
    return ports.filter((p) => p.includes("->")).map((p) => {
        const host = p.slice(0, p.indexOf("->"));
        const i = host.lastIndexOf(":");
        // Docker 26 prints IPv6 as `:::8090`, later versions as `[::]:8090`.
        return { address: host.slice(0, i).replace(/^\[|\]$/g, ""), port: host.slice(i + 1) };
    });
}

/** A reference that always names the same image: `name@sha256:…`, or the image ID itself. */
export function pinnedByDigest(image: string): boolean {
    return DIGEST_PINNED_IMAGE.test(image) || /^sha256:[0-9a-f]{64}$/.test(image);
}

/** A finding whatever the source; only an `ignorable` one may be accepted by an ignore rule. */
export interface Violation {
    severity: Severity;
    why: string;
    ignorable?: boolean;
}

/** Why a container fact is a finding on its own, or undefined. Only a running container counts: a stopped one publishes nothing and runs nothing. */
export function containerViolation(value: ContainerFactValue): Violation | undefined {
    if (value.state !== "running") return undefined;
    const wide = publishedBindings(value.ports ?? []).filter((b) => !isLoopback(b.address));
    const reasons: string[] = [];
    if (wide.length) {
        const where = [...new Set(wide.map((b) => `${b.address || "all addresses"}:${b.port}`))].join(", ");
        reasons.push(`Docker publishes ${where}, past UFW (its NAT rules come first); publish on 127.0.0.1 and put tailscale serve in front`);
    }
    const image = value.image ?? "";
    if (!pinnedByDigest(image)) reasons.push(`runs ${image || "an unnamed image"} by a name that can change; pin it by digest (name@sha256:…)`);
    if (!reasons.length) return undefined;
    // Exposure is never acceptable; a tag may be (Coolify runs its own images by tag): an ignore rule can say so.
    return wide.length ? { severity: "critical", why: reasons.join("; ") } : { severity: "medium", why: reasons.join("; "), ignorable: true };
}
