// A local double of the Tailscale API (v2) for the end-to-end tests: the endpoints the tailscale provider
// calls for a policy file and auth keys, with state, on 127.0.0.1 at a random port. The provider is pointed at
// it through its documented setting (`tailscale:baseUrl`). It records every request; a key's secret appears
// only in the one response that creates it, never in the record.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpDouble } from "./http-double";

export interface RecordedRequest {
  method: string;
  path: string;
  /** The request body (a policy file, a key request); never a key's secret, which only responses carry. */
  body: string;
  headers: { ifMatch?: string; contentType?: string };
}

export interface AuthKey {
  id: string;
  key: string;
  description: string;
  expirySeconds: number;
  created: string;
  expires: string;
  invalid: boolean;
  capabilities: { devices: { create: { reusable: boolean; ephemeral: boolean; preauthorized: boolean; tags: string[] } } };
}

export class TailscaleApiDouble extends HttpDouble {
  readonly requests: RecordedRequest[] = [];
  /** The policy file as the admin console would hold it, and its ETag. */
  policy = "{}\n";
  etag = '"0"';
  readonly keys = new Map<string, AuthKey>();
  /** Every auth key secret handed out, for tests that check none leaks. */
  readonly issued: string[] = [];
  private revision = 0;

  constructor(readonly tailnet: string) {
    super();
  }

  /** Requests that change something (anything but GET). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== "GET");
  }

  /** An edit in the admin console, behind the program's back. */
  setPolicyOutOfBand(text: string): void {
    this.policy = text;
    this.etag = `"${++this.revision}"`;
  }

  protected handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? "/", "http://double");
    this.requests.push({
      method: req.method ?? "", path: url.pathname, body,
      headers: { ifMatch: req.headers["if-match"], contentType: req.headers["content-type"] },
    });
    const send = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
      const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
      res.writeHead(status, { "Content-Type": typeof value === "string" ? "application/hujson" : "application/json", ...headers });
      res.end(text);
    };
    if (!req.headers.authorization) return send(401, { message: "API token required" });
    const base = `/api/v2/tailnet/${this.tailnet}`;
    const p = url.pathname;
    if (p === `${base}/acl`) {
      if (req.method === "GET") return send(200, this.policy, { ETag: this.etag });
      if (req.method === "POST") {
        const ifMatch = req.headers["if-match"];
        if (ifMatch && ifMatch !== this.etag) return send(412, { message: "precondition failed: the policy changed" });
        try {
          if (body.trim() !== "") JSON.parse(body);
        } catch (e) {
          return send(400, { message: `invalid policy: ${(e as Error).message}` });
        }
        this.policy = body;
        this.etag = `"${++this.revision}"`;
        return send(200, body === "" ? {} : (JSON.parse(body) as unknown), { ETag: this.etag });
      }
    }
    if (p === `${base}/keys` && req.method === "POST") {
      const r = JSON.parse(body) as { capabilities: AuthKey["capabilities"]; expirySeconds: number; description: string };
      const id = `k${randomBytes(6).toString("hex")}`;
      const created = new Date();
      const key: AuthKey = {
        id, key: `tskey-auth-${id}-${randomBytes(16).toString("hex")}`, description: r.description, expirySeconds: r.expirySeconds,
        created: created.toISOString(), expires: new Date(created.getTime() + r.expirySeconds * 1000).toISOString(),
        invalid: false, capabilities: r.capabilities,
      };
      this.keys.set(id, key);
      this.issued.push(key.key);
      return send(200, { ...key, keyType: "auth" });
    }
    const m = p.startsWith(`${base}/keys/`) ? p.slice(`${base}/keys/`.length) : undefined;
    if (m !== undefined) {
      const key = this.keys.get(m);
      if (!key) return send(404, { message: "key not found" });
      // A key's secret is in the create response only, as the real API does it.
      if (req.method === "GET") return send(200, { ...key, key: "", keyType: "auth" });
      if (req.method === "DELETE") {
        this.keys.delete(m);
        return send(200);
      }
    }
    return send(404, { message: `the double does not implement ${req.method} ${p}` });
  }
}
