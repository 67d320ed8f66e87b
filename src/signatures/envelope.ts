/** The DSSE check every kind ends with: one of the envelope's signatures, by this EC key, over the PAE. */
import { pae, type Envelope } from "../domain/oms/bundle";
import { curveHash, describeKey, type PublicKeyInfo } from "../domain/oms/keys";
import { fail } from "../domain/oms/problem";
import { verifySignature } from "./crypto";

/** Throws (check `key` or `signature`) unless one of the envelope's signatures verifies with `key`. */
export async function verifyEnvelope(envelope: Envelope, key: PublicKeyInfo, whose: string): Promise<void> {
  if (key.kind !== "ec") fail("key", `OMS signs with EC keys (P-256, P-384, P-521); ${whose} is ${describeKey(key)}`);
  // The curve names the hash (the reference's get_ec_key_hash): P-384 signs with SHA-384.
  const hash = curveHash(key.curve);
  const signed = pae(envelope.payloadType, envelope.payload);
  for (const signature of envelope.signatures) {
    if (await verifySignature(key, { kind: "ecdsa", hash }, signature, signed)) return;
  }
  fail("signature", `the DSSE signature does not verify with ${whose} (${describeKey(key)}, ${hash})`);
}
