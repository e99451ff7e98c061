// The gateway's database for real: a PostgreSQL image built on the control-plane test host from Debian's
// package (postgres-image.ts), run as the gateway service's `db` container by the program's service layer, as
// service.test.ts deploys it (the LiteLLM stand-in beside it). What the restore drill (issue #18) relies on:
// the official image's env contract, password-only TCP, data that outlives the container, and pg_dump /
// pg_restore round-tripping a table's checksum.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyPair, layerParams, runLayer, serviceParams, writeStackFile, type SecretValues } from "../helpers/configured-host";
import { DEBIAN_DOCKER_PACKAGES, must, startControlPlaneHost, type ControlPlaneHost } from "./host";
import { buildPostgresImageTimed, psql, tableChecksum, waitForPostgres, type PostgresImage } from "./postgres-image";
import { pushByDigest, startRegistry } from "./registry";
import { buildStandinBinary, importStandinImages } from "./standins";

const NAME = "cppg";
const DB = "gateway-db-1";
const work = mkdtempSync(path.join(tmpdir(), "demesne-controlplane-pg-"));
const hex = (n: number) => randomBytes(n).toString("hex");
const VALUES: SecretValues = {
    providerKeys: { openai: `sk-provider-${hex(16)}` },
    secrets: { gatewayMasterKey: `sk-master-${hex(16)}`, gatewaySaltKey: hex(32), gatewayDbPassword: hex(24) },
};
let host: ControlPlaneHost;
let image: PostgresImage;
let gatewayImage: string;
let observerPub: string;

/** A stack with the gateway on the host, its database from postgresImage; the file's path. */
function stack(name: string, gateway: string, postgresImage: string): string {
    writeStackFile(work, name, [{ name: NAME, address: host.address, hostKey: host.hostKey, bootstrapUser: "admin" }], {
        observerPub, adminRange: host.network,
        services: [{
            name: "gateway", kind: "gateway", host: NAME, image: gateway, postgresImage,
            models: [{ name: "gpt-4o-mini", model: "openai/gpt-4o-mini", providerKey: "openai" }],
        }],
    });
    return path.join(work, `Pulumi.${name}.yaml`);
}

/**
 * psql from a container of its own on the gateway's internal network, reaching the database by its service
 * name over TCP; PGPASSWORD (when given) in an env file, never in argv. Exit code and output.
 */
async function psqlOverTcp(password: string | undefined, sql: string) {
    await host.writeFile("/root/pg-client.env", password === undefined ? "" : `PGPASSWORD=${password}\n`, 0o600);
    return host.exec(`docker run --rm --network gateway_internal --env-file /root/pg-client.env --entrypoint psql ${image.ref} ` +
        `-h db -U litellm -d litellm -w -X -A -t -c ${JSON.stringify(sql)}`, { timeoutMs: 60_000 });
}
const state = async (c: string) => (await must(host, `docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' ${c}`)).trim();
async function waitExited(c: string, ms = 30_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
        const s = await state(c);
        if (s.startsWith("exited") || Date.now() > deadline) return s;
        await new Promise((done) => setTimeout(done, 300));
    }
}

beforeAll(async () => {
    host = await startControlPlaneHost(NAME);
    observerPub = keyPair(work, "observer").pub;
    const unused = `unused@sha256:${"0".repeat(64)}`;
    const params = layerParams(stack("base", unused, unused), "base", NAME);
    expect(await runLayer(host, "docker", { ...params("docker"), PACKAGES: DEBIAN_DOCKER_PACKAGES })).toBe("changed=true");
    // The host has no tailnet: the stand-in CLI takes the layer's `tailscale serve` for the gateway's port.
    await host.writeFile("/usr/local/bin/tailscale", readFileSync(path.join(__dirname, "tailscale-standin.sh"), "utf8"), 0o755);
    await startRegistry(host);
    const standins = await importStandinImages(host, await buildStandinBinary());
    gatewayImage = await pushByDigest(host, standins.gateway, "demesne-test/gateway", "1");
    image = await buildPostgresImageTimed(host);
    const t = Date.now();
    const again = await buildPostgresImageTimed(host);
    console.log(`postgres image ${image.ref}: ${image.kib} KiB assembled and imported in ${image.seconds.build} s, pushed in ` +
        `${image.seconds.push} s; a second call on the same host: ${(Date.now() - t) / 1000} s (${again.ref === image.ref ? "same digest" : "NEW DIGEST"})`);
    expect(again.ref).toBe(image.ref);
}, 1_200_000);

afterAll(async () => {
    await host?.stop();
});

describe("the PostgreSQL image built from Debian's package", () => {
    it("is Debian's PostgreSQL 17 with only what it needs: no apt, docker, sshd or systemd, under 150 MB", async () => {
        expect(image.ref).toMatch(/^127\.0\.0\.1:5000\/demesne-test\/postgres-debian@sha256:[0-9a-f]{64}$/);
        expect(await must(host, `docker run --rm --entrypoint postgres ${image.ref} -V`)).toMatch(/^postgres \(PostgreSQL\) 17\.\d+ \(Debian/);
        const absent = "for f in /usr/bin/apt /usr/bin/dockerd /usr/sbin/sshd /usr/lib/systemd /usr/bin/bash /usr/bin/perl; do [ -e $f ] && echo $f; done; true";
        expect(await must(host, `docker run --rm --entrypoint sh ${image.ref} -c '${absent}'`)).toBe("");
        expect(Number(await must(host, `docker image inspect -f '{{.Size}}' ${image.ref}`))).toBeLessThan(150e6);
    });

    it("refuses to initialise a database without a password, as the official image does", async () => {
        const r = await host.exec(`docker run --rm -e POSTGRES_USER=litellm ${image.ref}`, { timeoutMs: 60_000 });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("POSTGRES_PASSWORD is empty");
    });
});

describe("as the gateway's db, deployed by the service layer", { timeout: 300_000 }, () => {
    it("runs from its registry digest as the postgres user, with the user and database the compose file names", async () => {
        const file = stack("pg", gatewayImage, image.ref);
        expect(await runLayer(host, "service", await serviceParams(file, "pg", "gateway", VALUES))).toBe("changed=true");
        expect(await must(host, `docker inspect -f '{{.Config.Image}} {{.State.Running}}' ${DB}`)).toBe(`${image.ref} true\n`);
        await waitForPostgres(host, DB);
        const pid = (await must(host, `docker inspect -f '{{.State.Pid}}' ${DB}`)).trim();
        expect(await must(host, `cat /proc/${pid}/comm; stat -c %u /proc/${pid}`)).toBe("postgres\n999\n");
        expect(await psql(host, DB, "select current_user, current_database(), current_setting('port');")).toBe("litellm|litellm|5432\n");
        expect(await must(host, `docker inspect -f '{{range .Mounts}}{{.Name}} {{.Destination}}{{end}}' ${DB}`))
            .toBe("gateway_gateway-db /var/lib/postgresql/data\n");
    });

    it("the gateway is ready: it reached its database over TCP with SCRAM and the env file's password", async () => {
        const r = await must(host, "curl -sS --max-time 20 http://127.0.0.1:4000/health/readiness");
        expect(JSON.parse(r), r).toMatchObject({ db: "connected" });
    });

    it("over TCP it lets in the env file's password only: a wrong one and none are refused", async () => {
        const ok = await psqlOverTcp(VALUES.secrets.gatewayDbPassword, "select current_user");
        expect(ok.stdout + ok.stderr).toBe("litellm\n");
        const wrong = await psqlOverTcp(hex(24), "select 1");
        expect(wrong.code).not.toBe(0);
        expect(wrong.stderr).toMatch(/password authentication failed for user "litellm"/);
        const none = await psqlOverTcp(undefined, "select 1");
        expect(none.code).not.toBe(0);
        expect(none.stderr).toMatch(/no password supplied/);
        expect(await psql(host, DB, "select distinct auth_method from pg_hba_file_rules where type = 'host';")).toBe("scram-sha-256\n");
    });

    it("rows outlive a stop (SIGINT, docker's stop signal) and a SIGTERM: clean exits, and initdb ran once", async () => {
        await psql(host, DB, "create table t (id int primary key, v text); insert into t select i, md5(i::text) from generate_series(1, 2000) i;");
        const before = await tableChecksum(host, DB, "t");
        expect(before).toMatch(/^[0-9a-f]{32}$/);
        await must(host, `docker stop ${DB} > /dev/null`);
        expect(await state(DB)).toBe("exited 0");
        await must(host, `docker start ${DB} > /dev/null`);
        await waitForPostgres(host, DB);
        expect(await tableChecksum(host, DB, "t")).toBe(before);
        await must(host, `docker kill -s TERM ${DB} > /dev/null`);
        expect(await waitExited(DB)).toBe("exited 0");
        await must(host, `docker start ${DB} > /dev/null`);
        await waitForPostgres(host, DB);
        expect(await tableChecksum(host, DB, "t")).toBe(before);
        const logs = (await host.exec(`docker logs ${DB}`)).stderr;
        expect(logs.match(/initdb done/g)).toHaveLength(1);
        expect(logs.match(/has a database: no initdb/g)).toHaveLength(2);
        expect(logs.match(/database system is shut down/g)!.length).toBeGreaterThanOrEqual(3);
    });

    it("pg_dump -Fc, then pg_restore --clean --if-exists over changed data, gives back the same checksum", async () => {
        const before = await tableChecksum(host, DB, "t");
        await must(host, `docker exec ${DB} pg_dump -U litellm -Fc litellm > /root/litellm.dump`);
        expect(await must(host, "head -c 5 /root/litellm.dump")).toBe("PGDMP");
        await psql(host, DB, "delete from t where id % 2 = 0; update t set v = 'changed' where id < 100;");
        expect(await tableChecksum(host, DB, "t")).not.toBe(before);
        await must(host, `docker exec -i ${DB} pg_restore -U litellm -d litellm --clean --if-exists --exit-on-error < /root/litellm.dump`);
        expect(await tableChecksum(host, DB, "t")).toBe(before);
        expect(await psql(host, DB, "select count(*) from t;")).toBe("2000\n");
    });
});
