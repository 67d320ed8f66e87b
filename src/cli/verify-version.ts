/**
 * A node's own check of a version's signatures (`mreg pull --verify`, `mreg agent --trust-*`):
 * it fetches the bundles the registry lists, verifies each with the trust the node was given
 * (never the registry's `trusted_by`, which is the registry's word, not a proof), and compares
 * each statement's resources with the version's files, the sha256s every downloaded byte is
 * checked against (./download.ts). A version passes when at least one of its signatures is
 * valid, covers exactly its files, and is vouched for by one of the node's keys, CAs or
 * identities. The verifier is the registry's own (docs/signing.md, "How verification works").
 */
import { readFileSync } from "node:fs";
import type { MregClient } from "../client/client";
import type { Signature } from "../client/types";
import {
  certificateFromPem,
  isRefusal,
  parseTrustedRoot,
  spkiFromPem,
  verifyBundle,
  type Signer,
  type Trust,
  type TrustedCa,
  type TrustedIdentity,
  type TrustedKey,
} from "../signatures/verify";
import { str, strs, type Input } from "./command";
import { UsageError } from "./exit";

/** The options `pull` and `agent` share to say whom the node trusts. */
export const TRUST_OPTIONS = {
  "trust-key": { type: "string", multiple: true },
  "trust-ca": { type: "string", multiple: true },
  "trust-identity": { type: "string", multiple: true },
  "trusted-root": { type: "string" },
} as const;

/** The trust options' help lines, their text starting at column `width` as the command's other lines do. */
export function trustHelp(width: number): string[] {
  const line = (flag: string, text: string) => `${flag.padEnd(width - 1)} ${text}`;
  return [
    line("--trust-key PEM", "A public key (PEM file) whose signatures this node accepts (repeatable)"),
    line("--trust-ca PEM", "A CA certificate (PEM file): signatures by certificates chaining to it count (repeatable)"),
    line(
      "--trust-identity ID",
      "issuer=URL,subject=NAME: a Sigstore identity whose keyless signatures count (repeatable)",
    ),
    line("--trusted-root FILE", "The Sigstore trusted root (JSON) keyless signatures are checked against, offline"),
  ];
}

/** A hostile registry may list any number of signatures: a node looks at this many at most. */
export const MAX_SIGNATURES_CHECKED = 32;

/** `issuer=<URL>,subject=<email or URI>`: the subject is the rest of the text, commas included. */
export function parseIdentity(text: string): { issuer: string; subject: string } | null {
  const match = /^issuer=([^,]+),subject=(.+)$/.exec(text);
  if (!match) return null;
  return { issuer: match[1]!, subject: match[2]! };
}

function readPemFile(option: string, file: string, command: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--${option} ${file}: ${(err as Error).message}`, command);
  }
}

/**
 * The trust the flags describe, or null when none was given. Each entry's id (what a
 * verdict's `trusted_by` lists) names the flag and its argument, so a message says which.
 */
export async function trustFromFlags(input: Input, command: string): Promise<Trust | null> {
  const keys: TrustedKey[] = [];
  for (const file of strs(input, "trust-key")) {
    const key = await spkiFromPem(readPemFile("trust-key", file, command));
    if (isRefusal(key)) throw new UsageError(`--trust-key ${file}: ${key.problem.detail}`, command);
    keys.push({ id: `--trust-key ${file}`, name: file, spkiDer: key.spkiDer });
  }
  const cas: TrustedCa[] = [];
  for (const file of strs(input, "trust-ca")) {
    const ca = await certificateFromPem(readPemFile("trust-ca", file, command));
    if (isRefusal(ca)) throw new UsageError(`--trust-ca ${file}: ${ca.problem.detail}`, command);
    if (!ca.ca) throw new UsageError(`--trust-ca ${file}: ${ca.subject} is not a CA certificate`, command);
    cas.push({ id: `--trust-ca ${file}`, name: file, certDer: ca.certDer });
  }
  const identities: TrustedIdentity[] = [];
  for (const text of strs(input, "trust-identity")) {
    const identity = parseIdentity(text);
    if (!identity)
      throw new UsageError(`--trust-identity takes issuer=<URL>,subject=<email or URI>, not '${text}'`, command);
    identities.push({ id: `--trust-identity ${text}`, name: text, ...identity });
  }
  const rootFile = str(input, "trusted-root");
  let sigstoreRoot: Trust["sigstoreRoot"] = null;
  if (rootFile !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(readPemFile("trusted-root", rootFile, command));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`--trusted-root ${rootFile}: not JSON`, command);
    }
    const root = parseTrustedRoot(json);
    if (isRefusal(root)) throw new UsageError(`--trusted-root ${rootFile}: ${root.problem.detail}`, command);
    sigstoreRoot = root;
  }
  if (identities.length > 0 && sigstoreRoot === null)
    throw new UsageError(
      "--trust-identity needs --trusted-root FILE: keyless signatures are checked offline against it",
      command,
    );
  if (keys.length + cas.length + identities.length === 0) {
    if (sigstoreRoot !== null)
      throw new UsageError("--trusted-root alone trusts nobody: add --trust-identity", command);
    return null;
  }
  return { keys, cas, identities, sigstoreRoot };
}

/** A signature the node accepted: who signed, and which of its own trust settings vouch. */
export interface Accepted {
  id: string;
  signer: Signer;
  trusted_by: string[];
  signing_time: string | null;
}

export type VersionVerdict = { ok: true; accepted: Accepted[] } | { ok: false; reason: string };

const describeSigner = (s: Signer) =>
  s.kind === "sigstore" ? `${s.subject} (${s.issuer})` : s.subject ? `${s.subject} (${s.fingerprint})` : s.fingerprint;

/**
 * Verifies version `version` of `model` as a node: `files` are the paths and sha256s the node
 * downloads (or has downloaded) and checks its bytes against. Registry trouble throws (the
 * caller retries as for any transfer); a version that is not signed to the node's trust
 * answers `{ok: false, reason}`.
 */
export async function verifyVersion(
  client: MregClient,
  model: string,
  version: number,
  files: readonly { path: string; sha256: string }[],
  trust: Trust,
  signal?: AbortSignal,
): Promise<VersionVerdict> {
  const listed = await client.signatures.list(model, version, signal);
  if (listed.length === 0) return { ok: false, reason: "not signed: the registry lists no signature for it" };
  const byPath = new Map(files.map((f) => [f.path, f.sha256]));
  const accepted: Accepted[] = [];
  const refusals: string[] = [];
  for (const signature of listed.slice(0, MAX_SIGNATURES_CHECKED)) {
    const bundle = await client.signatures.bundle(model, version, signature.id, signal);
    const verdict = await verifyBundle(bundle, byPath, trust);
    const hintOnly =
      !verdict.ok && verdict.check === "key" ? /no registered key has hint ([0-9a-f]+)/.exec(verdict.detail) : null;
    if (hintOnly) {
      // A bundle that names its key by hint only: the registry asks for the key to be registered; a node names its own.
      refusals.push(
        `${signature.id} is signed by a key no --trust-key of this node is (its hint: ${hintOnly[1]})${registryClaim(signature)}`,
      );
    } else if (!verdict.ok) {
      refusals.push(`${signature.id} is invalid (${verdict.check}: ${verdict.detail})${registryClaim(signature)}`);
    } else if (verdict.trusted_by.length === 0) {
      refusals.push(
        `${signature.id} by ${describeSigner(verdict.signer)} is valid but no --trust-* setting of this node vouches for it${registryClaim(signature)}`,
      );
    } else {
      accepted.push({
        id: signature.id,
        signer: verdict.signer,
        trusted_by: verdict.trusted_by,
        signing_time: verdict.signing_time,
      });
    }
  }
  if (accepted.length > 0) return { ok: true, accepted };
  const skipped = listed.length - Math.min(listed.length, MAX_SIGNATURES_CHECKED);
  return {
    ok: false,
    reason:
      `no signature this node trusts: ${refusals.join("; ")}` +
      (skipped > 0 ? ` (${skipped} more not looked at: at most ${MAX_SIGNATURES_CHECKED} are)` : ""),
  };
}

/** What the registry says of a signature it lists, said as its claim: the node never takes it as proof. */
const registryClaim = (s: Signature) =>
  Array.isArray(s.trusted_by) && s.trusted_by.length > 0
    ? ` (the registry says ${s.trusted_by.join(", ")} vouches; not taken on its word)`
    : "";
