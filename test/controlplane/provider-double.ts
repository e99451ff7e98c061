// The model provider, as the gateway sees it on the internet: an OpenAI-compatible chat API on this machine's
// end of the host's link (a container on a bridge network cannot reach the host's loopback, and the link is
// the host's only way out, as the internet is a real one's). It records every request it gets.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProviderRequest {
    path: string;
    authorization: string;
    body: string;
}

export class ProviderDouble {
    readonly requests: ProviderRequest[] = [];
    private server?: Server;

    constructor(private readonly address: string) {}

    /** The base URL the gateway is pointed at (OPENAI_API_BASE). */
    get baseUrl(): string {
        const a = this.server?.address() as AddressInfo | undefined;
        if (!a) throw new Error("the provider double is not listening");
        return `http://${this.address}:${a.port}/v1`;
    }

    async start(): Promise<void> {
        this.server = createServer((req, res) => {
            let body = "";
            req.on("data", (d: Buffer) => (body += d.toString()));
            req.on("end", () => {
                this.requests.push({ path: req.url ?? "", authorization: req.headers.authorization ?? "", body });
                const model = (JSON.parse(body || "{}") as { model?: string }).model ?? "";
                res.writeHead(200, { "content-type": "application/json" });
                res.end(JSON.stringify({
                    id: "chatcmpl-double", object: "chat.completion", model,
                    choices: [{ index: 0, message: { role: "assistant", content: "hello from the provider double" }, finish_reason: "stop" }],
                    usage: { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 },
                }));
            });
        });
        await new Promise<void>((resolve) => this.server!.listen(0, this.address, resolve));
    }

    async stop(): Promise<void> {
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }
}
