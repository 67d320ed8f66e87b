/**
 * The only module that verifies signatures, on Web Crypto alone (workerd and Node 22 both
 * have it; no `node:crypto`): the algorithm and hash always named, never a default, and
 * ECDSA signatures turned from DER into the `r‖s` Web Crypto takes. Imported keys are kept
 * per isolate: the trusted root's and registered keys verify many bundles.
 */
import { base64Encode, bufferView as view } from "../domain/oms/bytes";
import { ecdsaDerToRaw } from "../domain/oms/der";
import { coordinateBytes, type PublicKeyInfo, type SignatureAlgorithm } from "../domain/oms/keys";

/** The import parameters Web Crypto takes, typed once for workerd's and the DOM's declarations alike. */
type ImportAlgorithm = { name: string; namedCurve?: string; hash?: string };

const MAX_CACHED_KEYS = 256;
const imported = new Map<string, Promise<CryptoKey | null>>();

function importParameters(key: PublicKeyInfo, algorithm: SignatureAlgorithm): ImportAlgorithm | null {
  if (key.kind === "ec" && algorithm.kind === "ecdsa") return { name: "ECDSA", namedCurve: key.curve };
  if (key.kind === "rsa" && algorithm.kind === "rsa-pkcs1") return { name: "RSASSA-PKCS1-v1_5", hash: algorithm.hash };
  if (key.kind === "ed25519" && algorithm.kind === "ed25519") return { name: "Ed25519" };
  return null;
}

/** The key for this algorithm, or null when the key is not of the algorithm's kind or Web Crypto refuses it. */
function importKey(key: PublicKeyInfo, algorithm: SignatureAlgorithm): Promise<CryptoKey | null> {
  const parameters = importParameters(key, algorithm);
  if (parameters === null) return Promise.resolve(null);
  const cacheKey = `${algorithm.kind}:${"hash" in algorithm ? algorithm.hash : ""}:${base64Encode(key.der)}`;
  let found = imported.get(cacheKey);
  if (found === undefined) {
    if (imported.size >= MAX_CACHED_KEYS) imported.clear();
    found = crypto.subtle.importKey("spki", view(key.der), parameters, false, ["verify"]).catch(() => null);
    imported.set(cacheKey, found);
  }
  return found;
}

/** Whether `signature` (DER for ECDSA) is `key`'s signature of `data` under `algorithm`. */
export async function verifySignature(
  key: PublicKeyInfo,
  algorithm: SignatureAlgorithm,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  const cryptoKey = await importKey(key, algorithm);
  if (cryptoKey === null) return false;
  if (algorithm.kind === "ecdsa" && key.kind === "ec") {
    const raw = ecdsaDerToRaw(signature, coordinateBytes(key.curve));
    if (raw === null) return false;
    return crypto.subtle.verify({ name: "ECDSA", hash: algorithm.hash }, cryptoKey, view(raw), view(data));
  }
  const name = algorithm.kind === "ed25519" ? "Ed25519" : "RSASSA-PKCS1-v1_5";
  return crypto.subtle.verify(name, cryptoKey, view(signature), view(data));
}
