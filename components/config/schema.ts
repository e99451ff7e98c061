// The stack config, validated once with zod before any resource is registered.
// Every message names what is wrong; the loader prefixes the key path (demesne:hosts[0].address).
import { isIP } from "node:net";
import { z } from "zod";
import { MODE_NAMES } from "../model/tiers";
import { isPrivateOrLoopbackIp, parseCidr } from "../model/ranges";
import { DATA_DISK_DEFAULT_SECRET } from "../model/backup";

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const SLUG = /^[a-z][a-z0-9-]{0,30}$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const DIGEST_PINNED = /^[a-z0-9./_:-]+@sha256:[0-9a-f]{64}$/;
/** A public key line as sshd prints it; ECDSA host keys are refused (HostKeyAlgorithms drops them). */
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|rsa-sha2-256|rsa-sha2-512) [A-Za-z0-9+/]+=*$/;
const AUTHORIZED_KEY = /^(ssh-ed25519|ssh-rsa|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( .*)?$/;
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

export function isIpv4(value: string): boolean {
    return isIP(value) === 4;
}

export function isCidr(value: string): boolean {
    return parseCidr(value) !== undefined;
}

const address = z.string().refine((v) => isIpv4(v) || (DNS_NAME.test(v) && !/^[\d.]+$/.test(v)), {
    message: "expected an IPv4 address or DNS name",
});
const cidr = z.string().refine(isCidr, { message: "expected a CIDR range such as 198.51.100.0/24 (a decimal prefix, no leading zero)" });
const slug = z.string().regex(SLUG, { message: "expected a lower-case name (a-z, 0-9, -), starting with a letter" });
const unixUser = z.string().regex(UNIX_USER, { message: "expected a Unix user name" });
const port = z.number().int().min(1).max(65535);

/** The tailnet's coordination server: https, or plain http only at a loopback or private address (a test's own). */
const controlUrl = z.string().refine((v) => {
    let u: URL;
    try {
        u = new URL(v);
    } catch {
        return false;
    }
    const plainOk = u.protocol === "http:" && isPrivateOrLoopbackIp(u.hostname.replace(/^\[|\]$/g, ""));
    return (u.protocol === "https:" || plainOk) && !u.username && !u.password && !u.search && !u.hash;
}, { message: "expected an https:// URL of the coordination server (http:// only at a loopback or private IP address), with no credentials, query or fragment" });

export const hostSchema = z.object({
    name: slug,
    address,
    /** The OVH public IPv4 the edge firewall protects; defaults to `address` when that is an IPv4. */
    publicIp: z.string().refine(isIpv4, { message: "expected an IPv4 address" }).optional(),
    /**
     * Whether OVH's edge firewall guards the host's public IPv4 (default true). A host without one (false)
     * relies on the host firewall alone, and says so here rather than by leaving out an address.
     */
    edgeFirewall: z.boolean().default(true),
    hostType: z.enum(["ubuntu", "talos"]).default("ubuntu"),
    sshPort: port.default(22),
    hostKey: z.string().regex(HOST_KEY, {
        message: "expected the host's public key as `ssh-ed25519 AAAA…` (no trust on first use)",
    }).optional(),
    bootstrapUser: unixUser.default("ubuntu"),
    deadManSeconds: z.number().int().min(30).max(1800).default(120),
    /** A GPU host gets the dormant nvidia and worker layers when demesne:gpuTier is on. */
    gpu: z.boolean().default(false),
    /**
     * A separate, empty data disk for Docker's data, encrypted with LUKS by the data-disk layer. The key is the
     * entry of demesne:secrets `keySecret` names, held off-host: after a reboot the layer must run to unlock it.
     */
    dataDisk: z.object({
        device: z.string().regex(/^\/dev\/(disk\/by-id\/[A-Za-z0-9._:-]+|[a-z]+[a-z0-9]*)$/, {
            message: "expected a block device such as /dev/sdb or /dev/disk/by-id/…",
        }),
        keySecret: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/).default(DATA_DISK_DEFAULT_SECRET),
    }).strict().optional(),
}).strict();

export const secretRef = z.string().regex(/^(secret|providerKey):[A-Za-z][A-Za-z0-9_-]*$/, {
    message: "expected `secret:<name>` (from demesne:secrets) or `providerKey:<name>` (from demesne:providerKeys)",
});

const publishedPort = z.object({
    bind: z.string().default("127.0.0.1"),
    hostPort: port,
    containerPort: port,
}).strict();

const serviceBase = {
    name: slug,
    host: slug,
    enabled: z.boolean().default(true),
    personalData: z.boolean().default(false),
    /** The data-handling document a service touching personal data must name (a path under policy/). */
    dataHandlingDoc: z.string().optional(),
    env: z.record(z.string().regex(ENV_NAME, { message: "expected an upper-case env name" }), z.string()).default({}),
    secretEnv: z.record(z.string().regex(ENV_NAME, { message: "expected an upper-case env name" }), secretRef).default({}),
    /** Tailnet HTTPS port `tailscale serve` exposes the service on (none: not exposed). */
    servePort: port.optional(),
};

const image = z.string().regex(DIGEST_PINNED, {
    message: "must be pinned by digest (name@sha256:<64 hex>)",
});

export const modelSchema = z.object({
    name: z.string().min(1),
    model: z.string().min(1),
    /** Which entry of demesne:providerKeys this model's calls use. */
    providerKey: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/),
}).strict();

export const serviceSchema = z.discriminatedUnion("kind", [
    z.object({
        ...serviceBase,
        kind: z.literal("gateway"),
        image,
        postgresImage: image,
        models: z.array(modelSchema).min(1, { message: "the gateway needs at least one model in its allowlist" }),
        ports: z.array(publishedPort).default([{ bind: "127.0.0.1", hostPort: 4000, containerPort: 4000 }]),
        trustTier: z.enum(["team", "admin"]).default("team"),
    }).strict(),
    z.object({
        ...serviceBase,
        kind: z.literal("open-webui"),
        image,
        gateway: slug.default("gateway"),
        ports: z.array(publishedPort).default([{ bind: "127.0.0.1", hostPort: 3000, containerPort: 8080 }]),
        trustTier: z.enum(["team", "admin"]).default("team"),
    }).strict(),
    z.object({
        ...serviceBase,
        kind: z.literal("inference"),
        image,
        ports: z.array(publishedPort).default([{ bind: "127.0.0.1", hostPort: 11434, containerPort: 11434 }]),
        trustTier: z.enum(["team", "admin"]).default("admin"),
    }).strict(),
    z.object({
        ...serviceBase,
        kind: z.literal("custom"),
        image,
        ports: z.array(publishedPort).default([]),
        volumes: z.array(z.string().regex(/^[a-z0-9_-]+:\/[^:]*$/, { message: "expected `<volume>:/path`" })).default([]),
        trustTier: z.enum(["team", "admin"]),
    }).strict(),
]);

const BACKUP_PATH = /^\/[A-Za-z0-9._/-]*$/;

/** Where restic keeps each host's repository (`<path>/<host>`): an SFTP account, or an S3-compatible bucket. */
export const backupSchema = z.object({
    target: z.discriminatedUnion("kind", [
        z.object({
            kind: z.literal("sftp"),
            host: address,
            port: port.default(22),
            user: unixUser,
            path: z.string().regex(BACKUP_PATH, { message: "expected an absolute path on the target (a-z, 0-9, . _ / -)" }),
            /** The target's host key, pinned: no trust on first use, as for the hosts. */
            hostKey: z.string().regex(HOST_KEY, { message: "expected the target's public host key as `ssh-ed25519 AAAA…`" }),
        }).strict(),
        z.object({
            kind: z.literal("s3"),
            /** https://s3.<region>.io.cloud.ovh.net, say (http:// only at a loopback or private IP address): an origin only. */
            endpoint: controlUrl.refine((v) => /^[a-z0-9:/.[\]-]+$/i.test(v) && v.replace(/\/$/, "") === new URL(v).origin, {
                message: "expected the endpoint's origin only (scheme, host and port: no path, no other characters)",
            }),
            bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: "expected an S3 bucket name" }),
            path: z.string().regex(BACKUP_PATH, { message: "expected a key prefix such as /demesne" }).default("/demesne"),
            accessKeyId: z.string().regex(/^[A-Za-z0-9]{8,128}$/, { message: "expected the access key id (letters and digits)" }),
        }).strict(),
    ]),
    /** Back up tailscale's node state too (restoring it keeps the node's identity on a replacement host). */
    tailscaleState: z.boolean().default(false),
}).strict();

/** One pending restore: a service's data (or `etc`, `coolify`, `tailscale`) from a named snapshot. */
export const restoreSchema = z.object({
    host: slug,
    /** A source name from the host's backups (components/model/backup-sources.ts). */
    service: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, { message: "expected a backed-up source's name" }),
    snapshot: z.string().regex(/^[0-9a-f]{8,64}$/, { message: "expected a restic snapshot id (8 to 64 hex digits)" }),
    /** The host the snapshot was taken on, when restoring onto a replacement (default: the same host). */
    fromHost: slug.optional(),
    /** When the request was made (`demesne restore` writes it): each request is its own step, approval and run. */
    requested: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, { message: "expected a UTC time such as 2026-12-06T21:00:00Z" }).optional(),
}).strict();

export const configSchema = z.object({
    mode: z.enum(MODE_NAMES as [string, ...string[]]).default("operate"),
    killSwitch: z.boolean().default(false),
    gpuTier: z.boolean().default(false),
    hosts: z.array(hostSchema).min(1, { message: "declare at least one host" }),
    deployUser: unixUser.default("deploy"),
    adminUsers: z.array(unixUser).default([]),
    adminRanges: z.array(cidr).min(1, { message: "declare the admin range SSH may come from" }),
    dockerSubnets: z.array(cidr).default(["172.17.0.0/16"]),
    sshPublicKeys: z.array(z.string().regex(AUTHORIZED_KEY, { message: "expected an OpenSSH public key line" }))
        .min(1, { message: "the deploy user needs at least one public key" }),
    /** The observer's public keys (`demesne observe`): forced onto the read-only probe script. */
    observerPublicKeys: z.array(z.string().regex(AUTHORIZED_KEY, { message: "expected an OpenSSH public key line" })).default([]),
    /** Keys sshd refuses even where an authorized_keys file still lists them (`RevokedKeys`, the ssh layer). */
    revokedSshKeys: z.array(z.string().regex(AUTHORIZED_KEY, { message: "expected an OpenSSH public key line" })).default([]),
    /** The hardening layer's choices (components/model/hardening.ts holds what it sets). */
    hardening: z.object({
        /** Load the audit rules immutable (`-e 2`): from then on only a reboot changes them. */
        auditImmutable: z.boolean().default(false),
        /** How many rotated audit logs auditd keeps (each up to 50 MB) before the oldest goes. */
        auditLogFiles: z.number().int().min(2).max(99).default(10),
    }).strict().prefault({}),
    tailnet: z.object({
        admins: z.array(z.string().email({ message: "expected a tailnet login (an email address)" })).min(1),
        authKeyExpirySeconds: z.number().int().min(300).max(7776000).default(3600),
        directUdp: z.boolean().default(false),
        /** sha256 of Tailscale's apt signing key (pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg). */
        aptKeySha256: z.string().regex(/^[0-9a-f]{64}$/, { message: "expected the apt key's sha256 (64 hex)" }),
        /** The coordination server nodes log in to (`tailscale up --login-server`); unset: Tailscale's own. */
        controlUrl: controlUrl.optional(),
    }).strict(),
    coolify: z.object({
        enabled: z.boolean().default(true),
        host: slug,
        rootUsername: unixUser.default("admin"),
        rootEmail: z.string().email({ message: "expected the admin's email address" }),
        installerUrl: z.string().url().default("https://cdn.coollabs.io/coolify/install.sh"),
        installerSha256: z.string().regex(/^[0-9a-f]{64}$/, { message: "expected the installer's sha256 (64 hex)" }),
        servePort: port.default(8443),
    }).strict().optional(),
    services: z.array(serviceSchema).default([]),
    /** Encrypted, scheduled backups with restic (components/model/backup.ts); unset: none. */
    backup: backupSchema.optional(),
    /** Pending restores (`demesne restore` adds one): each is a T3 step that overwrites one service's data. */
    restores: z.array(restoreSchema).default([]),
    approvals: z.record(z.string(), z.string()).default({}),
}).strict();

export type HostConfig = z.infer<typeof hostSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type PlainConfig = z.infer<typeof configSchema>;

/** Config keys that carry credentials: each must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = ["sshPrivateKey", "providerKeys", "secrets"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

export const secretsSchema = {
    sshPrivateKey: z.string().regex(/^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----\s*$/, {
        message: "expected a PEM/OpenSSH private key",
    }),
    providerKeys: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/), z.string().min(1)),
    secrets: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/), z.string().min(1)),
} as const;
