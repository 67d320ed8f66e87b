/**
 * A request as the fuzzer sends it: the raw path and query (never re-encoded, so hostile
 * escapes reach the server as written), headers, and the body as bytes. Each runner turns it
 * into its transport: a `Request` for the Worker's fetch inside workerd, `node:http` against
 * a server.
 */
import type { Json } from "./schema-arb";

export interface Wire {
  method: string;
  /** Path and query exactly as they go on the request line. */
  target: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends one request; throws only when the request cannot be sent at all (the transport refused it). */
export type Send = (wire: Wire) => Promise<Reply>;

/** A generated request before any mutation: the route's template and typed parts. */
export interface Draft {
  method: string;
  template: string;
  params: Record<string, string>;
  query: [string, string][];
  headers: Record<string, string>;
  body?:
    | { kind: "json"; value: Json; mediaType: string }
    | { kind: "bytes"; bytes: Uint8Array }
    | { kind: "form"; value: [string, string][] };
}

const utf8 = new TextEncoder();

export const bytes = (text: string) => utf8.encode(text);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses) goes out as the bytes
 * a careless encoder writes for it (CESU-8 `ED A0 80`): invalid UTF-8 for the server to meet.
 */
export function encode(value: string): string {
  return encodeURIComponent(value.replace(LONE_SURROGATE, "\u0001")).replaceAll("%01", "%ED%A0%80");
}

/** A path parameter on the request line: a file path and a `namespace/model` repo keep their slashes. */
export function encodeParam(name: string, value: string): string {
  if (name === "path" || name === "repo") return value.split("/").map(encode).join("/");
  return encode(value);
}

export function renderPath(template: string, params: Record<string, string>, raw: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => raw[name] ?? encodeParam(name, params[name] ?? "x"));
}

export function renderQuery(query: [string, string][]): string {
  if (query.length === 0) return "";
  return `?${query.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&")}`;
}

/** The draft as it would be sent unmutated. */
export function render(draft: Draft): Wire {
  const headers = { ...draft.headers };
  let body: Uint8Array | undefined;
  if (draft.body?.kind === "json") {
    body = bytes(JSON.stringify(draft.body.value));
    headers["content-type"] = draft.body.mediaType;
  } else if (draft.body?.kind === "bytes") {
    body = draft.body.bytes;
    headers["content-type"] = "application/octet-stream";
  } else if (draft.body?.kind === "form") {
    body = bytes(draft.body.value.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&"));
    headers["content-type"] = "application/x-www-form-urlencoded";
  }
  return {
    method: draft.method,
    target: renderPath(draft.template, draft.params) + renderQuery(draft.query),
    headers,
    ...(body ? { body } : {}),
  };
}

/** The path the server routes on: the URL parser's (dot segments, `%2e` included, resolved). */
export function pathnameOf(target: string): string {
  try {
    // Appended, not resolved against a base: a target starting `//` is a path, not a host.
    return new URL(`http://mreg.test${target}`).pathname;
  } catch {
    const cut = target.search(/[?#]/);
    return cut < 0 ? target : target.slice(0, cut);
  }
}
