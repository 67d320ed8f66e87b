/**
 * The webhook receiver: a local HTTP server, outside the registry's process group so it
 * outlives every crash, that records every delivery after verifying its Standard Webhooks
 * signature with the `standardwebhooks` package. It refuses some deliveries with a 503
 * (seeded) so the registry's retries are exercised too; a refused delivery is recorded as
 * such and does not count as delivered.
 */
import { createServer, type Server } from "node:http";
import { Webhook } from "standardwebhooks";

export interface Received {
  webhookId: string;
  body: string;
  accepted: boolean;
  signatureOk: boolean;
  at: number;
}

export class Receiver {
  readonly received: Received[] = [];
  private server: Server | null = null;
  private verifier: Webhook | null = null;
  port = 0;

  constructor(private readonly refuse: () => boolean) {}

  /** The webhook's secret, known once the webhook exists (deliveries before that cannot be for it). */
  setSecret(secret: string): void {
    this.verifier = new Webhook(secret);
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const headers = {
          "webhook-id": String(req.headers["webhook-id"] ?? ""),
          "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
          "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
        };
        let signatureOk = false;
        try {
          this.verifier?.verify(body, headers);
          signatureOk = this.verifier !== null;
        } catch {
          signatureOk = false;
        }
        const accepted = signatureOk && !this.refuse();
        this.received.push({ webhookId: headers["webhook-id"], body, accepted, signatureOk, at: Date.now() });
        res.writeHead(accepted ? 200 : 503, { "content-type": "text/plain" });
        res.end(accepted ? "ok" : "try again");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}/hook`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
