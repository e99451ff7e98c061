// One run's test host held by a process of its own, as a second run of the suite would hold it
// (test/host/concurrent.test.ts): starts a host named argv[2] through the helper, prints what up printed as
// one JSON line, and tears it down on "stop" or when its stdin closes. Killed instead, it leaves the host
// behind the way a crashed run does.
import { createInterface } from "node:readline";
import { startTestHost } from "../helpers/test-host";

async function main(): Promise<void> {
    const name = process.argv[2];
    if (!name) throw new Error("usage: node --import tsx test/host/hold-host.ts NAME");
    const host = await startTestHost(name);
    // JSON leaves the methods out.
    process.stdout.write(`${JSON.stringify({ ...host, owner: process.pid })}\n`);
    for await (const line of createInterface({ input: process.stdin })) {
        if (line === "stop") break;
    }
    await host.stop();
    process.stdout.write("stopped\n");
}

main().catch((e: unknown) => {
    process.stderr.write(`hold-host: ${(e as Error).message}\n`);
    process.exitCode = 1;
});
