/**
 * Where a request's token is, as the clients we serve send it (API.md "Auth"): `Bearer
 * <JWT>`; `Bearer hf_<JWT>` (the Hugging Face clients refuse a token without that prefix; it
 * is stripped); HTTP Basic with any user name and the token as password (OCI and MLflow
 * clients send Basic). Pure: which token, not whether it is valid.
 */

export type Credential = { kind: "none" } | { kind: "token"; token: string } | { kind: "malformed"; reason: string };

/** A JWT's three base64url parts (padding tolerated). */
const JWT = /^[A-Za-z0-9_\-.=]+$/;

const MALFORMED = "The Authorization header must be 'Bearer <JWT>' (or Basic with the token as password)";

export function credentialOf(header: string | null): Credential {
  if (header === null || header.trim() === "") return { kind: "none" };
  const [scheme = "", ...rest] = header.trim().split(/\s+/);
  const value = rest.length === 1 ? rest[0]! : null;
  if (value === null) return { kind: "malformed", reason: MALFORMED };
  switch (scheme.toLowerCase()) {
    case "bearer": {
      const token = value.startsWith("hf_") ? value.slice(3) : value;
      return JWT.test(token) ? { kind: "token", token } : { kind: "malformed", reason: MALFORMED };
    }
    case "basic": {
      const password = basicPassword(value);
      return password !== null && JWT.test(password)
        ? { kind: "token", token: password }
        : { kind: "malformed", reason: MALFORMED };
    }
    default:
      return { kind: "malformed", reason: MALFORMED };
  }
}

/** The password of `Basic base64(user:password)`, or null when it is not that. */
function basicPassword(encoded: string): string | null {
  let text: string;
  try {
    text = atob(encoded);
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  return colon < 0 ? null : text.slice(colon + 1);
}
