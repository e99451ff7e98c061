// A private link between two test hosts: a veth pair whose ends are moved straight into each host's network
// namespace, so they reach each other without this machine forwarding anything (its own namespace gets neither
// end). Used where one host is another's peer: a backup host's SFTP target.
import { runCommand, type TestHost } from "./test-host";

export interface HostLink {
    /** The addresses of each end: `a` inside the first host, `b` inside the second. */
    a: string;
    b: string;
    remove(): Promise<void>;
}

export async function linkHosts(first: TestHost, second: TestHost): Promise<HostLink> {
    // 10.252.<first index>.0/30: a lease's index is unique on the machine while its host is up.
    const net = `10.252.${first.index}`;
    const [ea, eb] = [`dml${first.index}a`, `dml${first.index}b`];
    const steps: string[][] = [
        ["link", "add", ea, "netns", first.netns, "type", "veth", "peer", "name", eb, "netns", second.netns],
        ["-n", first.netns, "addr", "add", `${net}.1/30`, "dev", ea],
        ["-n", second.netns, "addr", "add", `${net}.2/30`, "dev", eb],
        ["-n", first.netns, "link", "set", ea, "up"],
        ["-n", second.netns, "link", "set", eb, "up"],
    ];
    for (const args of steps) {
        const r = await runCommand("ip", args);
        if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
    }
    return {
        a: `${net}.1`,
        b: `${net}.2`,
        // Deleting one end deletes the pair; a host already gone took its end with it.
        remove: async () => { await runCommand("ip", ["-n", first.netns, "link", "del", ea]); },
    };
}
