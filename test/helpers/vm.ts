// A qemu VM with Debian's own kernel (test/host/vm.sh), for what needs a kernel the machine may not have
// (device-mapper, dm-crypt). A VM has a root disk that survives its boots (a qcow2 over the cached image) and
// raw data disks the test owns as plain files; each boot runs one job script and powers off.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const VM_SH = path.join(__dirname, "..", "host", "vm.sh");

/** Builds (once, cached) the VM image: Debian's kernel, an initramfs and the test host's rootfs as ext4. */
export function vmImage(): string {
    const r = spawnSync("bash", [VM_SH, "image"], { encoding: "utf8", timeout: 15 * 60_000 });
    if (r.status !== 0) throw new Error(`test/host/vm.sh image failed (exit ${r.status}):\n${r.stderr}`);
    return r.stdout.trim().split("\n").pop() as string;
}

export interface Boot {
    /** run.sh's exit code. */
    exit: number;
    /** run.sh's stdout and stderr. */
    output: string;
    /** Every file run.sh left in /run/out, by name. */
    files: Record<string, Buffer>;
    /** The serial console: the kernel's and run.sh's output. */
    console: string;
    /** Seconds from starting qemu to its exit, and from boot to the job's start as the guest measured it. */
    wallSeconds: number;
    bootSeconds: number;
}

export interface Vm {
    dir: string;
    /** A sparse raw disk file of `mb` megabytes, empty, for the data disks. */
    disk(name: string, mb: number): string;
    /** Boots with `disks` as /dev/vdb, /dev/vdc…; `files` are in the job's working directory next to run.sh. */
    boot(script: string, opts?: { disks?: string[]; files?: Record<string, string>; timeoutSeconds?: number }): Promise<Boot>;
    remove(): void;
}

export function createVm(prefix: string): Vm {
    const image = vmImage();
    const dir = mkdtempSync(path.join(tmpdir(), `demesne-${prefix}-`));
    const root = path.join(dir, "root.qcow2");
    const img = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", path.join(image, "root.img"), "-F", "raw", root], { encoding: "utf8" });
    if (img.status !== 0) throw new Error(`qemu-img create failed (apt-get install qemu-utils): ${img.stderr ?? img.error}`);
    let boots = 0;
    return {
        dir,
        disk(name, mb) {
            const file = path.join(dir, name);
            writeFileSync(file, "");
            spawnSync("truncate", ["-s", `${mb}M`, file]);
            return file;
        },
        async boot(script, opts = {}) {
            boots += 1;
            const job = path.join(dir, `job-${boots}`);
            mkdirSync(job);
            writeFileSync(path.join(job, "run.sh"), script);
            for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(path.join(job, name), text, { mode: 0o600 });
            const jobTar = path.join(dir, `job-${boots}.tar`);
            const tar = spawnSync("tar", ["-cf", jobTar, "-C", job, "."]);
            rmSync(job, { recursive: true, force: true }); // the job may hold a key: only its tar stays, removed with the VM
            if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
            const out = path.join(dir, `out-${boots}.img`);
            writeFileSync(out, "");
            spawnSync("truncate", ["-s", "32M", out]);
            const timeout = opts.timeoutSeconds ?? 300;
            const started = Date.now();
            const console = await new Promise<string>((resolve, reject) => {
                const p = spawn("bash", [VM_SH, "run", image, root, jobTar, out, String(timeout), ...(opts.disks ?? [])]);
                let text = "";
                p.stdout.on("data", (d: Buffer) => { text += d.toString("utf8"); });
                p.stderr.on("data", (d: Buffer) => { text += d.toString("utf8"); });
                p.on("error", reject);
                p.on("close", (code) => code === 0 ? resolve(text) : reject(new Error(`the VM exited with ${code} (124: it ran past ${timeout}s):\n${text}`)));
            });
            const wallSeconds = (Date.now() - started) / 1000;
            const outDir = path.join(dir, `out-${boots}`);
            mkdirSync(outDir);
            const untar = spawnSync("tar", ["-xf", out, "-C", outDir], { encoding: "utf8" });
            if (untar.status !== 0) throw new Error(`the VM left no output (did the job finish?):\n${console}`);
            const files: Record<string, Buffer> = {};
            for (const f of readdirSync(outDir)) files[f] = readFileSync(path.join(outDir, f));
            const num = (f: string) => Number((files[f] ?? "").toString().trim());
            return {
                exit: num("exit"), output: (files.output ?? "").toString(), files, console, wallSeconds, bootSeconds: num("job-start"),
            };
        },
        remove() { rmSync(dir, { recursive: true, force: true }); },
    };
}
