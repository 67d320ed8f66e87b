/**
 * The hostile-input fuzzer: reads the served OpenAPI document, and for request #i of seed S
 * picks a route, generates a valid request for it from its schemas (fast-check, seeded by
 * S and i), applies one mutation (src: ./mutations.ts), sends it, and judges the answer
 * (./oracle.ts). Runs the same inside workerd (test/fuzz.test.ts, through the Worker's
 * fetch) and against a server (bench/fuzz.mjs, over HTTP).
 */
import fc from "fast-check";
import { buildFixtures, type Fixtures } from "./fixtures";
import { MUTATIONS, mutate, pickMutation, rng, type Credentials, type Mutation } from "./mutations";
import { judge } from "./oracle";
import { SchemaArbs, type Json, type Schema } from "./schema-arb";
import { bytes, pathnameOf, type Draft, type Send, type Wire } from "./wire";

export interface FuzzOptions {
  send: Send;
  /** An all-scopes token (`admin`). */
  admin: string;
  /** The server's HS256 secret, when known: adds an expired token to the hostile credentials. */
  secret?: string;
  seed: number;
  requests: number;
  /** Stop sending new requests this many ms after the start, even before `requests` (a CI run's wall-clock cap)... */
  budgetMs?: number;
  /**
   * ...but not before every route has had a request and this many were sent (default 0): what
   * a run covers depends on the seed, never on how fast the machine is.
   */
  minRequests?: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Fixtures are rebuilt every so many requests (default 1000): the fuzz takes them apart. */
  refreshEvery?: number;
  log?: (line: string) => void;
}

export interface Finding {
  route: string;
  mutation: Mutation | "setup";
  violation: string;
  count: number;
  /** The first request that showed it: enough to replay by hand. */
  example: {
    index: number;
    method: string;
    target: string;
    headers: Record<string, string>;
    body: string;
    status: number;
    reply: string;
  };
}

export interface FuzzReport {
  seed: number;
  requests: number;
  setupRequests: number;
  unsendable: number;
  /** Set when the budget ran out first: the index of the first request not sent. */
  stoppedAt?: number;
  elapsedMs: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  mutations: Record<string, number>;
  routes: Record<string, number>;
  /** How many routes (method and path) the document lists. */
  routeCount: number;
  findings: Finding[];
}

interface Route {
  method: string;
  template: string;
  params: { name: string; schema: Schema }[];
  query: { name: string; schema: Schema; required: boolean }[];
  headers: string[];
  body?: { schema: Schema; mediaType: string; form: boolean };
  /** A PUT of raw bytes (files, parts): the document declares no JSON body for it. */
  rawBody: boolean;
}

const BODY_MUTATIONS = new Set<Mutation>([
  "wrong-type",
  "huge",
  "deep",
  "unicode",
  "invalid-utf8",
  "duplicate-keys",
  "truncated",
  "garbage-body",
  "content-type",
]);
const NON_BODY = MUTATIONS.filter((m) => !BODY_MUTATIONS.has(m));

/** Request #i of seed S: a 32-bit seed of its own (splitmix-style mixing). */
function mix(seed: number, i: number): number {
  let x = (seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

const asObject = (value: unknown): Record<string, unknown> =>
  value && typeof value === "object" ? (value as Record<string, unknown>) : {};

/** The routes the document lists, with what the generator needs of each. */
export function routesOf(doc: Record<string, unknown>): Route[] {
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(asObject(doc.paths))) {
    for (const [method, op] of Object.entries(asObject(item))) {
      if (!["get", "head", "post", "put", "patch", "delete"].includes(method)) continue;
      const operation = asObject(op);
      const parameters = (Array.isArray(operation.parameters) ? operation.parameters : [])
        .map(asObject)
        .filter((p) => typeof p.name === "string");
      const content = asObject(asObject(operation.requestBody).content);
      const [mediaType, media] = Object.entries(content)[0] ?? [];
      const upper = method.toUpperCase();
      routes.push({
        method: upper,
        template,
        params: parameters
          .filter((p) => p.in === "path")
          .map((p) => ({ name: String(p.name), schema: asObject(p.schema) })),
        query: parameters
          .filter((p) => p.in === "query")
          .map((p) => ({ name: String(p.name), schema: asObject(p.schema), required: p.required === true })),
        headers: parameters.filter((p) => p.in === "header").map((p) => String(p.name).toLowerCase()),
        ...(mediaType
          ? {
              body: {
                schema: asObject(asObject(media).schema),
                mediaType,
                form: Object.keys(content).includes("application/x-www-form-urlencoded"),
              },
            }
          : {}),
        // Routes that take raw bytes (files, parts) declare no JSON body; the bridges' GET/HEAD take none.
        rawBody: upper === "PUT" && !mediaType,
      });
    }
  }
  return routes;
}

const toParam = (value: Json): string =>
  typeof value === "string"
    ? value
    : typeof value === "number" || typeof value === "boolean"
      ? String(value)
      : JSON.stringify(value);

/** The arbitrary of valid drafts of one route. */
function draftArb(route: Route, arbs: SchemaArbs, admin: string): fc.Arbitrary<Draft> {
  const params: Record<string, fc.Arbitrary<string>> = {};
  for (const p of route.params) {
    // `{id}` names a webhook or a token, by the route's family.
    const name =
      p.name === "id"
        ? route.template.startsWith("/v1/tokens")
          ? "token"
          : "webhook"
        : p.name === "a" || p.name === "b" || p.name === "n"
          ? "version"
          : p.name;
    const fallback =
      p.name === "delivery_id" || p.name === "id" || p.name === "upload_id"
        ? {
            type: "string",
            format: "uuid",
            pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
          }
        : p.schema;
    params[p.name] = arbs
      .of(fallback, name)
      .map(toParam)
      .filter((s) => s.length > 0);
  }
  const query = fc.tuple(
    ...route.query.map((q) =>
      q.required
        ? arbs.of(q.schema, q.name).map((v): [string, string] => [q.name, toParam(v)])
        : fc.option(
            arbs.of(q.schema, q.name).map((v): [string, string] => [q.name, toParam(v)]),
            { nil: undefined },
          ),
    ),
  );
  const headerArbs: Record<string, fc.Arbitrary<string>> = {
    "x-mreg-sha256": arbs.of({ type: "string", pattern: "^[0-9a-f]{64}$" }, "sha256").map(toParam),
    range: fc.constantFrom("bytes=0-3", "bytes=2-", "bytes=-4", "bytes=0-0"),
    "if-none-match": fc.constantFrom('"1"', '"2"', "*"),
    "idempotency-key": fc.string({ minLength: 1, maxLength: 40 }).map((s) => s.replace(/[^\x21-\x7e]/g, "k")),
    "x-mreg-key": fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.replace(/[^\x21-\x7e]/g, "k")),
  };
  const headers = fc.record(
    Object.fromEntries(
      route.headers.filter((h) => headerArbs[h]).map((h) => [h, fc.option(headerArbs[h]!, { nil: undefined })]),
    ),
  ) as fc.Arbitrary<Record<string, string | undefined>>;
  let body: fc.Arbitrary<Draft["body"]> = fc.constant(undefined);
  if (route.body) {
    const { mediaType } = route.body;
    const json = arbs.of(route.body.schema).map((value): Draft["body"] => ({ kind: "json", value, mediaType }));
    body = route.body.form
      ? fc.oneof(
          json,
          fc
            .array(
              arbs.of({ type: "string" }, "path").map((v): [string, string] => ["paths", toParam(v)]),
              { maxLength: 4 },
            )
            .map((value): Draft["body"] => ({ kind: "form", value })),
        )
      : json;
  } else if (route.rawBody) {
    body = fc.uint8Array({ maxLength: 64 }).map((b): Draft["body"] => ({ kind: "bytes", bytes: b }));
  }
  return fc
    .record({ params: fc.record(params), query, headers, body })
    .map(({ params: p, query: q, headers: h, body: b }) => {
      const defined = Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined));
      return {
        method: route.method,
        template: route.template,
        params: p,
        query: q.filter((x): x is [string, string] => x !== undefined),
        headers: { authorization: `Bearer ${admin}`, ...defined },
        ...(b ? { body: b } : {}),
      };
    });
}

const b64url = (data: Uint8Array | string) => {
  const raw = typeof data === "string" ? bytes(data) : data;
  return btoa(String.fromCharCode(...raw))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
};

/** An HS256 JWT, signed with WebCrypto (no library: the same code runs in workerd and Node). */
export async function signHs256(claims: Record<string, unknown>, secret: string): Promise<string> {
  const head = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  const key = await crypto.subtle.importKey("raw", bytes(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `${head}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes(head))))}`;
}

const preview = (data: Uint8Array | undefined) => {
  if (!data) return "";
  const text = new TextDecoder().decode(data.slice(0, 300));
  return data.length > 300 ? `${text}… (${data.length} bytes)` : text;
};
const clip = (text: string, n: number) => (text.length > n ? `${text.slice(0, n)}… (${text.length} chars)` : text);

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const report: FuzzReport = {
    seed: opts.seed,
    requests: 0,
    setupRequests: 0,
    unsendable: 0,
    elapsedMs: 0,
    statuses: {},
    codes: {},
    mutations: {},
    routes: {},
    routeCount: 0,
    findings: [],
  };
  const findings = new Map<string, Finding>();
  const bump = (counts: Record<string, number>, key: string) => (counts[key] = (counts[key] ?? 0) + 1);

  const observe = (
    index: number,
    route: string,
    mutation: Finding["mutation"],
    wire: Wire,
    status: number,
    headers: Headers,
    body: string,
  ) => {
    bump(report.statuses, String(status));
    const { violation, code } = judge({
      method: wire.method,
      pathname: pathnameOf(wire.target),
      status,
      headers,
      body,
      lenient: mutation === "method" || mutation === "path-shape",
    });
    if (code) bump(report.codes, code);
    if (!violation) return;
    const key = `${route} ${mutation} ${violation}`;
    const seen = findings.get(key);
    if (seen) seen.count++;
    else {
      const example = {
        index,
        method: wire.method,
        target: clip(wire.target, 300),
        headers: Object.fromEntries(Object.entries(wire.headers).map(([k, v]) => [k, clip(v, 120)])),
        body: preview(wire.body),
        status,
        reply: clip(body, 500),
      };
      findings.set(key, { route, mutation, violation, count: 1, example });
      opts.log?.(`finding: ${key} (#${index} ${wire.method} ${example.target} → ${status} ${clip(body, 200)})`);
    }
  };

  const recordSetup = (wire: Wire, status: number, headers: Headers, body: string) => {
    report.setupRequests++;
    observe(-1, `${wire.method} (setup)`, "setup", wire, status, headers, body);
  };

  const docReply = await opts.send({ method: "GET", target: "/openapi.json", headers: {} });
  if (docReply.status !== 200) throw new Error(`GET /openapi.json answered ${docReply.status}`);
  const doc = JSON.parse(docReply.body) as Record<string, unknown>;
  const routes = routesOf(doc);
  if (routes.length === 0) throw new Error("the OpenAPI document lists no routes");
  report.routeCount = routes.length;

  let fixtures: Fixtures = await buildFixtures(opts.send, opts.admin, 0, undefined, recordSetup);
  const components = asObject(asObject(doc.components).schemas) as Record<string, Schema>;
  const arbs = new SchemaArbs(components, () => fixtures.pools);
  const drafts = routes.map((route) => draftArb(route, arbs, opts.admin));
  const now = Math.floor(Date.now() / 1000);
  const creds: Credentials = {
    admin: opts.admin,
    ...fixtures.tokens,
    wrongKey: await signHs256(
      { sub: "mallory", scope: "admin", exp: now + 3600 },
      "not-the-server-secret-0123456789abcdef",
    ),
    ...(opts.secret
      ? {
          expired: await signHs256(
            { sub: "late", scope: "read write promote approve report admin", iat: now - 7200, exp: now - 3600 },
            opts.secret,
          ),
        }
      : {}),
  };

  const refreshEvery = opts.refreshEvery ?? 1000;
  let next = 0;
  let round = 0;
  let refreshing: Promise<void> | undefined;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.requests) return;
      const covered = i >= (opts.minRequests ?? 0) && Object.keys(report.routes).length === routes.length;
      if (opts.budgetMs !== undefined && Date.now() - started > opts.budgetMs && covered) {
        report.stoppedAt ??= i;
        return;
      }
      if (i > 0 && i % refreshEvery === 0) {
        refreshing = buildFixtures(opts.send, opts.admin, ++round, fixtures, recordSetup).then(
          (f) => void (fixtures = f),
        );
      }
      if (refreshing) await refreshing;
      const seed = mix(opts.seed, i);
      const r = rng(seed);
      const index = r.int(routes.length);
      const route = routes[index]!;
      const draft = fc.sample(drafts[index]!, { seed, numRuns: 1 })[0]!;
      let mutation = pickMutation(r);
      // GET and HEAD carry no body: their body mutations become others.
      if ((route.method === "GET" || route.method === "HEAD") && BODY_MUTATIONS.has(mutation))
        mutation = r.pick(NON_BODY);
      const wire = mutate(draft, mutation, r, creds);
      if ((wire.method === "GET" || wire.method === "HEAD") && wire.body) delete wire.body;
      const label = `${route.method} ${route.template}`;
      bump(report.mutations, mutation);
      bump(report.routes, label);
      let reply;
      try {
        reply = await opts.send(wire);
      } catch (err) {
        // The transport itself refused the request (a header no client may send): nothing reached the server.
        report.unsendable++;
        if (report.unsendable <= 3)
          opts.log?.(`unsendable #${i} ${wire.method} ${clip(wire.target, 120)}: ${String(err)}`);
        continue;
      }
      report.requests++;
      observe(i, label, mutation, wire, reply.status, reply.headers, reply.body);
      if (report.requests % 2000 === 0)
        opts.log?.(`${report.requests} requests, ${findings.size} findings, ${Date.now() - started} ms`);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  report.elapsedMs = Date.now() - started;
  report.findings = [...findings.values()];
  return report;
}
