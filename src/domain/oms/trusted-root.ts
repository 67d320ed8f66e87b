/**
 * The Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json`), the JSON the
 * operator configures: Rekor log keys, Fulcio CA chains and CT log keys, each with the window
 * it is valid for. Read once; verification then works on bytes and dates. Timestamp
 * authorities are read past: RFC 3161 timestamps are not verified here (docs/signing.md).
 */
import { base64Decode } from "./bytes";
import { DerError } from "./der";
import { parseSpki, type PublicKeyInfo } from "./keys";
import { attempt, fail, type Refusal } from "./problem";
import { parseCertificate, type Certificate } from "./x509";

export interface Window {
  readonly start: Date;
  /** null: open-ended. */
  readonly end: Date | null;
}

export interface TransparencyLog {
  readonly baseUrl: string;
  readonly logId: Uint8Array;
  /** null when the key is of a kind this verifier cannot use; entries of that log are then refused. */
  readonly key: PublicKeyInfo | null;
  readonly keyDetails: string;
  readonly validFor: Window;
}

export interface CertificateAuthority {
  readonly uri: string;
  /** As the trusted root lists it: the issuing certificate first, the root last. */
  readonly chain: readonly Certificate[];
  readonly validFor: Window;
}

export interface TrustedRoot {
  readonly tlogs: readonly TransparencyLog[];
  readonly ctlogs: readonly TransparencyLog[];
  readonly certificateAuthorities: readonly CertificateAuthority[];
}

export const within = (window: Window, at: Date): boolean =>
  window.start.getTime() <= at.getTime() && (window.end === null || at.getTime() <= window.end.getTime());

type Json = Record<string, unknown>;

function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("trusted_root", `${where} is not an object`);
  return value as Json;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail("trusted_root", `${where} is not a list`);
  return value;
}

function bytes(value: unknown, where: string): Uint8Array {
  const decoded = typeof value === "string" ? base64Decode(value) : null;
  if (decoded === null) fail("trusted_root", `${where} is not base64`);
  return decoded;
}

function date(value: unknown, where: string): Date {
  const parsed = typeof value === "string" ? new Date(value) : null;
  if (parsed === null || Number.isNaN(parsed.getTime())) fail("trusted_root", `${where} is not a time`);
  return parsed;
}

function window(value: unknown, where: string): Window {
  const range = object(value ?? {}, where);
  return {
    start: range.start === undefined ? new Date(0) : date(range.start, `${where}.start`),
    end: range.end === undefined ? null : date(range.end, `${where}.end`),
  };
}

function readLog(value: unknown, where: string): TransparencyLog {
  const log = object(value, where);
  const publicKey = object(log.publicKey, `${where}.publicKey`);
  let key: PublicKeyInfo | null = null;
  try {
    key = parseSpki(bytes(publicKey.rawBytes, `${where}.publicKey.rawBytes`));
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
  }
  return {
    baseUrl: typeof log.baseUrl === "string" ? log.baseUrl : "",
    logId: bytes(object(log.logId, `${where}.logId`).keyId, `${where}.logId.keyId`),
    key,
    keyDetails: typeof publicKey.keyDetails === "string" ? publicKey.keyDetails : "",
    validFor: window(publicKey.validFor, `${where}.publicKey.validFor`),
  };
}

function readAuthority(value: unknown, where: string): CertificateAuthority {
  const authority = object(value, where);
  const certificates = list(
    object(authority.certChain, `${where}.certChain`).certificates,
    `${where}.certChain.certificates`,
  );
  if (certificates.length === 0) fail("trusted_root", `${where} has no certificates`);
  const chain = certificates.map((c, i) => {
    const der = bytes(object(c, `${where} certificate ${i}`).rawBytes, `${where} certificate ${i}`);
    try {
      return parseCertificate(der);
    } catch (error) {
      if (error instanceof DerError) fail("trusted_root", `${where} certificate ${i}: ${error.message}`);
      throw error;
    }
  });
  return {
    uri: typeof authority.uri === "string" ? authority.uri : "",
    chain,
    validFor: window(authority.validFor, `${where}.validFor`),
  };
}

/** Reads a trusted root's JSON (parsed); `{problem}` (check `trusted_root`) when it is not one. */
export function parseTrustedRoot(json: unknown): TrustedRoot | Refusal {
  return attempt(() => {
    const root = object(json, "the trusted root");
    if (typeof root.mediaType !== "string" || !root.mediaType.startsWith("application/vnd.dev.sigstore.trustedroot")) {
      fail("trusted_root", "mediaType is not application/vnd.dev.sigstore.trustedroot+json");
    }
    return {
      tlogs: list(root.tlogs, "tlogs").map((l, i) => readLog(l, `tlogs[${i}]`)),
      ctlogs: list(root.ctlogs, "ctlogs").map((l, i) => readLog(l, `ctlogs[${i}]`)),
      certificateAuthorities: list(root.certificateAuthorities, "certificateAuthorities").map((a, i) =>
        readAuthority(a, `certificateAuthorities[${i}]`),
      ),
    };
  });
}
