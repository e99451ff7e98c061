// What the API doubles share: an HTTP server on 127.0.0.1 at a random port, serving from the test process.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export abstract class HttpDouble {
  private server?: Server;

  /** The double's address, for the provider setting that points at it. */
  get baseUrl(): string {
    const a = this.server?.address() as AddressInfo | undefined;
    if (!a) throw new Error(`the ${this.constructor.name} is not listening`);
    return `http://127.0.0.1:${a.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        await this.handle(req, res, Buffer.concat(chunks).toString("utf8"));
      })();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse, body: string): void | Promise<void>;
}
