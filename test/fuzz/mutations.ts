/**
 * Mutations of a valid request: wrong types, huge and deep values, odd unicode (lone
 * surrogates, NUL, invalid UTF-8 bytes), hostile path parameters and path shapes, duplicate
 * JSON keys, truncated bodies, wrong content types, hostile query strings and headers,
 * missing and garbage credentials, wrong methods. Each takes a seeded `Rng`, so request
 * #i of seed S is the same request on every run.
 */
import type { Json } from "./schema-arb";
import { bytes, encode, encodeParam, render, renderPath, renderQuery, type Draft, type Wire } from "./wire";

export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast, and the same on every platform. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]) => items[int(items.length)]! };
}

/** Credentials a mutation may send instead of the admin token. */
export interface Credentials {
  admin: string;
  /** Minted through POST /v1/tokens: `read` only; `models: ["other-*"]`; `aliases: ["staging"]`. */
  reader: string;
  otherModels: string;
  stagingOnly: string;
  /** HS256 with a key the server does not hold. */
  wrongKey: string;
  /** Expired (only where the caller can sign with the server's key). */
  expired?: string;
}

export const MUTATIONS = [
  "valid",
  "wrong-type",
  "huge",
  "deep",
  "unicode",
  "invalid-utf8",
  "duplicate-keys",
  "truncated",
  "garbage-body",
  "content-type",
  "path-param",
  "path-shape",
  "query",
  "headers",
  "auth",
  "method",
] as const;
export type Mutation = (typeof MUTATIONS)[number];

const WEIGHTS: Record<Mutation, number> = {
  valid: 20,
  "wrong-type": 8,
  huge: 4,
  deep: 3,
  unicode: 6,
  "invalid-utf8": 3,
  "duplicate-keys": 3,
  truncated: 4,
  "garbage-body": 4,
  "content-type": 4,
  "path-param": 10,
  "path-shape": 4,
  query: 6,
  headers: 5,
  auth: 10,
  method: 3,
};
const TOTAL_WEIGHT = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);

export function pickMutation(r: Rng): Mutation {
  let x = r.next() * TOTAL_WEIGHT;
  for (const m of MUTATIONS) {
    x -= WEIGHTS[m];
    if (x < 0) return m;
  }
  return "valid";
}

/** Strings that have broken parsers, validators, SQL and storage layers before. */
export const ODD_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff",
  "x\udc00\ud800y",
  "\ufeffname",
  "\u202egnp.exe",
  "\u2028\u2029",
  "\uffff\ufffe",
  "\u{10ffff}",
  "𝕞𝕣𝕖𝕘",
  "👩‍👩‍👧‍👦",
  "e\u0301\u0301\u0301",
  "İıſK",
  "ｍｏｄｅｌ",
  "..",
  ".",
  "../../etc/passwd",
  "a/b",
  "a\\b",
  "%00",
  "%2e%2e%2f",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  '"; DROP TABLE models; --',
  "${jndi:ldap://x/a}",
  "{{7*7}}",
  "null",
  "-1",
  "1e309",
  "NaN",
  "\t\n\r",
  "x".repeat(129),
  "é".repeat(3000),
  "x".repeat(70_000),
];

/** Path parameters as they go on the request line (already escaped, or deliberately not). */
const HOSTILE_SEGMENTS: readonly string[] = [
  "..",
  ".",
  "%2e%2e",
  "%2E",
  ".%2e",
  "%2f",
  "a%2Fb",
  "a%2fb%2f..%2f..",
  "%5c",
  "a%5Cb",
  "%00",
  "a%00b",
  "%",
  "%zz",
  "%e",
  "%ff%fe",
  "%c0%af",
  "%ed%a0%80",
  "%F0%9F%92%A9",
  "%E2%80%AE",
  "%20",
  "+",
  "~",
  "*",
  "-",
  "_",
  "0",
  "-1",
  "1.5",
  "1e3",
  "0x10",
  "00001",
  "99999999999999999999",
  "9007199254740993",
  "v0",
  "latest",
  "UPPER",
  "production;x=1",
  "a%3Fb%3Dc",
  "a%23b",
  "registry%3A%2F%2Fm%401",
  "a".repeat(300),
  "a".repeat(4000),
  "b".repeat(20_000),
  "%61".repeat(2000),
];

const TYPES_OTHER_THAN: ReadonlyArray<{ value: Json | RawJson }> = [
  { value: null },
  { value: true },
  { value: false },
  { value: 0 },
  { value: -1 },
  { value: 1.5 },
  { value: "s" },
  { value: "" },
  { value: [] },
  { value: {} },
  { value: [1, "a", null] },
  { value: { a: { b: [] } } },
  { value: 1e308 },
  { value: -1e308 },
  { value: { raw: "9007199254740993" } },
  { value: { raw: "1e400" } },
  { value: { raw: "-0" } },
  { value: { raw: "0.0000000000000000000000000001" } },
  { value: { raw: "123456789012345678901234567890" } },
];

/** JSON text spliced in as written (numbers no JS value can hold, deep nests). */
interface RawJson {
  raw: string;
}
const isRaw = (value: unknown): value is RawJson =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  typeof (value as { raw?: unknown }).raw === "string";

const CONTENT_TYPES: readonly (string | null)[] = [
  null,
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/json; charset=utf-16",
  "application/jsonx",
  "application/merge-patch+json",
  "APPLICATION/JSON",
  "application/json;;;",
  "*/*",
  ";",
  "application/octet-stream",
  "application/problem+json",
  "text/html; charset=utf-8",
];

const b64 = (text: string) => btoa(text);

/** Paths into a JSON value: [] is the value itself. */
function pathsOf(
  value: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (out.length > 64) return out;
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

/** The value with the node at `path` replaced; raw JSON splices through a placeholder. */
function replaceAt(value: Json, path: (string | number)[], replacement: Json | RawJson, raws: string[]): Json {
  const put: Json = isRaw(replacement) ? `__RAW_${raws.push(replacement.raw) - 1}__` : replacement;
  if (path.length === 0) return put;
  const copy = structuredClone(value) as Json;
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[path[path.length - 1]!] = put;
  return copy;
}

function stringify(value: Json, raws: string[]): string {
  let text = JSON.stringify(value);
  raws.forEach((raw, i) => (text = text.replace(`"__RAW_${i}__"`, () => raw)));
  return text;
}

function withJsonText(wire: Wire, text: string | Uint8Array): Wire {
  return {
    ...wire,
    headers: { ...wire.headers, "content-type": wire.headers["content-type"] ?? "application/json" },
    body: typeof text === "string" ? bytes(text) : text,
  };
}

/** The JSON value a mutation edits: the draft's body, or `{}` for a route without one. */
const jsonOf = (draft: Draft): Json => (draft.body?.kind === "json" ? draft.body.value : {});

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function nest(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"];

export function mutate(draft: Draft, kind: Mutation, r: Rng, creds: Credentials): Wire {
  const wire = render(draft);
  const raws: string[] = [];
  const value = jsonOf(draft);
  const randomPath = () => r.pick(pathsOf(value));
  switch (kind) {
    case "valid":
      return wire;
    case "wrong-type":
      return withJsonText(wire, stringify(replaceAt(value, randomPath(), r.pick(TYPES_OTHER_THAN).value, raws), raws));
    case "huge": {
      const huge: (Json | RawJson)[] = [
        "x".repeat(5_000),
        "y".repeat(70_000),
        "z".repeat(300_000),
        "w".repeat(1_100_000),
        Array.from({ length: 10_000 }, (_, i) => i),
        Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, "v"])),
        Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`key-${i}`, i])),
        { raw: "9".repeat(5_000) },
      ];
      return withJsonText(wire, stringify(replaceAt(value, randomPath(), r.pick(huge), raws), raws));
    }
    case "deep": {
      const depth = r.pick([31, 32, 33, 64, 1_000, 20_000, 200_000]);
      const raw = { raw: nest(depth, r.pick(["array", "object"] as const)) };
      return withJsonText(wire, stringify(replaceAt(value, randomPath(), raw, raws), raws));
    }
    case "unicode": {
      const paths = pathsOf(value);
      const strings = paths.filter((p) => p.length > 0);
      const odd = r.pick(ODD_STRINGS);
      // Either a value or an object key becomes the odd string.
      if (r.next() < 0.3 && value && typeof value === "object" && !Array.isArray(value)) {
        return withJsonText(wire, JSON.stringify({ ...value, [odd]: r.pick(["v", 1, null] as Json[]) }));
      }
      return withJsonText(wire, stringify(replaceAt(value, strings.length ? r.pick(strings) : [], odd, raws), raws));
    }
    case "invalid-utf8": {
      const bad = r.pick([
        [0xed, 0xa0, 0x80],
        [0xff],
        [0xc0, 0xaf],
        [0xe2, 0x82],
        [0xf4, 0x90, 0x80, 0x80],
        [0x80],
        [0xfe, 0xff],
      ]);
      const text = stringify(replaceAt(value, r.pick(pathsOf(value)), "__BAD__", raws), raws);
      const [head, tail] = text.includes("__BAD__") ? text.split("__BAD__") : [text, ""];
      return withJsonText(wire, concat(bytes(head ?? ""), new Uint8Array(bad), bytes(tail ?? "")));
    }
    case "duplicate-keys": {
      const text = JSON.stringify(value);
      const obj = value && typeof value === "object" && !Array.isArray(value) ? value : {};
      const keys = Object.keys(obj);
      const key = keys.length ? r.pick(keys) : r.pick(["name", "version", "__proto__", "constructor"]);
      const other = JSON.stringify(r.pick(TYPES_OTHER_THAN.filter((t) => !isRaw(t.value)).map((t) => t.value as Json)));
      const extra = r.pick([`"${key}":${other}`, `"__proto__":{"admin":true}`, `"constructor":{"prototype":{"x":1}}`]);
      const dup =
        text.startsWith("{") && text !== "{}"
          ? r.next() < 0.5
            ? `{${extra},${text.slice(1)}`
            : `${text.slice(0, -1)},${extra}}`
          : `{${extra},${extra}}`;
      return withJsonText(wire, dup);
    }
    case "truncated": {
      const text = wire.body ?? bytes(JSON.stringify(value));
      return withJsonText(wire, text.slice(0, r.int(Math.max(1, text.length))));
    }
    case "garbage-body": {
      const options: (string | Uint8Array)[] = [
        "",
        "null",
        "[]",
        "1",
        '"x"',
        "{",
        "}",
        "{]",
        "nul",
        "tru",
        '{"a":1}garbage',
        "{} {}",
        "\u0000",
        "\ufeff{}",
        " ".repeat(1_100_000),
        Uint8Array.from({ length: 64 }, () => r.int(256)),
        new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
      ];
      return withJsonText(wire, r.pick(options));
    }
    case "content-type": {
      const type = r.pick(CONTENT_TYPES);
      const headers = { ...wire.headers };
      if (type === null) delete headers["content-type"];
      else headers["content-type"] = type;
      return { ...wire, headers, body: wire.body ?? bytes(JSON.stringify(value)) };
    }
    case "path-param": {
      const names = Object.keys(draft.params);
      if (names.length === 0) return mutate(draft, "path-shape", r, creds);
      const name = r.pick(names);
      const raw =
        r.next() < 0.8
          ? r.pick(HOSTILE_SEGMENTS)
          : encodeParam(name, r.pick(ODD_STRINGS.filter((s) => s.length < 10_000)));
      return { ...wire, target: renderPath(draft.template, draft.params, { [name]: raw }) + renderQuery(draft.query) };
    }
    case "path-shape": {
      const path = renderPath(draft.template, draft.params);
      const query = renderQuery(draft.query);
      const shapes = [
        `${path}/`,
        `${path}//`,
        `/${path}`,
        path.replace("/", "//"),
        `${path}/extra`,
        `${path}/..`,
        `${path}/.`,
        `${path}%2F`,
        path.replace(/\/([^/]*)$/, "%2F$1"),
        path.toUpperCase(),
        path.replace(/^\/v1/, ""),
        `${path};jsessionid=1`,
        `${path}%00`,
        `${path}/${"deep/".repeat(500)}`,
        `/v1/${"..%2F".repeat(8)}etc/passwd`,
        `${path}#fragment`,
        `/%2e%2e${path}`,
      ];
      const shape = r.pick(shapes);
      return { ...wire, target: (shape.startsWith("/") ? shape : `/${shape}`) + query };
    }
    case "query": {
      const query = [...draft.query];
      const key =
        r.next() < 0.6 && query.length
          ? r.pick(query)[0]
          : r.pick(["limit", "cursor", "key", "depth", "status", "since", "prefix", "tag", "uri", "x"]);
      const raw = r.pick([
        "-1",
        "0",
        "201",
        "1e3",
        "abc",
        "",
        "%zz",
        "%",
        "%00",
        "%ed%a0%80",
        "%ff",
        "1.5",
        "99999999999999999999999",
        "NaN",
        "Infinity",
        "a:b:c",
        ":",
        "registry://",
        "registry://..@..",
        "registry://m@",
        "registry://m/0",
        "registry://m/99999999999999999999",
        "eyJ4IjoxfQ",
        "AAAA".repeat(2_000),
        encode(r.pick(ODD_STRINGS.filter((s) => s.length < 10_000))),
      ]);
      const rendered = renderQuery(query);
      const tail = r.pick([
        `${key}=${raw}`,
        `${key}=${raw}&${key}=2`,
        `${key}`,
        `${key}[]=1`,
        `=${raw}`,
        "&&&",
        `${key}=1;${key}=2`,
      ]);
      return {
        ...wire,
        target: renderPath(draft.template, draft.params) + (rendered ? `${rendered}&${tail}` : `?${tail}`),
      };
    }
    case "headers": {
      const headers = { ...wire.headers };
      const [name, val] = r.pick<[string, string]>([
        [
          "range",
          r.pick([
            "bytes=abc",
            "bytes=5-1",
            "bytes=0-0,1-1",
            "bytes=-0",
            "bytes=99999999999999999999-",
            "bytes=-",
            "items=0-1",
            "bytes=0-",
            "bytes=1-0",
            "bytes=" + "0-1,".repeat(500),
          ]),
        ],
        ["if-none-match", r.pick(["*", "garbage", '"', 'W/"1"', '"' + "9".repeat(400) + '"', '"1", "2"'])],
        ["idempotency-key", r.pick(["", "k".repeat(10_000), "a b", "\t"])],
        ["x-mreg-sha256", r.pick(["zz", "0".repeat(63), "0".repeat(64), "A".repeat(64), "0".repeat(65), ""])],
        ["x-request-id", r.pick(["", "x".repeat(200), "a b", "../..", "%00"])],
        ["x-mreg-key", r.pick(["", "k".repeat(10_000), "%ff"])],
        ["x-d1-bookmark", r.pick(["garbage", "0-0", "f".repeat(64) + "-" + "f".repeat(64), "-".repeat(100)])],
        ["accept", r.pick(["text/html", "application/xml", "*/*;q=0", ""])],
        ["cookie", r.pick(["mreg_session=garbage", "mreg_session=" + "a".repeat(4_000), "a=b; c"])],
        ["accept-encoding", "gzip, br, zstd"],
      ]);
      headers[name] = val;
      return { ...wire, headers };
    }
    case "auth": {
      const headers = { ...wire.headers };
      const tamper = (token: string) => {
        const parts = token.split(".");
        const payload = b64(JSON.stringify({ sub: "mallory", scope: "admin", exp: 4_102_444_800 }))
          .replace(/=+$/, "")
          .replace(/\+/g, "-")
          .replace(/\//g, "_");
        return `${parts[0]}.${payload}.${parts[2]}`;
      };
      const none = `${b64('{"alg":"none","typ":"JWT"}').replace(/=+$/, "")}.${b64('{"sub":"x","scope":"admin","exp":4102444800}').replace(/=+$/, "")}.`;
      const value = r.pick<string | null>([
        null,
        "",
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b.c",
        `Bearer ${none}`,
        `Bearer ${creds.wrongKey}`,
        `Bearer ${tamper(creds.admin)}`,
        `Bearer ${creds.admin}x`,
        `bearer ${creds.admin}`,
        `Bearer  ${creds.admin}`,
        `Token ${creds.admin}`,
        `Bearer hf_${creds.admin}`,
        `Basic ${b64(`user:${creds.admin}`)}`,
        `Basic ${b64("garbage")}`,
        "Basic !!!",
        `Basic ${b64(":")}`,
        `Bearer ${"a".repeat(8_000)}`,
        `Bearer ${creds.reader}`,
        `Bearer ${creds.otherModels}`,
        `Bearer ${creds.stagingOnly}`,
        ...(creds.expired ? [`Bearer ${creds.expired}`] : []),
      ]);
      if (value === null) delete headers.authorization;
      else headers.authorization = value;
      return { ...wire, headers };
    }
    case "method": {
      const method = r.pick(METHODS.filter((m) => m !== draft.method));
      const body = method === "GET" || method === "HEAD" ? undefined : wire.body;
      return { ...wire, method, ...(body ? { body } : { body: undefined }) };
    }
  }
}
