// The SSRF egress filter. All traffic stays on loopback: a stand-in "public" server on 127.0.0.1 is let
// through by the test-only `allowForTests` seam (an exact address:port, a separate argument no config
// reaches), and a victim server counts every hit it gets, so "refused" means "never connected", not
// "connection failed". Literal private, metadata and link-local targets are refused before any socket opens.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkTarget, egressFetch, EgressRefused, refusedAddress, type Resolver } from "../../cli/mcp/egress";

const RUNS = Number(process.env.DEMESNE_FUZZ_RUNS) || 300;
const noDns: Resolver = async (host) => {
  throw new Error(`no DNS in this test: ${host}`);
};

type Seen = { url: string; method: string; headers: http.IncomingHttpHeaders; body: string };
async function serve(route: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", method: req.method ?? "", headers: req.headers, body });
      route(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, seen, close: () => new Promise((r) => server.close(() => r())) };
}

describe("refusedAddress", () => {
  it.each([
    ["127.0.0.1", /^loopback$/],
    ["127.255.255.254", /^loopback$/],
    ["::1", /^loopback$/],
    ["10.20.30.40", /private/],
    ["172.31.255.255", /private/],
    ["192.168.1.1", /private/],
    ["fc00::1", /unique-local/],
    ["fd12:3456::1", /unique-local/],
    ["100.64.0.1", /CGNAT, the tailnet/],
    ["100.127.255.255", /CGNAT/],
    ["169.254.1.1", /^link-local$/],
    ["fe80::1", /^link-local$/],
    ["169.254.169.254", /cloud metadata/],
    ["fd00:ec2::254", /cloud metadata/],
    ["0.0.0.0", /unspecified/],
    ["::", /^unspecified$/],
    ["224.0.0.1", /multicast/],
    ["ff02::1", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["::ffff:127.0.0.1", /^IPv4-mapped IPv6 of 127\.0\.0\.1, loopback$/],
    ["::ffff:a9fe:a9fe", /^IPv4-mapped IPv6 of 169\.254\.169\.254, the cloud metadata service$/],
    ["::ffff:8.8.8.8", /^IPv4-mapped IPv6 of 8\.8\.8\.8, refused in every form/],
    ["64:ff9b::a9fe:a9fe", /^NAT64 of 169\.254\.169\.254, the cloud metadata service$/],
    ["64:ff9b::10.0.0.1", /^NAT64 of 10\.0\.0\.1, private/],
    ["2002:7f00:1::1", /^6to4 of 127\.0\.0\.1, loopback$/],
    ["2001:0:4136:e378::1", /Teredo/],
    ["::127.0.0.1", /IPv4-compatible/],
    ["4000::1", /not global unicast/],
    ["localhost", /not an IP address/],
  ])("refuses %s", (address, why) => {
    expect(refusedAddress(address)).toMatch(why);
  });

  it.each(["1.1.1.1", "8.8.8.8", "51.38.0.1", "2606:4700:4700::1111", "2a01:4f8::1", "64:ff9b::808:808", "2002:808:808::1"])("allows the public address %s", (address) => {
    expect(refusedAddress(address)).toBeUndefined();
  });
});

describe("egressFetch against loopback servers", () => {
  let pub: Awaited<ReturnType<typeof serve>>; // stands in for a public webhook host
  let victim: Awaited<ReturnType<typeof serve>>; // an internal service: must never be reached
  let allow: { allowForTests: string[] };
  beforeAll(async () => {
    victim = await serve((_req, res) => res.end("internal secret"));
    pub = await serve((req, res) => {
      const to: Record<string, string> = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-metadata-v6": "http://[fd00:ec2::254]/latest/meta-data/",
        "/to-loopback": `http://127.0.0.1:${victim.port}/`,
        "/to-localhost": `http://localhost:${victim.port}/`,
        "/to-mapped": `http://[::ffff:127.0.0.1]:${victim.port}/`,
        "/to-decimal": `http://2130706433:${victim.port}/`,
        "/to-file": "file:///etc/passwd",
        "/to-ok": "/ok",
        "/loop": "/loop",
      };
      if (req.url === "/slow") return; // never answers
      if (req.url === "/big") return void res.end("x".repeat(4096));
      if (req.url === "/see-other") res.writeHead(303, { location: "/ok" }).end();
      else if (req.url === "/temporary") res.writeHead(307, { location: "/ok" }).end();
      else if (req.url! in to) res.writeHead(302, { location: to[req.url!]! }).end();
      else res.writeHead(200, { "content-type": "text/plain" }).end(`ok ${req.method}`);
    });
    allow = { allowForTests: [`127.0.0.1:${pub.port}`] };
  });
  afterAll(async () => {
    expect(victim.seen).toEqual([]); // the point of the whole file
    await pub.close();
    await victim.close();
  });

  it("fetches from the allowed stand-in (the refusals below are the policy, not a broken client)", async () => {
    const res = await egressFetch(`http://127.0.0.1:${pub.port}/hello`, {}, allow);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok GET");
  });

  it.each([
    ["loopback", () => `http://127.0.0.1:${victim.port}/`, /127\.0\.0\.1 is loopback/],
    ["loopback, octal", () => `http://0177.0.0.1:${victim.port}/`, /127\.0\.0\.1 is loopback/],
    ["loopback, one decimal", () => `http://2130706433:${victim.port}/`, /127\.0\.0\.1 is loopback/],
    ["loopback, IPv6", () => `http://[::1]:${victim.port}/`, /::1 is loopback/],
    ["loopback, IPv4-mapped", () => `http://[::ffff:127.0.0.1]:${victim.port}/`, /IPv4-mapped IPv6 of 127\.0\.0\.1/],
    ["localhost (a real name resolving to loopback)", () => `http://localhost:${victim.port}/`, /localhost resolves to (127\.0\.0\.1|::1), which is loopback/],
    ["another port on the allowed address", () => `http://127.0.0.1:${victim.port}/`, /loopback/],
    ["metadata", () => "http://169.254.169.254/latest/meta-data/", /cloud metadata/],
    ["metadata, IPv6", () => "http://[fd00:ec2::254]/", /cloud metadata/],
    ["private", () => "http://10.0.0.1/", /private/],
    ["private, 172.16/12", () => "http://172.20.0.1/", /private/],
    ["private, 192.168/16", () => "https://192.168.0.1/", /private/],
    ["unique-local", () => "http://[fd00::1]/", /unique-local/],
    ["tailnet (CGNAT)", () => "http://100.100.100.100/", /CGNAT/],
    ["link-local", () => "http://169.254.0.1/", /link-local/],
    ["link-local, IPv6", () => "http://[fe80::1]/", /link-local/],
    ["unspecified", () => `http://0.0.0.0:${victim.port}/`, /unspecified/],
    ["unspecified, IPv6", () => `http://[::]:${victim.port}/`, /unspecified/],
    ["multicast", () => "http://224.0.0.251/", /multicast/],
    ["broadcast", () => "http://255.255.255.255/", /broadcast/],
    ["NAT64 of loopback", () => "http://[64:ff9b::127.0.0.1]/", /NAT64 of 127\.0\.0\.1/],
    ["6to4 of metadata", () => "http://[2002:a9fe:a9fe::1]/", /6to4 of 169\.254\.169\.254/],
    ["a file URL", () => "file:///etc/passwd", /scheme file:/],
    ["a gopher URL", () => "gopher://127.0.0.1:70/", /scheme gopher:/],
    ["credentials in the URL", () => `http://u:p@127.0.0.1:${pub.port}/`, /credentials in the URL/],
  ])("refuses %s", async (_, url, why) => {
    const err = await egressFetch(url(), {}, allow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefused);
    expect((err as Error).message).toMatch(why);
  });

  it.each([
    ["/to-metadata", /169\.254\.169\.254 is the cloud metadata service/],
    ["/to-metadata-v6", /fd00:ec2::254 is the cloud metadata service/],
    ["/to-loopback", /127\.0\.0\.1 is loopback/],
    ["/to-localhost", /localhost resolves to .* which is loopback/],
    ["/to-mapped", /IPv4-mapped IPv6 of 127\.0\.0\.1/],
    ["/to-decimal", /127\.0\.0\.1 is loopback/],
    ["/to-file", /scheme file:/],
    ["/loop", /more than 5 redirects/],
  ])("refuses the redirect %s", async (path, why) => {
    const before = pub.seen.length;
    const err = await egressFetch(`http://127.0.0.1:${pub.port}${path}`, {}, allow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefused);
    expect((err as Error).message).toMatch(why);
    expect(pub.seen.length).toBeGreaterThan(before); // the first hop was made: the refusal is of the redirect
  });

  it("follows an allowed redirect; 303 becomes a bodiless GET, 307 keeps the POST and its body", async () => {
    expect(await (await egressFetch(`http://127.0.0.1:${pub.port}/to-ok`, {}, allow)).text()).toBe("ok GET");
    const see = await egressFetch(`http://127.0.0.1:${pub.port}/see-other`, { method: "POST", body: "x" }, allow);
    expect(await see.text()).toBe("ok GET");
    const tmp = await egressFetch(`http://127.0.0.1:${pub.port}/temporary`, { method: "POST", body: "payload" }, allow);
    expect(await tmp.text()).toBe("ok POST");
    expect(pub.seen.at(-1)).toMatchObject({ url: "/ok", method: "POST", body: "payload" });
  });

  it.each(["Authorization", "authorization", "Proxy-Authorization", "Cookie"])("refuses a %s header: no credential passthrough", async (name) => {
    const before = pub.seen.length;
    const err = await egressFetch(`http://127.0.0.1:${pub.port}/`, { headers: { [name]: "Bearer abc" } }, allow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressRefused);
    expect((err as Error).message).toContain("no credential is passed through");
    expect(pub.seen.length).toBe(before);
  });

  it("bounds the exchange: a response over maxBodyBytes, a server that never answers", async () => {
    await expect(egressFetch(`http://127.0.0.1:${pub.port}/big`, { maxBodyBytes: 1024 }, allow)).rejects.toThrow(/response larger than 1024 bytes/);
    await expect(egressFetch(`http://127.0.0.1:${pub.port}/slow`, { timeoutMs: 300 }, allow)).rejects.toThrow(/no answer within 300 ms/);
  });

  it.each(["CONNECT", "TRACE"])("refuses the method %s", async (method) => {
    await expect(egressFetch(`http://127.0.0.1:${pub.port}/`, { method }, allow)).rejects.toThrow(/method .* \(one of GET, HEAD, POST, PUT, PATCH, DELETE\)/);
  });

  it("sends no Authorization header of its own", async () => {
    await egressFetch(`http://127.0.0.1:${pub.port}/plain`, { headers: { "x-demesne": "1" } }, allow);
    const last = pub.seen.at(-1)!;
    expect(last.headers["x-demesne"]).toBe("1");
    expect(last.headers.authorization).toBeUndefined();
    expect(last.headers.cookie).toBeUndefined();
  });

  it("connects to the address it checked: a resolver that rebinds is asked once per hop", async () => {
    let calls = 0;
    // First answer: the allowed stand-in. Any later answer: the metadata service (a rebinding attack).
    const rebinding: Resolver = async () => (calls++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "169.254.169.254", family: 4 }]);
    const res = await egressFetch(`http://rebind.test:${pub.port}/rebind`, {}, { ...allow, resolve: rebinding });
    expect(await res.text()).toBe("ok GET");
    expect(calls).toBe(1);
    expect(pub.seen.at(-1)!.headers.host).toBe(`rebind.test:${pub.port}`);
  });

  it("refuses a name when any of its addresses is refused", async () => {
    const mixed: Resolver = async () => [
      { address: "127.0.0.1", family: 4 },
      { address: "10.1.1.1", family: 4 },
    ];
    await expect(egressFetch(`http://mixed.test:${pub.port}/`, {}, { ...allow, resolve: mixed })).rejects.toThrow(/mixed\.test resolves to 10\.1\.1\.1, which is private/);
  });

  it("keeps the seam to loopback: allowForTests cannot open a private or metadata address", async () => {
    await expect(egressFetch("http://169.254.169.254:80/", {}, { allowForTests: ["169.254.169.254:80"] })).rejects.toThrow(/loopback address:port pairs only/);
  });

  it("names only the origin in errors: a webhook's secret path stays out", async () => {
    const err = (await egressFetch("http://10.0.0.1/hooks/SECRET-PATH?key=SECRET", {}, allow).catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain("SECRET");
  });
});

// Random addresses inside each refused range, written every way the URL parser accepts: the filter must judge
// the normalised host, whatever the spelling.
const V4_REFUSED = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"];
const V6_REFUSED = ["::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "::ffff:0:0/96", "fd00:ec2::254/128"];

const toBig = (v4: string) => v4.split(".").reduce((a, o) => (a << 8n) | BigInt(o), 0n);
const inV4 = (cidr: string) => {
  const [a, p] = cidr.split("/");
  const base = toBig(a!);
  return fc.bigInt({ min: 0n, max: (1n << BigInt(32 - Number(p))) - 1n }).map((off) => base + off);
};
const inV6 = (cidr: string, words: (a: string) => bigint) => {
  const [a, p] = cidr.split("/");
  const base = words(a!);
  return fc.bigInt({ min: 0n, max: (1n << BigInt(128 - Number(p))) - 1n }).map((off) => base + off);
};
const octets = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 255n));
const words16 = (n: bigint) => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
const v4Forms = (n: bigint): string[] => {
  const o = octets(n);
  return [
    o.join("."),
    String(n),
    `0x${n.toString(16)}`,
    o.map((x) => `0${x.toString(8)}`).join("."),
    o.map((x) => `0x${x.toString(16).toUpperCase()}`).join("."),
    `${o[0]}.${(Number(n) & 0xffffff).toString()}`,
    `[::ffff:${o.join(".")}]`,
    `[0:0:0:0:0:FFFF:${words16(n).slice(6).map((w) => w.toString(16).toUpperCase()).join(":")}]`,
    `[64:ff9b::${o.join(".")}]`,
    `[2002:${words16(n << 80n).slice(1, 3).map((w) => w.toString(16)).join(":")}::1]`,
  ];
};
const v6Forms = (n: bigint): string[] => {
  const w = words16(n);
  return [
    `[${w.map((x) => x.toString(16).padStart(4, "0")).join(":")}]`,
    `[${w.map((x) => x.toString(16).toUpperCase()).join(":")}]`,
    `[${w.map((x) => x.toString(16).padStart(4, "0").toUpperCase()).join(":")}]`,
  ];
};
const parse6 = (a: string) => {
  const [h, t] = a.split("::");
  const hw = h ? h.split(":") : [];
  const tw = t ? t.split(":") : [];
  return [...hw, ...Array(8 - hw.length - tw.length).fill("0"), ...tw].reduce((acc: bigint, x: string) => (acc << 16n) | BigInt(parseInt(x, 16)), 0n);
};

describe("the filter judges the normalised host, in every spelling (property)", () => {
  const refuses = async (host: string) => {
    const url = new URL(`http://${host}:8080/x`);
    const err = await checkTarget(url, { resolve: noDns }).catch((e: unknown) => e);
    if (!(err instanceof EgressRefused)) throw new Error(`${host} (parsed as ${url.hostname}) was allowed`);
  };

  it.each(V4_REFUSED)("IPv4 %s", async (cidr) => {
    await fc.assert(fc.asyncProperty(inV4(cidr), fc.nat(9), async (n, i) => refuses(v4Forms(n)[i]!)), { numRuns: RUNS });
  });

  it.each(V6_REFUSED)("IPv6 %s", async (cidr) => {
    await fc.assert(fc.asyncProperty(inV6(cidr, parse6), fc.nat(2), async (n, i) => refuses(v6Forms(n)[i]!)), { numRuns: RUNS });
  });

  it("the URL parser does normalise the odd IPv4 spellings (what the filter relies on)", () => {
    expect(new URL("http://0177.0.0.1/").hostname).toBe("127.0.0.1");
    expect(new URL("http://2130706433/").hostname).toBe("127.0.0.1");
    expect(new URL("http://0x7f.1/").hostname).toBe("127.0.0.1");
    expect(new URL("http://[0:0:0:0:0:FFFF:7F00:0001]/").hostname).toBe("[::ffff:7f00:1]");
  });

  it("lets every spelling of a public address through (the property is not vacuous)", async () => {
    for (const host of ["8.8.8.8", "134744072", "0x8080808", "010.010.010.010", "[2606:4700:4700:0:0:0:0:1111]", "[64:ff9b::8.8.8.8]"]) {
      const to = await checkTarget(new URL(`http://${host}/`), { resolve: noDns });
      expect(refusedAddress(to.address)).toBeUndefined();
    }
  });
});
