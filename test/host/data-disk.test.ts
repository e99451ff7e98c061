// Encryption at rest, on a real kernel with dm-crypt: the data-disk layer in a qemu VM booting Debian's own
// kernel (test/host/vm.sh; the machine's kernel may have no device-mapper at all). The data disks are plain
// files on the machine, so what the layer wrote can be read from outside, byte for byte, as a thief would.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeParams } from "../../components/actuator/wire";
import { layerScript } from "../../components/host/scripts";
import { DATA_DISK } from "../../components/model/backup";
import { keyPair, layerParams, writeStackFile } from "../helpers/configured-host";
import { createVm, type Boot, type Vm } from "../helpers/vm";

const KEY = `demesne-test-key-${randomBytes(12).toString("hex")}`;
const WRONG_KEY = `demesne-wrong-key-${randomBytes(12).toString("hex")}`;
const SENTINEL = `demesne-sentinel-${randomBytes(12).toString("hex")}`;
const LUKS_HEADER_MB = 16;

/** The layer's params as the program plans them for a host whose dataDisk is `device`, the key as demesne:secrets holds it. */
const params = (device: string, key: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), "demesne-data-disk-"));
    const file = writeStackFile(dir, "d", [{
        name: "vm", address: "10.0.0.2", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbWVzbmUtZGF0YS1kaXNrLXRlc3Q=", bootstrapUser: "admin",
        dataDisk: { device },
    }], { observerPub: keyPair(dir, "observer").pub, adminRange: "10.0.0.0/30" });
    return encodeParams({ ...layerParams(file, "d", "vm")("data-disk"), KEY: key });
};
const DOCKER = DATA_DISK.binds[0];

/** The job's shell functions: `layer PARAMS N` runs the layer as the runner does (params on stdin) into /run/out. */
const PRELUDE = `set -u
cd /run/job
layer() {
  local t0=$(cut -d' ' -f1 /proc/uptime)
  bash ./data-disk.sh < "$1" > "/run/out/layer-$2.out" 2> "/run/out/layer-$2.err"; echo $? > "/run/out/layer-$2.rc"
  echo "run $2 ($1 key): $(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s" >> /run/out/layer-seconds
}
header() { head -c ${LUKS_HEADER_MB}M "$1" | sha256sum | cut -c1-64; }
`;
const files = (extra: Record<string, string>) => ({ "data-disk.sh": layerScript("data-disk").text, ...extra });

const text = (b: Boot, f: string) => (b.files[f] ?? Buffer.alloc(0)).toString("utf8");
const run = (b: Boot, n: number) => ({ rc: Number(text(b, `layer-${n}.rc`).trim()), out: text(b, `layer-${n}.out`), err: text(b, `layer-${n}.err`) });
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const allOutput = (...boots: Boot[]) => boots.map((b) => `${b.console}\n${Object.values(b.files).map((x) => x.toString("utf8")).join("\n")}`).join("\n");
const timings: string[] = [];
afterAll(() => console.log(`data-disk VM timings:\n  ${timings.join("\n  ")}`));
const note = (what: string, b: Boot) => timings.push(
    `${what}: ${b.wallSeconds.toFixed(1)}s in qemu, job started ${b.bootSeconds}s after boot; ${text(b, "layer-seconds").trim().split("\n").join(", ")}`);

let vm: Vm;
let data: string;
let first: Boot;
let second: Boot;

describe("the data-disk layer on a kernel with dm-crypt", { timeout: 10 * 60_000 }, () => {
    beforeAll(async () => {
        vm = createVm("data-disk");
        data = vm.disk("data.img", 128);
        // First boot: a blank data disk. The first run is sampled: every process's argv and environment, as often as
        // the guest can, while the layer formats and opens the volume.
        first = await vm.boot(`${PRELUDE}
touch /run/sampling
( while [ -e /run/sampling ]; do cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2> /dev/null | tr '\\0' '\\n'; sleep 0.2; done | sort -u > /run/out/proc-sample ) &
layer good 1
rm /run/sampling; wait
layer good 2
cat sentinel > ${DOCKER}/sentinel
findmnt -rn -o TARGET,FSROOT,FSTYPE > /run/out/mounts
cryptsetup status ${DATA_DISK.mapper} > /run/out/status
cp /etc/fstab /etc/crypttab /etc/systemd/system/docker.service.d/demesne-data-disk.conf /run/out/
sync
`, { disks: [data], files: files({ good: params("/dev/vdb", KEY), sentinel: SENTINEL }) });
        note("first boot (format, open, mkfs, mount, bind; re-run)", first);
        // A reboot: the same root and data disks. The volume is locked; a wrong key first, then the operator's.
        second = await vm.boot(`${PRELUDE}
findmnt -rn -o TARGET > /run/out/mounts-at-boot
ls -A ${DOCKER} > /run/out/docker-at-boot
header /dev/vdb > /run/out/header-before
layer wrong 3
header /dev/vdb > /run/out/header-after
cryptsetup status ${DATA_DISK.mapper} > /dev/null 2>&1; echo $? > /run/out/status-after-wrong
layer good 4
cat ${DOCKER}/sentinel > /run/out/sentinel-read
layer good 5
layer wrong 6
findmnt -rn -o TARGET > /run/out/mounts-after-wrong
`, { disks: [data], files: files({ good: params("/dev/vdb", KEY), wrong: params("/dev/vdb", WRONG_KEY) }) });
        note("second boot (wrong key, unlock, re-run, wrong key while open)", second);
    }, 20 * 60_000);

    afterAll(() => vm?.remove());

    it("formats a blank disk as LUKS2 once, then opens, mounts and binds Docker's data onto it", () => {
        const r1 = run(first, 1);
        expect(r1.rc, r1.err).toBe(0);
        expect(r1.out.trim().split("\n").pop()).toBe("changed=true");
        expect(text(first, "status")).toMatch(/type:\s+LUKS2/);
        expect(text(first, "status")).toMatch(/device:\s+\/dev\/vdb/);
        const mounts = text(first, "mounts");
        expect(mounts).toContain(`${DATA_DISK.mountpoint} / ext4`);
        expect(mounts).toContain(`${DOCKER} /var-lib-docker ext4`);
        // The raw disk is LUKS from its first bytes (the header's magic) and holds nothing in the clear.
        expect(readFileSync(data).subarray(0, 6)).toEqual(Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]));
    });

    it("a re-run in the same boot changes nothing", () => {
        const r2 = run(first, 2);
        expect(r2.rc, r2.err).toBe(0);
        expect(r2.out.trim()).toBe("changed=false");
    });

    it("writes noauto fstab and crypttab entries and makes Docker require the binds (fail closed after a reboot)", () => {
        expect(text(first, "crypttab")).toMatch(new RegExp(`^${DATA_DISK.mapper} UUID=[0-9a-f-]{36} none luks,noauto,headless=true$`, "m"));
        expect(text(first, "fstab")).toMatch(new RegExp(`^/dev/mapper/${DATA_DISK.mapper} ${DATA_DISK.mountpoint} ext4 \\S*noauto\\S* 0 0$`, "m"));
        expect(text(first, "fstab")).toMatch(new RegExp(`^${DATA_DISK.mountpoint}/var-lib-docker ${DOCKER} none bind,noauto\\S* 0 0$`, "m"));
        expect(text(first, "demesne-data-disk.conf")).toMatch(new RegExp(`^RequiresMountsFor=${DOCKER}$`, "m"));
    });

    it("data written under Docker's directory is not on the data disk in the clear, nor on the root disk", () => {
        expect(readFileSync(data).includes(SENTINEL)).toBe(false);
        expect(readFileSync(path.join(vm.dir, "root.qcow2")).includes(SENTINEL)).toBe(false);
    });

    it("after a reboot the volume is locked and Docker's directory empty, until the layer unlocks it with the key", () => {
        expect(text(second, "mounts-at-boot")).not.toContain(DATA_DISK.mountpoint);
        expect(text(second, "docker-at-boot").trim()).toBe("");
        const r4 = run(second, 4);
        expect(r4.rc, r4.err).toBe(0);
        expect(r4.out.trim().split("\n").pop()).toBe("changed=true");
        expect(text(second, "sentinel-read")).toBe(SENTINEL);
        expect(run(second, 5).out.trim()).toBe("changed=false");
    });

    it("a wrong key fails clearly and changes nothing: the header is the same, the volume stays locked (or stays mounted)", () => {
        const r3 = run(second, 3);
        expect(r3.rc).not.toBe(0);
        expect(r3.err).toContain("the key in demesne:secrets does not open the LUKS volume on /dev/vdb");
        expect(r3.out.trim()).toBe("changed=false");
        expect(text(second, "header-after")).toBe(text(second, "header-before"));
        expect(text(second, "header-before")).toMatch(/^[0-9a-f]{64}\n$/);
        expect(text(second, "status-after-wrong").trim()).not.toBe("0"); // not open
        const r6 = run(second, 6);
        expect(r6.rc).not.toBe(0);
        expect(r6.err).toContain("does not open");
        expect(text(second, "mounts-after-wrong")).toContain(DOCKER);
    });

    it("the key is never in any process's argv or environment (sampled), nor in anything the layer printed", () => {
        const sample = text(first, "proc-sample");
        expect(sample).toContain("luksFormat"); // the sampler saw cryptsetup at work
        expect(sample).not.toContain(KEY);
        const printed = allOutput(first, second);
        expect(printed).toContain("changed=true");
        expect(printed).not.toContain(KEY);
        expect(printed).not.toContain(WRONG_KEY);
        expect(printed).not.toContain(Buffer.from(KEY).toString("base64"));
    });

});

describe("the data-disk layer refuses what it must not touch", { timeout: 10 * 60_000 }, () => {
    it("refuses a disk that holds a filesystem and a bind path with data on the root disk, touching neither disk", async () => {
        const other = createVm("data-disk-refuse");
        try {
            const ext4 = other.disk("ext4.img", 64);
            const mk = spawnSync("mke2fs", ["-q", "-F", "-t", "ext4", ext4], { encoding: "utf8" }); // vm.sh checked it is installed
            expect(mk.status, mk.stderr).toBe(0);
            const blank = other.disk("blank.img", 64);
            const before = sha(ext4);
            const b = await other.boot(`${PRELUDE}
layer ext4 7
findmnt -rn -o TARGET > /run/out/mounts-after-ext4
mkdir -p ${DOCKER} && echo image-layer > ${DOCKER}/existing
layer blank 8
wipefs --no-act --noheadings /dev/vdc > /run/out/blank-signatures
`, { disks: [ext4, blank], files: files({ ext4: params("/dev/vdb", KEY), blank: params("/dev/vdc", KEY) }) });
            note("refusals boot", b);
            const r7 = run(b, 7);
            expect(r7.rc).not.toBe(0);
            expect(r7.err).toContain("/dev/vdb holds ext4, not a LUKS volume: refusing to format it");
            expect(sha(ext4)).toBe(before);
            expect(text(b, "mounts-after-ext4")).not.toContain(DATA_DISK.mountpoint);
            const r8 = run(b, 8);
            expect(r8.rc).not.toBe(0);
            expect(r8.err).toContain(`${DOCKER} already holds data on the root disk`);
            expect(text(b, "blank-signatures")).toBe("");
            expect(readFileSync(blank).every((x) => x === 0)).toBe(true);
        } finally {
            other.remove();
        }
    });
});
