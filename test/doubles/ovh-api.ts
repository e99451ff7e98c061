// A local double of the OVH API (1.0) for the end-to-end tests: the clock and credential endpoints every signed
// call needs, and the IP firewall with its rules, with state, on 127.0.0.1 at a random port. The ovh provider
// is pointed at it through its documented `ovh:endpoint` setting (a URL). Signatures are not checked; the
// request record keeps method, path and body (the provider's credentials travel only in headers).
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpDouble } from "./http-double";

export interface OvhRequest {
  method: string;
  path: string;
  body: string;
}

export interface OvhRule {
  sequence: number;
  action: string;
  protocol: string;
  source: string | null;
  destinationPort: number | null;
  tcpOption: string | null;
}

interface Firewall {
  ipOnFirewall: string;
  enabled: boolean;
  rules: Map<number, OvhRule>;
}

export class OvhApiDouble extends HttpDouble {
  readonly requests: OvhRequest[] = [];
  /** Firewalls by "<ip block>|<ip on firewall>". */
  readonly firewalls = new Map<string, Firewall>();

  writes(): OvhRequest[] {
    return this.requests.filter((r) => r.method !== "GET" && !r.path.startsWith("/1.0/auth/"));
  }

  protected handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const p = decodeURIComponent(new URL(req.url ?? "/", "http://double").pathname);
    this.requests.push({ method: req.method ?? "", path: p, body });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (p === "/1.0/auth/time") return send(200, Math.floor(Date.now() / 1000));
    if (p === "/1.0/auth/details") return send(200, { method: "account", description: "e2e" });
    if (p === "/1.0/auth/currentCredential") return send(200, { status: "validated", applicationId: 1, rules: [{ method: "GET", path: "/*" }] });
    const m = /^\/1\.0\/ip\/([^/]+\/\d+)\/firewall(?:\/([^/]+))?(?:\/rule(?:\/(\d+))?)?$/.exec(p);
    if (!m) return send(404, { message: `the double does not implement ${req.method} ${p}` });
    const [, block, onFirewall, seq] = m;
    const isRule = p.includes("/rule");
    if (!onFirewall && req.method === "POST") {
      const b = JSON.parse(body) as { ipOnFirewall: string };
      const k = `${block}|${b.ipOnFirewall}`;
      if (this.firewalls.has(k)) return send(409, { message: "this IP is already on the firewall" });
      this.firewalls.set(k, { ipOnFirewall: b.ipOnFirewall, enabled: false, rules: new Map() });
      return send(200, { ipOnFirewall: b.ipOnFirewall, enabled: false, state: "ok" });
    }
    const fw = this.firewalls.get(`${block}|${onFirewall}`);
    if (!fw) return send(404, { message: "this IP is not on the firewall" });
    if (!isRule) {
      if (req.method === "GET") return send(200, { ipOnFirewall: fw.ipOnFirewall, enabled: fw.enabled, state: "ok" });
      if (req.method === "PUT") {
        fw.enabled = (JSON.parse(body) as { enabled?: boolean }).enabled ?? fw.enabled;
        return send(200, null);
      }
      if (req.method === "DELETE") {
        this.firewalls.delete(`${block}|${onFirewall}`);
        return send(200, null);
      }
    } else if (!seq && req.method === "POST") {
      const b = JSON.parse(body) as { sequence: number; action: string; protocol: string; source?: string; destinationPort?: number; tcpOption?: { option?: string } | string };
      if (fw.rules.has(b.sequence)) return send(409, { message: `rule ${b.sequence} exists` });
      const tcp = typeof b.tcpOption === "string" ? b.tcpOption : b.tcpOption?.option ?? null;
      const rule: OvhRule = { sequence: b.sequence, action: b.action, protocol: b.protocol, source: b.source ?? null, destinationPort: b.destinationPort ?? null, tcpOption: tcp };
      fw.rules.set(b.sequence, rule);
      return send(200, this.ruleView(rule));
    } else if (seq) {
      const rule = fw.rules.get(Number(seq));
      if (!rule) return send(404, { message: `no rule ${seq}` });
      if (req.method === "GET") return send(200, this.ruleView(rule));
      if (req.method === "DELETE") {
        fw.rules.delete(Number(seq));
        return send(200, null);
      }
    }
    return send(404, { message: `the double does not implement ${req.method} ${p}` });
  }

  private ruleView(r: OvhRule) {
    return {
      sequence: r.sequence, action: r.action, protocol: r.protocol, source: r.source ?? "any", destination: "any",
      destinationPort: r.destinationPort === null ? null : `eq ${r.destinationPort}`, sourcePort: null, tcpOption: r.tcpOption,
      fragments: null, rule: "", state: "ok", creationDate: new Date(0).toISOString(),
    };
  }
}
