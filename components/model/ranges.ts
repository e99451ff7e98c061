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

/**
 * A CIDR range in plain decimal prefix form. A leading zero is refused: iptables reads `/017` as octal
 * (a /15), so the range the config says and the range the firewall enforces would differ.
 */
export function parseCidr(value: string): Cidr | undefined {
    const [address, bits, ...rest] = value.split("/");
    if (rest.length > 0 || address === undefined || bits === undefined || !/^(0|[1-9]\d{0,2})$/.test(bits)) return undefined;
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

/** The network address of an IPv4 range: its address with the host bits cleared. */
export function networkOf(c: Cidr): string {
    if (c.family === 6) return c.address;
    const n = c.address.split(".").reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
    const masked = c.prefix === 0 ? 0n : (n >> BigInt(32 - c.prefix)) << BigInt(32 - c.prefix);
    return [24n, 16n, 8n, 0n].map((sh) => String((masked >> sh) & 255n)).join(".");
}

/** Ranges that carry IPv4 inside IPv6 (mapped, NAT64): their width is the IPv4 part's. */
const IPV4_IN_IPV6 = ["::ffff:0:0/96", "64:ff9b::/96"];

/** Why a range may not grant access (catch-all, wider than one organisation's network, or written so that
 *  a firewall would read it otherwise), or undefined. */
export function tooWideProblem(value: string): string | undefined {
    const c = parseCidr(value);
    if (!c) return "expected a CIDR range such as 198.51.100.0/24 (a decimal prefix, no leading zero)";
    if (c.family === 4 && networkOf(c) !== c.address) return `${value} has host bits set: write it as ${networkOf(c)}/${c.prefix}`;
    if (c.family === 6 && IPV4_IN_IPV6.some((r) => cidrWithin(value, r))) {
        if (c.prefix < 96 + MIN_PREFIX[4]) return `${value} carries IPv4 inside IPv6 and spans more than an IPv4 /${MIN_PREFIX[4]}: name the IPv4 range instead`;
    }
    if (c.prefix === 0) return `${value} is every ${c.family === 4 ? "IPv4" : "IPv6"} address: name the range people connect from`;
    if (c.prefix < MIN_PREFIX[c.family]) {
        return `${value} is wider than /${MIN_PREFIX[c.family]}, wider than one organisation's network: name the narrower range people connect from`;
    }
    return undefined;
}

/** Addresses that are not a host's public IPv4: private, shared (CGNAT, the tailnet's own), loopback, link-local, reserved. */
const NOT_PUBLIC_V4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3"];

/** Is this an IPv4 address the internet routes to (what OVH's edge firewall can guard)? */
export function isPublicIpv4(address: string): boolean {
    return isIP(address) === 4 && !NOT_PUBLIC_V4.some((r) => cidrWithin(`${address}/32`, r));
}

/** A loopback or private address (PRIVATE_RANGES, 127.0.0.0/8, ::1): never one the internet routes to. */
export function isPrivateOrLoopbackIp(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    const host = `${address}/${family === 4 ? 32 : 128}`;
    return [...PRIVATE_RANGES, "127.0.0.0/8", "::1/128"].some((r) => cidrWithin(host, r));
}

/** Why a range may not be trusted as a Docker subnet (it must be private), or undefined. */
export function dockerSubnetProblem(value: string): string | undefined {
    const c = parseCidr(value);
    if (!c) return "expected a CIDR range such as 172.17.0.0/16 (a decimal prefix, no leading zero)";
    if (!PRIVATE_RANGES.some((p) => cidrWithin(value, p))) {
        return `${value} is not a private range (${PRIVATE_RANGES.join(", ")}): Docker's networks live on the host itself, and a public range there would hide the real hosts that use it`;
    }
    return undefined;
}
