/**
 * Key bundles (`publicKey`): v1.0.1 carries the key (`rawBytes`), v1.1 only its hint. A
 * carried key verifies the envelope whether or not anyone registered it (valid, untrusted
 * unless a registered key is the same SPKI); a bundle with only a hint can be verified only
 * with a registered key of that hint, and is refused otherwise.
 */
import { bytesEqual } from "../domain/oms/bytes";
import { DerError } from "../domain/oms/der";
import { keyFingerprint, keyHint, parseSpki, type PublicKeyInfo } from "../domain/oms/keys";
import { fail } from "../domain/oms/problem";
import type { Envelope, Material } from "../domain/oms/bundle";
import { verifyEnvelope } from "./envelope";
import type { EnvelopeResult, TrustedKey } from "./verdict";

type KeyMaterial = Extract<Material, { kind: "key" }>;

function readKey(der: Uint8Array, whose: string): PublicKeyInfo {
  try {
    return parseSpki(der);
  } catch (error) {
    if (error instanceof DerError) fail("key", `${whose} is not a usable public key: ${error.message}`);
    throw error;
  }
}

export async function verifyKeyBundle(
  material: KeyMaterial,
  envelope: Envelope,
  keys: readonly TrustedKey[],
): Promise<EnvelopeResult> {
  const carried = material.spkiDer === null ? null : readKey(material.spkiDer, "the key the bundle carries");
  const hint = material.hint?.toLowerCase() ?? null;
  if (carried !== null && hint !== null && (await keyHint(carried.der)) !== hint) {
    fail("key", "publicKey.hint is not the hint of the key the bundle carries");
  }
  if (carried === null && hint === null) fail("key", "the bundle's publicKey carries neither a key nor a hint");

  // Registered keys that are this bundle's key: the same SPKI as the carried one, else the same hint.
  const vouching: TrustedKey[] = [];
  for (const key of keys) {
    if (carried !== null ? bytesEqual(key.spkiDer, carried.der) : (await keyHint(key.spkiDer)) === hint)
      vouching.push(key);
  }
  const first = vouching[0];
  if (carried === null && first === undefined) {
    fail("key", `this bundle carries no key; register its public key first (no registered key has hint ${hint})`);
  }
  const key = carried ?? readKey(first!.spkiDer, `registered key ${first!.name}`);
  await verifyEnvelope(
    envelope,
    key,
    carried !== null ? "the key the bundle carries" : `registered key ${first!.name}`,
  );
  return {
    signer: { kind: "key", fingerprint: await keyFingerprint(key.der) },
    trustedBy: vouching.map((k) => k.id),
    signingTime: null,
    untrusted: vouching.length > 0 ? null : "no registered key is the key this bundle carries",
  };
}
