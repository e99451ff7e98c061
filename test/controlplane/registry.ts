// A registry inside the control-plane host, on its loopback only (Debian's docker-registry, in the trixie
// rootfs): images are pushed to it and the service layer pulls them by the digest the registry answers with.
// Docker treats 127.0.0.0/8 registries as plain HTTP without any daemon setting.
import type { TestHost } from "../helpers/test-host";
import { must } from "./host";

export const REGISTRY = "127.0.0.1:5000";
const CONFIG = `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/demesne-test-registry
  delete:
    enabled: true
http:
  addr: ${REGISTRY}
`;
const MANIFEST_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
];

/** Starts the registry (once per host) and waits until it answers. */
export async function startRegistry(host: TestHost): Promise<void> {
    await host.writeFile("/etc/demesne-test/registry.yml", CONFIG, 0o600);
    await must(host, [
        `curl -fsS http://${REGISTRY}/v2/ > /dev/null 2>&1 && exit 0`,
        // Under systemd, Debian's own docker-registry service holds the port with its own storage: ours replaces it.
        "if [ -d /run/systemd/system ]; then systemctl disable --now --quiet docker-registry.service 2> /dev/null || true; fi",
        "setsid -f docker-registry serve /etc/demesne-test/registry.yml > /var/log/demesne-test-registry.log 2>&1 < /dev/null",
        `for i in $(seq 100); do curl -fsS http://${REGISTRY}/v2/ > /dev/null 2>&1 && exit 0; sleep 0.2; done`,
        "echo 'docker-registry did not answer within 20 s:' >&2; cat /var/log/demesne-test-registry.log >&2; exit 1",
    ].join("\n"));
}

/** The registry's digest for repo:tag (its Docker-Content-Digest header), never one computed here. */
export async function registryDigest(host: TestHost, repo: string, tag: string): Promise<string> {
    const accept = MANIFEST_TYPES.map((t) => `-H 'Accept: ${t}'`).join(" ");
    const headers = await must(host, `curl -fsS -I ${accept} http://${REGISTRY}/v2/${repo}/manifests/${tag}`);
    const digest = headers.match(/^docker-content-digest:\s*(sha256:[0-9a-f]{64})\s*$/im)?.[1];
    if (!digest) throw new Error(`the registry gave no digest for ${repo}:${tag}:\n${headers}`);
    return digest;
}

/**
 * Pushes a local image as REGISTRY/repo:tag, then removes every local name for it, so that a container can
 * only get it by pulling; returns `REGISTRY/repo@sha256:…`.
 */
export async function pushByDigest(host: TestHost, localRef: string, repo: string, tag: string): Promise<string> {
    const remote = `${REGISTRY}/${repo}:${tag}`;
    await must(host, `docker tag ${localRef} ${remote} && docker push -q ${remote} > /dev/null`, 300_000);
    const ref = `${REGISTRY}/${repo}@${await registryDigest(host, repo, tag)}`;
    await must(host, `docker rmi ${remote} ${localRef} > /dev/null`);
    return ref;
}
