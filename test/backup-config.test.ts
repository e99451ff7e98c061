// The backup and restore config as the program and `demesne plan` read it: what is refused (with the key's path),
// what a restore request becomes (a T3 step, approved per request, known to the plan review), and that nothing
// from the config can start a new line in the files the layer writes.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stepIdentity } from "../components/actuator/steps";
import { loadStackFile } from "../components/config/stack-file";
import { backupSchema } from "../components/config/schema";
import { planProgram } from "../components/program";
import { hostRepositoryPassword, renderBackupConf } from "../components/render/backup";
import { reviewPlan } from "../state-model/apply/plan-review";
import { keyPair, writeStackFile } from "./helpers/configured-host";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbWVzbmUtYmFja3VwLWNvbmZpZy10ZXN0";
const SFTP = { kind: "sftp", host: "10.0.0.9", user: "restic", path: "/srv/restic", hostKey: HOST_KEY };
const dir = mkdtempSync(path.join(tmpdir(), "demesne-backup-config-"));
const observerPub = keyPair(dir, "observer").pub;
let n = 0;

function stack(extra: Record<string, unknown>, services: object[] = []): string {
    const name = `b${n++}`;
    writeStackFile(dir, name, [{ name: "h1", address: "10.0.0.2", hostKey: HOST_KEY, bootstrapUser: "admin" }],
        { observerPub, adminRange: "10.0.0.0/30", services, extra: { "demesne:backup": { target: SFTP }, ...extra } });
    return name;
}
const load = (name: string) => loadStackFile(path.join(dir, `Pulumi.${name}.yaml`));
const problems = (name: string): string => {
    try {
        load(name);
        return "";
    } catch (e) {
        return (e as Error).message;
    }
};
const request = (o: object = {}) => ({ host: "h1", service: "etc", snapshot: "0a1b2c3d", requested: "2026-12-06T21:00:00Z", ...o });
const IMAGE = `img@sha256:${"a".repeat(64)}`;

describe("backup config", () => {
    it("refuses an S3 endpoint that is more than an origin, and renders no value that starts a new line", () => {
        const s3 = { kind: "s3", bucket: "demesne-backups", accessKeyId: "AKIAEXAMPLE123" };
        expect(backupSchema.safeParse({ target: { ...s3, endpoint: "https://s3.gra.io.cloud.ovh.net" } }).success).toBe(true);
        for (const endpoint of ["https://s3.example.com/\nRETENTION=--keep-last 1", "https://s3.example.com/path", "https://s3.example.com/?x=1"]) {
            expect(backupSchema.safeParse({ target: { ...s3, endpoint } }).success, endpoint).toBe(false);
        }
        expect(() => renderBackupConf({ kind: "s3", endpoint: "https://e", bucket: "b\nKIND=sftp", path: "/d", accessKeyId: "a" }, "h1"))
            .toThrow(/control character in REPOSITORY/);
    });

    it("refuses a service named like a host source or the restore prefix, and a restore of tailscale's state", () => {
        const svc = (name: string) => ({ name, kind: "custom", host: "h1", image: IMAGE, trustTier: "team", volumes: ["data:/data"] });
        expect(problems(stack({}, [svc("etc")]))).toContain('demesne:services[0].name: "etc" is reserved');
        expect(problems(stack({}, [svc("restore-x")]))).toContain('"restore-x" is reserved');
        const name = stack({ "demesne:backup": { target: SFTP, tailscaleState: true }, "demesne:restores": [request({ service: "tailscale" })] });
        expect(problems(name)).toContain("demesne:restores[0].service: tailscale's state is restored by hand");
        expect(problems(stack({ "demesne:restores": [request({ service: "chat" })] }))).toContain('h1 backs up no "chat"');
    });

    it("a restore request is a T3 step the program refuses until approved; a new request of the same snapshot needs a new approval", () => {
        const cfg = load(stack({ "demesne:restores": [request()] }));
        const plan = planProgram(cfg, { stack: "r", project: "demesne", dryRun: true });
        const step = plan.restores.get("h1")![0]!;
        expect(step.name).toBe("h1-restore-etc");
        expect(plan.missing.map((m) => m.key)).toContain("h1/restore-etc");
        expect(() => planProgram(cfg, { stack: "r", project: "demesne", dryRun: false })).toThrow('demesne:approvals["h1/restore-etc"]');
        const again = planProgram(load(stack({ "demesne:restores": [request({ requested: "2026-12-07T08:00:00Z" })] })), { stack: "r", project: "demesne", dryRun: true });
        const first = stepIdentity(step, plan.context);
        const second = stepIdentity(again.restores.get("h1")![0]!, again.context);
        expect(second.urn).toBe(first.urn);
        expect(second.token).not.toBe(first.token);
        // The repository password is a secret parameter: never in the step's hashed content.
        expect(step.secretParams).toEqual(["REPOSITORY_PASSWORD"]);
        expect(Object.keys(step.params)).not.toContain("REPOSITORY_PASSWORD");
    });

    it("demesne plan's review knows a restore step: T3, its class and host", () => {
        const name = stack({ "demesne:restores": [request()] });
        const cfg = load(name);
        const plan = planProgram(cfg, { stack: name, project: "demesne", dryRun: true });
        const urn = stepIdentity(plan.restores.get("h1")![0]!, plan.context).urn;
        const review = reviewPlan(JSON.stringify({ resourcePlans: { [urn]: { goal: { type: "command:remote:Command" }, steps: ["create"] } } }), cfg, name);
        expect(review.changes).toEqual([expect.objectContaining({ urn, stepClass: "restore", host: "h1", tier: "T3", op: "create" })]);
    });

    it("each host's repository password is its own, derived from the stack's one", () => {
        const a = hostRepositoryPassword("m".repeat(24), "h1");
        expect(a).toBe(hostRepositoryPassword("m".repeat(24), "h1"));
        expect(a).not.toBe(hostRepositoryPassword("m".repeat(24), "h2"));
        expect(a).not.toContain("m".repeat(24));
    });
});
