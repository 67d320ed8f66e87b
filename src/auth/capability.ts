/**
 * Signed capabilities: URLs that carry their own short-lived credential, for clients that
 * send no `Authorization` to them (a Hugging Face client takes its LFS upload URLs to be a
 * storage service's, as the Hub's presigned ones are). A capability is an HMAC-SHA256 over
 * what it allows: a purpose, the fields that pin it to one object (the model, the object or
 * upload, its size, the part), when it expires, and the id of the token it was issued to, so
 * that revoking the token revokes it too (the caller checks that: src/bridges/caller.ts).
 * Whoever holds one may do that one thing until it expires, and nothing else.
 *
 * The key is UPLOAD_URL_KEY, else one derived from JWT_SECRET (HKDF, so the secret itself
 * never signs anything but tokens); with neither, no capability can be issued (503).
 */
import { ProblemError } from "../domain/problem";
import { config, type Env } from "../env";

export interface Capability {
  /** What it allows, e.g. `hf-lfs-part`. */
  purpose: string;
  /** What pins it to one object, in order (model, upload id, part number...). */
  fields: readonly string[];
  /** Until when (seconds since the epoch). */
  expires: number;
  /** The registry id (`jti`) of the token it was issued to; null for a token without one (never revocable). */
  tokenId: string | null;
}

const HKDF_INFO = new TextEncoder().encode("mreg capability v1");
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string, derived: boolean): Promise<CryptoKey> {
  const id = `${derived ? "jwt" : "url"}:${secret}`;
  let key = keys.get(id);
  if (!key) {
    const raw = new TextEncoder().encode(secret);
    key = derived
      ? crypto.subtle
          .importKey("raw", raw, "HKDF", false, ["deriveKey"])
          .then((base) =>
            crypto.subtle.deriveKey(
              { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HKDF_INFO },
              base,
              { name: "HMAC", hash: "SHA-256", length: 256 },
              false,
              ["sign", "verify"],
            ),
          )
      : crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(id, key);
  }
  return key;
}

/** The signing key, or 503 when the deployment has none. */
function signingKey(env: Env): Promise<CryptoKey> {
  const cfg = config(env);
  if (cfg.UPLOAD_URL_KEY) return keyOf(cfg.UPLOAD_URL_KEY, false);
  if (cfg.JWT_SECRET) return keyOf(cfg.JWT_SECRET, true);
  throw new ProblemError(
    "unavailable",
    "Upload URLs need the UPLOAD_URL_KEY (or JWT_SECRET) secret, which this deployment has not set",
    {},
    { "retry-after": "3600" },
  );
}

/** The signed text: JSON, so no field's content can pass for another's. */
const message = (cap: Capability) =>
  new TextEncoder().encode(JSON.stringify([cap.purpose, ...cap.fields, cap.expires, cap.tokenId]));

const base64url = (bytes: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=");
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The capability's signature (base64url, 43 characters). */
export async function signCapability(env: Env, cap: Capability): Promise<string> {
  return base64url(await crypto.subtle.sign("HMAC", await signingKey(env), message(cap)));
}

/** Whether `signature` is this capability's (checked in constant time by WebCrypto); expiry is the caller's. */
export async function capabilitySigned(env: Env, cap: Capability, signature: string): Promise<boolean> {
  const bytes = fromBase64url(signature);
  if (!bytes) return false;
  return crypto.subtle.verify("HMAC", await signingKey(env), bytes, message(cap));
}
