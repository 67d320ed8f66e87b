/**
 * The agent's signature check, at the point where a staged version is about to become
 * `current`: the manifest's files are the paths and sha256s every byte on disk was checked
 * against as it arrived (../download.ts, ./sync.ts), so a signature over exactly them, by a
 * signer the node trusts, covers the bytes the model server will load (../verify-version.ts).
 */
import type { MregClient } from "../../client/client";
import type { Trust } from "../../signatures/verify";
import { verifyVersion, type VersionVerdict } from "../verify-version";
import type { Manifest } from "./layout";

export async function verifyStaged(
  client: MregClient,
  trust: Trust,
  manifest: Manifest,
  signal: AbortSignal,
  log: (event: string, fields: Record<string, unknown>, text: string) => void,
): Promise<VersionVerdict> {
  const verdict = await verifyVersion(client, manifest.model, manifest.version, manifest.files, trust, signal);
  if (verdict.ok) {
    const by = verdict.accepted.map((a) => `${a.id} (trusted by ${a.trusted_by.join(", ")})`).join(", ");
    log(
      "signature_verified",
      { version: manifest.version, signatures: verdict.accepted },
      `v${manifest.version}: signatures verified here: ${by}`,
    );
  }
  return verdict;
}
