/**
 * The one place the client talks HTTP: base URL, bearer token, the D1 session bookmark,
 * request ids, problem+json errors, and bounded retries of requests that are safe to repeat.
 * Only web-standard APIs (fetch, Headers, URL, AbortSignal), so it runs in Node 20+, Workers
 * and browsers alike.
 */
import { MregError } from "./errors";
import { invalidResponse, MAX_JSON_ANSWER } from "./validate";

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** The registry, e.g. `https://mreg.example.com`; default `http://127.0.0.1:8787`. */
  url?: string;
  /** A bearer token, or a function returning one (called per request, so it may refresh). */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Defaults to the global fetch; tests and Workers may pass their own (a service binding). */
  fetch?: FetchLike;
  /** Start the session from a bookmark another client saw (read-your-writes across processes). */
  bookmark?: string;
  /** Extra headers on every request (`user-agent` where the platform allows it). */
  headers?: Record<string, string>;
  /** How many times a request that is safe to repeat is retried (network errors, 429, 502–504). Default 2. */
  retries?: number;
}

export const DEFAULT_URL = "http://127.0.0.1:8787";
export const BOOKMARK_HEADER = "x-mreg-bookmark";

type Query = Record<string, string | number | boolean | string[] | undefined | null>;

/** A body that can be produced again for a retry (a stream can be read once). */
export interface BodySource {
  body: () => BodyInit;
  /** Sent as Content-Length; needed for streams, which carry no length of their own. */
  length?: number;
  contentType?: string;
}

export interface RequestSpec {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Query;
  json?: unknown;
  body?: BodySource;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Safe to send twice: GETs always are; PUT of a part, of an alias with a generation … by choice. */
  idempotent?: boolean;
  /** Statuses that are answers, not failures (304, 206 …); 2xx always are. */
  accept?: number[];
  /** What the request was, for messages: "create model 'fraud'". */
  what?: string;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

const abortError = () => new MregError({ status: 0, code: "aborted", detail: "The request was aborted" });

export class Transport {
  readonly baseUrl: string;
  private readonly token: TransportOptions["token"];
  private readonly fetchImpl: FetchLike;
  private readonly extraHeaders: Record<string, string>;
  private readonly retries: number;
  /** The newest D1 session bookmark the server sent; sent back so this client reads its own writes. */
  bookmark: string | undefined;

  constructor(options: TransportOptions = {}) {
    this.baseUrl = (options.url ?? DEFAULT_URL).replace(/\/+$/, "");
    this.token = options.token;
    // Bound to globalThis: some runtimes refuse a fetch called as a method of another object.
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.extraHeaders = options.headers ?? {};
    this.retries = options.retries ?? 2;
    this.bookmark = options.bookmark;
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
    }
    return url.toString();
  }

  async authHeaders(): Promise<Record<string, string>> {
    const token = typeof this.token === "function" ? await this.token() : this.token;
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  /** Sends a request and returns the response when its status is 2xx or accepted; else throws MregError. */
  async send(spec: RequestSpec): Promise<Response> {
    const what = spec.what ?? `${spec.method} ${spec.path}`;
    const idempotent = spec.idempotent ?? (spec.method === "GET" || spec.method === "HEAD");
    for (let attempt = 0; ; attempt++) {
      if (spec.signal?.aborted) throw abortError();
      let res: Response;
      try {
        res = await this.fetchImpl(this.url(spec.path, spec.query), await this.init(spec));
      } catch (err) {
        if (spec.signal?.aborted) throw abortError();
        if (idempotent && attempt < this.retries) {
          await sleep(backoffMs(attempt), spec.signal);
          continue;
        }
        throw new MregError({
          status: 0,
          code: "network_error",
          detail: `${what}: cannot reach ${this.baseUrl} (${describe(err)})`,
          cause: err,
        });
      }
      const bookmark = res.headers.get(BOOKMARK_HEADER);
      if (bookmark) this.bookmark = bookmark;
      if (res.ok || spec.accept?.includes(res.status)) return res;
      if (idempotent && attempt < this.retries && RETRYABLE_STATUS.has(res.status)) {
        const retryAfter = Number(res.headers.get("retry-after"));
        await res.body?.cancel();
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 30) * 1000 : backoffMs(attempt),
          spec.signal,
        );
        continue;
      }
      throw await MregError.fromResponse(res, what);
    }
  }

  /** Sends a request and parses its JSON answer (undefined for 204, 304 and other bodiless answers). */
  async json<T>(spec: RequestSpec): Promise<T> {
    return this.read<T>(await this.send(spec), spec.what ?? spec.path);
  }

  /** Parses an answer `send` returned, for callers that need its status too; `what` names the request in errors. */
  async read<T>(res: Response, what: string): Promise<T> {
    if (res.status === 204 || res.status === 304) {
      await res.body?.cancel();
      return undefined as T;
    }
    // A 202 may say what it queued (a webhook ping names its delivery), or nothing. The
    // connection can die after the status line (the server crashed mid-answer): that is a
    // network failure like any other, and the write's outcome is unknown to the caller.
    let text: string;
    try {
      text = await readText(res, MAX_JSON_ANSWER);
    } catch (err) {
      if (err instanceof MregError) throw invalidResponse(what, err.detail, res.status);
      throw new MregError({
        status: 0,
        code: "network_error",
        detail: `${what}: the connection to ${this.baseUrl} broke off mid-answer (${describe(err)})`,
        cause: err,
      });
    }
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new MregError({
        status: res.status,
        code: "unexpected_response",
        detail: `${what}: the answer is not JSON: ${text.slice(0, 200)}`,
        cause: err,
      });
    }
  }

  private async init(spec: RequestSpec): Promise<RequestInit> {
    const headers = new Headers({ ...this.extraHeaders, ...(await this.authHeaders()), ...spec.headers });
    if (this.bookmark) headers.set(BOOKMARK_HEADER, this.bookmark);
    let body: BodyInit | undefined;
    if (spec.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(spec.json);
    } else if (spec.body) {
      body = spec.body.body();
      if (spec.body.length !== undefined) headers.set("content-length", String(spec.body.length));
      headers.set("content-type", spec.body.contentType ?? "application/octet-stream");
      body = fixLength(body, spec.body.length);
    }
    const init: RequestInit & { duplex?: "half" } = {
      method: spec.method,
      headers,
      body: body ?? null,
      signal: spec.signal ?? null,
    };
    // Node's fetch refuses a stream body without `duplex: "half"` (the Fetch standard's opt-in
    // to sending a body that is still being produced); others ignore the member.
    if (body instanceof ReadableStream) init.duplex = "half";
    return init;
  }
}

/**
 * Workers send a stream of unknown length chunked, and the registry needs Content-Length to
 * stream a body into R2: there, a FixedLengthStream carries the length. Node and browsers
 * send the Content-Length header as given (browsers take a Blob, which knows its size).
 */
function fixLength(body: BodyInit, length: number | undefined): BodyInit {
  const Fixed = (globalThis as { FixedLengthStream?: new (n: number) => TransformStream<Uint8Array, Uint8Array> })
    .FixedLengthStream;
  if (!Fixed || length === undefined || !(body instanceof ReadableStream)) return body;
  return (body as ReadableStream<Uint8Array>).pipeThrough(new Fixed(length));
}

/**
 * Exponential backoff with ±25% jitter (so a fleet that lost the registry together does not
 * come back in step): `base × 2^attempt`, at most `cap`, times a factor in [0.75, 1.25).
 */
export const backoffMs = (attempt: number, baseMs = 500, capMs = 8000, random: () => number = Math.random) =>
  Math.min(baseMs * 2 ** Math.max(0, attempt), capMs) * (0.75 + random() / 2);

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const code =
      cause && typeof cause === "object" && "code" in cause ? String((cause as { code: unknown }).code) : undefined;
    return code ? `${err.message}: ${code}` : err.message;
  }
  return String(err);
}

/**
 * The body as text, refused (an MregError, which `read` words) once it passes `limit` bytes:
 * an answer that never ends, or a huge one, stops here rather than filling memory.
 */
export async function readText(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  const tooLarge = () =>
    new MregError({ status: res.status, code: "invalid_response", detail: `the answer is larger than ${limit} bytes` });
  if (Number(res.headers.get("content-length")) > limit) {
    await res.body.cancel();
    throw tooLarge();
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Encodes a file path segment by segment: `/` separates segments and stays. */
export const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");
export const seg = (s: string | number) => encodeURIComponent(String(s));
