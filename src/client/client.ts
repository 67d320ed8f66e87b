/**
 * MregClient: every /v1 route of docs/reference.md as typed methods, grouped the way the
 * contract is (`client.models`, `client.versions`, `client.aliases` …). One instance is one D1
 * session: it sends back the newest `x-mreg-bookmark` it saw, so it reads its own writes.
 */
import { Retention, Tokens, Webhooks } from "./admin";
import { Aliases, Resolver, type ResolveOptions } from "./aliases";
import { Fleet } from "./fleet";
import { Files, Uploads } from "./files";
import { Models, Versions } from "./models";
import { Approvals, Gates, Guards } from "./policy";
import { Audit, LineageApi } from "./queries";
import { Signatures, SigningKeys } from "./signatures";
import { Rollouts } from "./rollouts";
import { Transport, type TransportOptions } from "./transport";
import type { Page, Resolution } from "./types";
import { uploadFile, type ByteSource, type UploadOptions, type UploadResult } from "./upload";
import type { WebSocketFactory } from "./watch";

export interface ClientOptions extends TransportOptions {
  /** How `aliases.watch` opens sockets; see ./watch.ts for the default. */
  webSocket?: WebSocketFactory;
}

export class MregClient {
  readonly transport: Transport;
  readonly models: Models;
  readonly versions: Versions;
  readonly files: Files;
  readonly uploads: Uploads;
  readonly aliases: Aliases;
  readonly gates: Gates;
  readonly approvals: Approvals;
  readonly guards: Guards;
  readonly rollouts: Rollouts;
  readonly fleet: Fleet;
  readonly lineage: LineageApi;
  readonly audit: Audit;
  readonly webhooks: Webhooks;
  readonly retention: Retention;
  readonly tokens: Tokens;
  readonly signingKeys: SigningKeys;
  readonly signatures: Signatures;
  private readonly resolver: Resolver;

  constructor(options: ClientOptions = {}) {
    const t = new Transport(options);
    this.transport = t;
    this.models = new Models(t);
    this.versions = new Versions(t);
    this.files = new Files(t);
    this.uploads = new Uploads(t);
    this.aliases = new Aliases(t, () => (options.webSocket ? { webSocket: options.webSocket } : {}));
    this.gates = new Gates(t);
    this.approvals = new Approvals(t);
    this.guards = new Guards(t);
    this.rollouts = new Rollouts(t);
    this.fleet = new Fleet(t);
    this.lineage = new LineageApi(t);
    this.audit = new Audit(t);
    this.webhooks = new Webhooks(t);
    this.retention = new Retention(t);
    this.tokens = new Tokens(t);
    this.signingKeys = new SigningKeys(t);
    this.signatures = new Signatures(t);
    this.resolver = new Resolver(t);
  }

  get url(): string {
    return this.transport.baseUrl;
  }

  /** The newest D1 bookmark this client saw: hand it to another client to continue the session. */
  get bookmark(): string | undefined {
    return this.transport.bookmark;
  }

  /** Resolves `registry://m@alias` or `registry://m/3`. */
  resolve(uri: string, options: ResolveOptions = {}): Promise<Resolution> {
    return this.resolver.resolve(uri, options);
  }

  /** Sends one file (single PUT or multipart, resuming `resumeUploadId`); see ./upload.ts. */
  upload(
    model: string,
    version: number,
    path: string,
    source: ByteSource,
    options: UploadOptions,
  ): Promise<UploadResult> {
    return uploadFile(this, { model, version, path }, source, options);
  }

  async health(signal?: AbortSignal): Promise<boolean> {
    const res = await this.transport.json<{ ok?: boolean }>({
      method: "GET",
      path: "/healthz",
      signal,
      what: "health",
    });
    return res?.ok === true;
  }
}

/** Every item of a listing, page after page: `for await (const m of paginate((c) => client.models.list({ cursor: c })))`. */
export async function* paginate<T>(page: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    yield* p.items;
    cursor = p.next_cursor ?? undefined;
  } while (cursor);
}
