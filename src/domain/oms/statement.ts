/**
 * The OMS statement (an in-toto Statement v1 with predicate
 * `https://model_signing/signature/v1.0`) and its rules: files serialization with sha256,
 * one subject whose digest is SHA-256 over the resources' raw digests in the order listed,
 * and the comparison of its resources with a version's files. Also the statement a signer
 * writes, ordered as the reference tool orders it.
 */
import { hexInto, hexOf, sha256, utf8Decode } from "./bytes";
import { attempt, fail, type Refusal } from "./problem";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const PREDICATE_TYPE = "https://model_signing/signature/v1.0";
/** The v0.2 predicate the reference still reads; its statements name no serialization, so they are refused. */
const V02_PREDICATE_TYPE = "https://model_signing/Digests/v0.1";

/**
 * What the reference signer leaves out by default (`model.sig` and git's files), written into
 * statements mreg makes so that `python -m model_signing verify` can run over a pulled folder.
 */
export const DEFAULT_IGNORE_PATHS: readonly string[] = ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"];

export interface Resource {
  readonly name: string;
  /** Lower-case hex. */
  readonly sha256: string;
}

export interface Statement {
  /** The subject's name: the model folder's name when the reference signed it; informative only. */
  readonly name: string;
  /** The subject digest the statement claims (lower-case hex). */
  readonly subjectSha256: string;
  /** In the order listed, which is the order the subject digest is taken in. */
  readonly resources: readonly Resource[];
  /** The raw 32-byte digests, concatenated in that order. */
  readonly digestBytes: Uint8Array;
  /** v1.1's `serialization.ignore_paths`, normalized (`./a/` → `a`); empty for v1.0 statements. */
  readonly ignorePaths: readonly string[];
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A path as PurePosixPath reads it: no empty or `.` components, no trailing `/`. */
function normalizeIgnorePath(path: string): string {
  return path
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}

/**
 * Whether a path is an ignored one, or under one (the reference ignores a folder and all it
 * holds): a set lookup per `/`-prefix, so the cost does not grow with the number of ignored paths.
 */
export function isIgnored(path: string, ignored: ReadonlySet<string>): boolean {
  if (ignored.size === 0) return false;
  for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
    if (ignored.has(path.slice(0, slash))) return true;
  }
  return ignored.has(path);
}

/** Reads the DSSE payload as an OMS v1.0 statement; `{problem}` (check `statement`) when it is not one. */
export function readStatement(payload: Uint8Array): Statement | Refusal {
  return attempt(() => parseStatement(payload));
}

function parseStatement(payload: Uint8Array): Statement {
  const text = utf8Decode(payload);
  if (text === null) fail("statement", "the payload is not UTF-8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    fail("statement", "the payload is not JSON");
  }
  if (!isObject(json)) fail("statement", "the payload is not a JSON object");
  if (json._type !== STATEMENT_TYPE) fail("statement", `_type is not ${STATEMENT_TYPE}`);
  if (json.predicateType === V02_PREDICATE_TYPE) {
    fail(
      "statement",
      `the v0.2 predicate ${V02_PREDICATE_TYPE} is not supported: sign again with model_signing 1.0 or later`,
    );
  }
  if (json.predicateType !== PREDICATE_TYPE) fail("statement", `predicateType is not ${PREDICATE_TYPE}`);
  const subjects = json.subject;
  if (!Array.isArray(subjects) || subjects.length !== 1)
    fail("statement", "the statement must have exactly one subject");
  const subject: unknown = subjects[0];
  if (!isObject(subject) || typeof subject.name !== "string" || !isObject(subject.digest)) {
    fail("statement", "the subject needs a name and a digest");
  }
  const subjectSha256 = subject.digest.sha256;
  if (typeof subjectSha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(subjectSha256)) {
    fail("statement", "the subject's digest.sha256 is not 64 hex digits");
  }

  const predicate = json.predicate;
  if (!isObject(predicate) || !isObject(predicate.serialization))
    fail("statement", "predicate.serialization is missing");
  const serialization = predicate.serialization;
  if (serialization.method === "shards")
    fail("statement", 'serialization method "shards" is not supported (only "files")');
  if (serialization.method !== "files") fail("statement", 'serialization method is not "files"');
  if (serialization.hash_type !== "sha256") {
    fail("statement", `hash_type ${JSON.stringify(serialization.hash_type)} is not supported (only "sha256")`);
  }
  if (serialization.allow_symlinks !== undefined && typeof serialization.allow_symlinks !== "boolean") {
    fail("statement", "serialization.allow_symlinks is not a boolean");
  }
  const ignorePaths = readIgnorePaths(serialization.ignore_paths);
  const ignored = new Set(ignorePaths);

  const list = predicate.resources;
  if (!Array.isArray(list)) fail("statement", "predicate.resources is not a list");
  const digestBytes = new Uint8Array(32 * list.length);
  const seen = new Set<string>();
  const resources = list.map((item: unknown, i): Resource => {
    if (!isObject(item) || typeof item.name !== "string" || item.name === "")
      fail("statement", `resource ${i} has no name`);
    const name = item.name;
    if (item.algorithm !== "sha256") fail("statement", `resource ${name}: algorithm is not sha256`);
    if (typeof item.digest !== "string" || !hexInto(item.digest, digestBytes, 32 * i, 32)) {
      fail("statement", `resource ${name}: digest is not 64 hex digits`);
    }
    if (seen.has(name)) fail("statement", `resource ${name} is listed twice`);
    seen.add(name);
    // The reference skips ignored paths when it hashes a folder, so it could never verify this one.
    if (isIgnored(name, ignored)) fail("statement", `resource ${name} lies under an ignored path`);
    return { name, sha256: item.digest.toLowerCase() };
  });
  return { name: subject.name, subjectSha256: subjectSha256.toLowerCase(), resources, digestBytes, ignorePaths };
}

function readIgnorePaths(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((p) => typeof p !== "string"))
    fail("statement", "serialization.ignore_paths is not a list of strings");
  return (value as string[]).map((path) => {
    const normalized = normalizeIgnorePath(path);
    // "." would make every file of the version an ignored one.
    if (normalized === "") fail("statement", `ignore_paths entry ${JSON.stringify(path)} covers the whole model`);
    return normalized;
  });
}

/** SHA-256 over the raw digests in the order listed: the subject digest a statement must claim. */
export async function subjectDigest(statement: Pick<Statement, "digestBytes">): Promise<string> {
  return hexOf(await sha256(statement.digestBytes));
}

/** How many problems `compareResources` spells out; the rest are counted. */
const MAX_LISTED_PROBLEMS = 20;

/**
 * The statement's resources against a version's files (path → sha256 hex): names compared
 * byte for byte, no file missing, none extra unless an ignored path covers it, digests equal.
 * Answers the problems in words, at most 20 of them and a count of the rest; empty when they agree.
 */
export function compareResources(statement: Statement, files: ReadonlyMap<string, string>): string[] {
  const ignored = new Set(statement.ignorePaths);
  const wanted = new Map<string, string>();
  for (const resource of statement.resources) wanted.set(resource.name, resource.sha256);
  const problems: string[] = [];
  let more = 0;
  const note = (problem: string) => (problems.length < MAX_LISTED_PROBLEMS ? problems.push(problem) : more++);
  for (const [path, sha] of files) {
    const expected = wanted.get(path);
    if (expected === undefined) {
      if (!isIgnored(path, ignored)) note(`extra file ${path} (not in the signed statement)`);
      continue;
    }
    if (expected !== sha.toLowerCase()) note(`${path}: sha256 ${sha} differs from the signed ${expected}`);
    wanted.delete(path);
  }
  for (const path of wanted.keys()) note(`missing file ${path} (signed, not in the version)`);
  if (more > 0) problems.push(`and ${more} more`);
  return problems;
}

/** Orders strings by code point, as Python compares them (JavaScript's `<` compares UTF-16 units). */
function codePointCompare(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Only surrogates (astral characters) order differently by code point than by unit.
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) {
      return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0);
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The reference tool's resource order: `sorted()` of PurePosixPath, which compares the paths'
 * components one by one (so `a/b` comes before `a-b`, unlike plain string order).
 */
export function pathOrder(a: string, b: string): number {
  return componentOrder(a.split("/"), b.split("/"));
}

function componentOrder(left: readonly string[], right: readonly string[]): number {
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const order = codePointCompare(left[i]!, right[i]!);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

/**
 * The statement a signer writes for these files (their sha256s as given, never re-hashed),
 * in the reference tool's order and layout: resources sorted by `pathOrder`, the subject
 * digest over them in that order, `ignore_paths` the reference's defaults that name no file.
 */
export async function buildStatement(name: string, files: readonly Resource[]): Promise<Json> {
  // Split once, not at every comparison: 10,000 files take some 130,000 comparisons.
  const resources = files
    .map((file) => ({ file, parts: file.name.split("/") }))
    .sort((a, b) => componentOrder(a.parts, b.parts))
    .map((keyed) => keyed.file);
  const digestBytes = new Uint8Array(32 * resources.length);
  resources.forEach((r, i) => {
    if (!hexInto(r.sha256, digestBytes, 32 * i, 32)) throw new Error(`sha256 of ${r.name} is not 64 hex digits`);
  });
  for (let i = 1; i < resources.length; i++) {
    if (resources[i]!.name === resources[i - 1]!.name) throw new Error(`${resources[i]!.name} is listed twice`);
  }
  const ignorePaths = DEFAULT_IGNORE_PATHS.filter((path) => {
    const single = new Set([path]);
    return !resources.some((r) => isIgnored(r.name, single));
  });
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name, digest: { sha256: await subjectDigest({ digestBytes }) } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      serialization: { method: "files", hash_type: "sha256", allow_symlinks: false, ignore_paths: ignorePaths },
      resources: resources.map((r) => ({ algorithm: "sha256", digest: r.sha256.toLowerCase(), name: r.name })),
    },
  };
}
