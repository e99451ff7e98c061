// What a source range may be where it grants access (SSH from the admin ranges, trusted Docker subnets),
// and the CIDR arithmetic the effective-access model needs. One home for "too wide": the config
// validator, the outcome model and the policy pack all read it. Dependency-free (node:net only).
import { BlockList, isIP } from "node:net";

/**
 * The widest prefix that can still mean one organisation's network. An office or a VPN egress is a /24
 * or a few; a /16 is a campus. Anything wider is a provider's or the world's (IPv6: a /48 is one site).
 */
export const MIN_PREFIX: Readonly<Record<4 | 6, number>> = { 4: 16, 6: 48 };

/** Ranges that can hold Docker's networks: private IPv4 (RFC 1918) and unique-local IPv6 (RFC 4193). */
export const PRIVATE_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

export interface Cidr {
    address: string;
    prefix: number;
    family: 4 | 6;
}

export function parseCidr(value: string): Cidr | undefined {
    const [address, bits, ...rest] = value.split("/");
    if (rest.length > 0 || address === undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return undefined;
    const family = isIP(address);
    const prefix = Number(bits);
    if (family === 4 && prefix <= 32) return { address, prefix, family: 4 };
    if (family === 6 && prefix <= 128) return { address, prefix, family: 6 };
    return undefined;
}

/** Is every address of `inner` inside `outer`? */
export function cidrWithin(inner: string, outer: string): boolean {
    const a = parseCidr(inner);
    const b = parseCidr(outer);
    if (!a || !b || a.family !== b.family || a.prefix < b.prefix) return false;
    const list = new BlockList();
    const type = b.family === 4 ? "ipv4" : "ipv6";
    list.addSubnet(b.address, b.prefix, type);
    return list.check(a.address, type);
}

/** The whole address space of a family: what "from anywhere" means. */
export function anywhere(family: 4 | 6): string {
    return family === 4 ? "0.0.0.0/0" : "::/0";
}

/** Why a range may not grant access (catch-all or wider than one organisation's network), or undefined. */
export function tooWideProblem(value: string): string | undefined {
    const c = parseCidr(value);
    if (!c) return "expected a CIDR range such as 198.51.100.0/24";
    if (c.prefix === 0) return `${value} is every ${c.family === 4 ? "IPv4" : "IPv6"} address: name the range people connect from`;
    if (c.prefix < MIN_PREFIX[c.family]) {
        return `${value} is wider than /${MIN_PREFIX[c.family]}, wider than one organisation's network: name the narrower range people connect from`;
    }
    return undefined;
}

/** Why a range may not be trusted as a Docker subnet (it must be private), or undefined. */
export function dockerSubnetProblem(value: string): string | undefined {
    const c = parseCidr(value);
    if (!c) return "expected a CIDR range such as 172.17.0.0/16";
    if (!PRIVATE_RANGES.some((p) => cidrWithin(value, p))) {
        return `${value} is not a private range (${PRIVATE_RANGES.join(", ")}): DOCKER-USER trusts it as a source, so it would let that range reach every container`;
    }
    return undefined;
}
