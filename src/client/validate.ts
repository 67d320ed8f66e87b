/**
 * What the client checks of every answer a serving node acts on, before any caller sees it.
 * The registry, or anything on an `http://` path to it, may answer anything, and a version
 * number, a model name, a file path, a size and a sha256 become names and lengths on a disk:
 * so a Resolution, a watch message, a Version and a file list must be the contract's, field
 * by field, or the call fails with an MregError `invalid_response` (never a value). What is
 * checked and what is not: docs/security.md, "What a serving node trusts".
 *
 * Written by hand rather than with zod, so the client stays free of dependencies (it runs in
 * browsers and Workers too); the file path rule is the registry's own (../domain/file-path-rule.ts).
 */
import { filePathProblem } from "../domain/file-path-rule";
import { MregError } from "./errors";
import type { FileEntry, Resolution, SplitEntry, Version, WatchEvent } from "./types";

/** The highest version a model URI can name (`registry://m/` and 1 to 9 digits), so the highest a node accepts. */
export const MAX_VERSION = 999_999_999;
/** R2's largest object, 5 TiB: the registry stores no larger file (src/artifacts/schemas.ts). */
export const MAX_FILE_SIZE = 5 * 1024 ** 4;
/** A JSON answer larger than this is refused while it streams in, so an answer that never ends cannot fill memory. */
export const MAX_JSON_ANSWER = 64 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** A version number as a node may use it: an integer from 1 to MAX_VERSION. */
export const isVersionNumber = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_VERSION;
export const isSha256Hex = (v: unknown): boolean => typeof v === "string" && SHA256_HEX.test(v);

/** What the caller asked for, which the answer must be about. */
export interface Asked {
  model: string;
  /** An alias (as typed: it is compared folded to lower case), when the request named one. */
  alias?: string;
  /** A version, when the request named one. */
  version?: number;
}

/** One field that breaks the contract: where, and what is wrong with it. */
class Invalid extends Error {
  constructor(
    readonly at: string,
    readonly problem: string,
  ) {
    super(`${at}: ${problem}`);
  }
}

/** The error a caller sees: `<what>: invalid answer from the registry: <field>: <problem>`. */
export function invalidResponse(what: string, problem: string, status = 200): MregError {
  return new MregError({
    status,
    code: "invalid_response",
    detail: `${what}: invalid answer from the registry: ${problem}`,
  });
}

/** Runs `check`, turning the first broken field into an `invalid_response` for `what`. */
function judged<T>(what: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof Invalid) throw invalidResponse(what, err.message);
    throw err;
  }
}

const shown = (v: unknown): string => {
  const text = (typeof v === "number" && !Number.isFinite(v) ? String(v) : JSON.stringify(v)) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
};
const fail = (at: string, problem: string, got: unknown): never => {
  throw new Invalid(at, `${problem} (got ${shown(got)})`);
};

function object(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(at, "must be an object", v);
  return v as Record<string, unknown>;
}

function version(v: unknown, at: string): number {
  if (!isVersionNumber(v)) fail(at, `must be an integer from 1 to ${MAX_VERSION}`, v);
  return v as number;
}

function count(v: unknown, at: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
    fail(at, `must be an integer from 0 to ${max}`, v);
  return v as number;
}

function digest(v: unknown, at: string): string | null {
  if (v !== null && (typeof v !== "string" || !DIGEST.test(v)))
    fail(at, "must be null or sha256:<64 lower-case hex digits>", v);
  return v as string | null;
}

function same(v: unknown, expected: string, at: string, what: string): void {
  if (v !== expected) fail(at, `must be ${what} '${expected}'`, v);
}

function file(v: unknown, at: string): FileEntry {
  const f = object(v, at);
  if (typeof f.path !== "string") fail(`${at}.path`, "must be a string", f.path);
  const problem = filePathProblem(f.path as string);
  if (problem) fail(`${at}.path`, problem, f.path);
  count(f.size, `${at}.size`, MAX_FILE_SIZE);
  if (!isSha256Hex(f.sha256)) fail(`${at}.sha256`, "must be 64 lower-case hex digits", f.sha256);
  return f as unknown as FileEntry;
}

/** A version's files: each path by the registry's rule, sizes and sha256s well formed, no path twice. */
function files(v: unknown, at: string): FileEntry[] {
  if (!Array.isArray(v)) fail(at, "must be a list", v);
  const seen = new Set<string>();
  (v as unknown[]).forEach((entry, i) => {
    const f = file(entry, `${at}[${i}]`);
    if (seen.has(f.path)) fail(`${at}[${i}].path`, "appears twice", f.path);
    seen.add(f.path);
  });
  return v as FileEntry[];
}

function split(v: unknown, at: string): SplitEntry[] | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length === 0) fail(at, "must be null or a non-empty list", v);
  (v as unknown[]).forEach((entry, i) => {
    const s = object(entry, `${at}[${i}]`);
    version(s.version, `${at}[${i}].version`);
    if (typeof s.weight !== "number" || !Number.isFinite(s.weight) || s.weight < 0)
      fail(`${at}[${i}].weight`, "must be a number of at least 0", s.weight);
  });
  return v as SplitEntry[];
}

const SIGNER_KINDS = new Set(["key", "certificate", "sigstore"]);

/**
 * A version's signatures as a Resolution lists them: each an id, a signer of a known kind and
 * the ids of the keys that vouch, all strings (what a node fetches and checks itself; the
 * bundle's content is its own verification's business). A registry from before signatures
 * sends none: read as none.
 */
function signatures(r: Record<string, unknown>, at: string): void {
  if (r.signatures === undefined) r.signatures = [];
  const v = r.signatures;
  if (!Array.isArray(v)) fail(at, "must be a list", v);
  (v as unknown[]).forEach((entry, i) => {
    const s = object(entry, `${at}[${i}]`);
    if (typeof s.id !== "string" || s.id === "") fail(`${at}[${i}].id`, "must be a signature id", s.id);
    const signer = object(s.signer, `${at}[${i}].signer`);
    if (!SIGNER_KINDS.has(signer.kind as string))
      fail(`${at}[${i}].signer.kind`, "must be key, certificate or sigstore", signer.kind);
    if (!Array.isArray(s.trusted_by) || s.trusted_by.some((k) => typeof k !== "string"))
      fail(`${at}[${i}].trusted_by`, "must be a list of key ids", s.trusted_by);
  });
}

/** The fields a Resolution and a watch message share, for a version that is named. */
function named(r: Record<string, unknown>, asked: Asked): void {
  same(r.model, asked.model, "model", "the model asked for,");
  if (typeof r.alias !== "string" || !ALIAS_NAME.test(r.alias)) fail("alias", "must be an alias name", r.alias);
  if (asked.alias !== undefined) same(r.alias, asked.alias.toLowerCase(), "alias", "the alias asked for,");
  const v = version(r.version, "version");
  if (asked.version !== undefined && v !== asked.version)
    fail("version", `must be the version asked for, ${asked.version}`, v);
  count(r.generation, "generation");
  digest(r.digest, "digest");
  files(r.files, "files");
  same(r.uri, `registry://${asked.model}/${v}`, "uri", "the version's URI,");
  const members = split(r.split, "split");
  if (members && !members.some((m) => m.version === v)) fail("split", `must hold the version answered, ${v}`, r.split);
  signatures(r, "signatures");
}

/** A Resolution about what was asked (GET of an alias, /v1/resolve). Extra members (`lineage` …) pass as they are. */
export function validResolution(value: unknown, asked: Asked, what: string): Resolution {
  return judged(what, () => {
    named(object(value, "answer"), asked);
    return value as Resolution;
  });
}

/** A watch message about the alias watched: a Resolution plus `event`, or nulls once the alias resolves to nothing. */
export function validWatchEvent(value: unknown, asked: Asked & { alias: string }, what: string): WatchEvent {
  return judged(what, () => {
    const m = object(value, "message");
    if (typeof m.event !== "string") fail("event", "must be a string", m.event);
    if (m.version !== null) {
      named(m, asked);
      return value as WatchEvent;
    }
    same(m.model, asked.model, "model", "the model asked for,");
    same(m.alias, asked.alias.toLowerCase(), "alias", "the alias asked for,");
    count(m.generation, "generation");
    if (m.files !== null || m.digest !== null)
      fail("files", "must be null, with the digest, when the version is", { files: m.files, digest: m.digest });
    if (m.signatures === undefined) m.signatures = null;
    if (m.signatures !== null) fail("signatures", "must be null when the version is", m.signatures);
    return value as WatchEvent;
  });
}

/** A Version of the model asked for (and the version, when one was): its identity, files and digest. */
export function validVersion(value: unknown, asked: Asked, what: string): Version {
  return judged(what, () => checkVersion(value, asked, "answer"));
}

/** Each item of a page of versions, as validVersion. */
export function validVersions<P extends { items: Version[] }>(value: unknown, model: string, what: string): P {
  return judged(what, () => {
    const page = object(value, "answer");
    if (!Array.isArray(page.items)) fail("items", "must be a list", page.items);
    (page.items as unknown[]).forEach((v, i) => checkVersion(v, { model }, `items[${i}]`));
    return value as P;
  });
}

function checkVersion(value: unknown, asked: Asked, at: string): Version {
  const v = object(value, at);
  same(v.model, asked.model, `${at}.model`, "the model asked for,");
  const n = version(v.version, `${at}.version`);
  if (asked.version !== undefined && n !== asked.version)
    fail(`${at}.version`, `must be the version asked for, ${asked.version}`, n);
  files(v.files, `${at}.files`);
  digest(v.digest, `${at}.digest`);
  return value as Version;
}

/** A page of a version's files (`{items: [File]}`). */
export function validFileList(value: unknown, what: string): FileEntry[] {
  return judged(what, () => files(object(value, "answer").items, "items"));
}
