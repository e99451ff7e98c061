// Watching a test host for a secret: a sampler inside the host copies every process's command line and
// environment every 20 ms into a file until stopped, and the test searches what it saw. A secret that
// appears in argv or in an environment is readable by other users and lands in logs and crash reports.
import { shellQuote, type TestHost } from "./test-host";

const SAMPLES = "/root/proc-samples";
const STOP = "/root/proc-samples.stop";

export async function startProcSampler(host: TestHost): Promise<void> {
    const loop = `while [ ! -e ${STOP} ]; do for p in /proc/[0-9]*; do ` +
        `printf '\\n== %s\\n' "$p"; cat "$p/cmdline" "$p/environ" 2>/dev/null; done >> ${SAMPLES}; sleep 0.02; done; rm -f ${STOP}`;
    const r = await host.exec(`rm -f ${SAMPLES} ${STOP}; setsid nohup bash -c ${shellQuote(loop)} > /dev/null 2>&1 < /dev/null & echo started`);
    if (r.code !== 0) throw new Error(`could not start the sampler on ${host.name}: ${r.stderr}`);
}

/** Stops the sampler and returns everything it saw (NULs kept: they separate argv and environ entries). */
export async function stopProcSampler(host: TestHost): Promise<string> {
    const r = await host.exec(`touch ${STOP}; for i in $(seq 100); do [ -e ${STOP} ] || break; sleep 0.05; done; cat ${SAMPLES}`, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`could not read the sampler's file on ${host.name}: ${r.stderr}`);
    return r.stdout;
}

/** The parts of an OpenSSH private key worth looking for: the PEM body's lines (a line is enough to betray it). */
export function privateKeyNeedles(pem: string): string[] {
    return pem.split("\n").map((l) => l.trim()).filter((l) => l.length >= 20 && !l.startsWith("-----"));
}
