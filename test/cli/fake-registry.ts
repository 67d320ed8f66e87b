/**
 * A registry that lies, in this test process (Node's http and `ws`): it answers resolve
 * (`GET /v1/resolve`, `GET .../aliases/{alias}`), the watch socket and file downloads with
 * whatever a test sets, so `mreg pull` and `mreg agent` can be driven against hostile shapes
 * no real registry would send. Honest by default, so a test can show its control case works.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";

export interface FakeFile {
  path: string;
  bytes: Buffer;
}

/** A download request as the fake received it: the file's path, the range asked for, its bytes (when the fake holds that path). */
export interface Ask {
  path: string;
  start: number;
  /** Inclusive; null when the range was open-ended or absent. */
  end: number | null;
  bytes: Buffer | undefined;
}

export type FileAnswer = (ask: Ask, res: ServerResponse) => void;

export const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** What the registry computes at finalize: sha256 of the sorted `<path>\t<size>\t<sha256>\n` lines. */
export function digestOf(files: readonly { path: string; size: number; sha256: string }[]): string {
  const lines = [...files]
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`);
  return `sha256:${sha256(lines.join(""))}`;
}

/** An honest Resolution of `files` as `version` of `model@alias`. */
export function resolutionOf(
  model: string,
  alias: string,
  version: number,
  generation: number,
  files: readonly FakeFile[],
) {
  const entries = files.map((f) => ({ path: f.path, size: f.bytes.length, sha256: sha256(f.bytes) }));
  return {
    model,
    alias,
    version,
    generation,
    digest: digestOf(entries),
    files: entries,
    uri: `registry://${model}/${version}`,
    split: null,
  };
}

/** Serves the range asked for, as the registry does (206 with Content-Range, or 200 for the whole file). */
export const honest: FileAnswer = (ask, res) => ranged(ask, res, true);

/** As `honest`, without the headers that name the bytes' sha256 (ETag, x-mreg-sha256): only hashing them tells. */
export const unlabelled: FileAnswer = (ask, res) => ranged(ask, res, false);

function ranged(ask: Ask, res: ServerResponse, labelled: boolean): void {
  if (!ask.bytes)
    return void res
      .writeHead(404, { "content-type": "application/problem+json" })
      .end(JSON.stringify({ status: 404, code: "not_found", detail: "no such file" }));
  const headers = labelled
    ? { etag: `"${sha256(ask.bytes)}"`, "x-mreg-sha256": sha256(ask.bytes), "accept-ranges": "bytes" }
    : { "accept-ranges": "bytes" };
  const end = Math.min(ask.end ?? ask.bytes.length - 1, ask.bytes.length - 1);
  if (ask.start === 0 && end === ask.bytes.length - 1 && ask.end === null) {
    return void res.writeHead(200, { ...headers, "content-length": ask.bytes.length }).end(ask.bytes);
  }
  const body = ask.bytes.subarray(ask.start, end + 1);
  res
    .writeHead(206, {
      ...headers,
      "content-range": `bytes ${ask.start}-${end}/${ask.bytes.length}`,
      "content-length": body.length,
    })
    .end(body);
}

/** Headers of an honest 206 for the range asked, without Content-Length: the body is chunked, so its end is the fake's to choose. */
function rangeHeaders(ask: Ask): Record<string, string> {
  const size = ask.bytes?.length ?? 0;
  const end = ask.end ?? size - 1;
  return { "content-range": `bytes ${ask.start}-${end}/${size}`, "accept-ranges": "bytes" };
}

/** Sends the range asked for and then `extra` bytes more (a size that lies low, a proxy that appends). */
export const tooMany =
  (extra: number): FileAnswer =>
  (ask, res) => {
    const end = ask.end ?? (ask.bytes?.length ?? 0) - 1;
    res.writeHead(206, rangeHeaders(ask));
    res.end(Buffer.concat([(ask.bytes ?? Buffer.alloc(0)).subarray(ask.start, end + 1), Buffer.alloc(extra, 0x41)]));
  };

/** A body that never ends: honest headers for the range, then bytes for as long as the client reads. */
export const endless: FileAnswer = (ask, res) => {
  res.writeHead(206, rangeHeaders(ask));
  const block = Buffer.alloc(64 * 1024, 0x42);
  let open = true;
  res.on("close", () => (open = false));
  const pump = () => {
    while (open && res.write(block));
    if (open) res.once("drain", pump);
  };
  pump();
};

/** A body that stops: honest headers and the first byte of the range, then nothing, with the connection held open. */
export const stalls: FileAnswer = (ask, res) => {
  res.writeHead(206, rangeHeaders(ask));
  res.write((ask.bytes ?? Buffer.alloc(1)).subarray(ask.start, ask.start + 1));
};

/** A 206 whose Content-Range names other bytes than asked for (shifted by `by`). */
export const shiftedRange =
  (by: number): FileAnswer =>
  (ask, res) => {
    const bytes = ask.bytes ?? Buffer.alloc(0);
    const start = ask.start + by;
    const end = Math.min((ask.end ?? bytes.length - 1) + by, bytes.length - 1);
    const body = bytes.subarray(start, end + 1);
    res
      .writeHead(206, { "content-range": `bytes ${start}-${end}/${bytes.length}`, "content-length": body.length })
      .end(body);
  };

export class FakeRegistry {
  /** What every resolve answers (any JSON value, sent as given). */
  resolution: unknown = null;
  /** When set, watch upgrades are accepted and this is the socket's first message; otherwise upgrades are refused and an agent polls. */
  watchMessage: unknown = undefined;
  /** Bytes by file path, whatever version is asked for. */
  readonly files = new Map<string, Buffer>();
  /** How downloads are answered. */
  answer: FileAnswer = honest;
  /** Download requests seen, as `<path> <start>-<end>`. */
  readonly downloads: string[] = [];
  /** What the signature routes answer, whatever version is asked for: each listed (with the `trusted_by` claimed) and its bundle text. */
  signatures: { id: string; trusted_by: string[]; bundle: string }[] = [];
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly sockets = new WebSocketServer({ noServer: true });
  url = "";

  async start(): Promise<this> {
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.watchMessage === undefined)
        return void socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      const first = JSON.stringify(this.watchMessage);
      this.sockets.handleUpgrade(req, socket, head, (ws) => ws.send(first));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Sets the files served and the resolution of them (honest unless the test edits it afterwards). */
  serve(model: string, alias: string, version: number, generation: number, files: readonly FakeFile[]) {
    this.files.clear();
    for (const f of files) this.files.set(f.path, f.bytes);
    const r = resolutionOf(model, alias, version, generation, files);
    this.resolution = r;
    return r;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const file = /^\/v1\/models\/[^/]+\/versions\/[^/]+\/files\/(.+)$/.exec(url.pathname);
    if (req.method === "GET" && file) {
      const path = file[1]!.split("/").map(decodeURIComponent).join("/");
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      const ask: Ask = {
        path,
        start: range ? Number(range[1]) : 0,
        end: range?.[2] ? Number(range[2]) : null,
        bytes: this.files.get(path),
      };
      this.downloads.push(`${path} ${ask.start}-${ask.end ?? ""}`);
      return this.answer(ask, res);
    }
    const signature = /^\/v1\/models\/[^/]+\/versions\/[^/]+\/signatures(?:\/([^/]+))?$/.exec(url.pathname);
    const listed = signature && this.signatures.find((s) => s.id === signature[1]);
    if (req.method === "GET" && signature && signature[1] === undefined) {
      const items = this.signatures.map(({ id, trusted_by }) => ({
        id,
        signer: { kind: "key", fingerprint: `sha256:${"0".repeat(64)}` },
        trusted_by,
        verified_at: "2026-12-01T00:00:00.000Z",
        created_at: "2026-12-01T00:00:00.000Z",
        created_by: "ci",
        bundle_sha256: `sha256:${"0".repeat(64)}`,
      }));
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ items }));
    }
    if (req.method === "GET" && listed)
      return void res.writeHead(200, { "content-type": "application/json" }).end(listed.bundle);
    if (
      req.method === "GET" &&
      (url.pathname === "/v1/resolve" || /^\/v1\/models\/[^/]+\/aliases\/[^/]+$/.test(url.pathname))
    ) {
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(this.resolution));
    }
    res.writeHead(404, { "content-type": "application/problem+json" }).end(
      JSON.stringify({
        status: 404,
        code: "not_found",
        detail: `the fake registry has no ${req.method} ${url.pathname}`,
      }),
    );
  }
}
