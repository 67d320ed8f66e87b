/**
 * `mreg sign <model>/<version> --key <pem>`: signs a ready version as the reference tool signs
 * a model folder (an OMS `model.sig`), over the file list the registry verified when the
 * version was finalized: paths and sha256s, no byte read again. The bundle goes up through
 * the signatures route, which verifies it before it keeps it. `mreg push --sign-key` calls
 * the same code once its version is ready.
 */
import { readFileSync } from "node:fs";
import type { Signature } from "../../client/types";
import { readSigningKey, signStatement, SigningError, type SigningKey } from "../../signatures/verify";
import { str, type Command } from "../command";
import type { Context } from "../context";
import { CliError, UsageError } from "../exit";
import { parseModelUri } from "../../client/aliases";
import { normalizeUri, uriTarget } from "./pull";

/** The private key in a PEM file, read and imported before anything is sent (a usage error otherwise). */
export async function signingKeyFrom(file: string, option: string, command: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${(err as Error).message}`, command);
  }
  try {
    return await readSigningKey(pem);
  } catch (err) {
    if (err instanceof SigningError) throw new UsageError(`${option} ${file}: ${err.message}`, command);
    throw err;
  }
}

/** Signs ready version `version` of `model` and uploads the bundle: the registry's answer (its `trusted_by`). */
export async function signVersion(ctx: Context, model: string, version: number, key: SigningKey): Promise<Signature> {
  const v = await ctx.client.versions.get(model, version);
  if (v.status !== "ready")
    throw new CliError(`version ${version} of '${model}' is ${v.status}: only a ready version's files can be signed`);
  const bundle = await signStatement(v.files, key, model);
  const signature = await ctx.client.signatures.add(model, version, bundle);
  const trust =
    signature.trusted_by.length > 0
      ? `trusted by ${signature.trusted_by.join(", ")}`
      : "valid, but no registered signing key vouches for it (register its public key: docs/signing.md)";
  ctx.out.note(`${signature.id}: signed ${model} version ${version} (${v.files.length} files); ${trust}`);
  return signature;
}

export const sign: Command = {
  name: "sign",
  args: "<model>/<version>",
  summary: "Sign a ready version's files (OMS model.sig, from the sha256s the registry verified) and upload the bundle",
  options: { key: { type: "string" } },
  help: [
    "--key PEM   The private key (PKCS#8 or SEC1 PEM, EC P-256/P-384/P-521; required)",
    "The statement lists every file of the version with the sha256 the registry verified; no byte",
    "is read again. The registry verifies the bundle before it keeps it; its answer's trusted_by",
    "says which registered keys vouch for it. The same bundle works with `python -m model_signing verify key`.",
  ],
  examples: [
    "mreg sign payment-fraud/3 --key release-2026.key.pem",
    "mreg sign registry://payment-fraud/3 --key k.pem --json",
  ],
  target: (input) => uriTarget(input.positionals[0]),
  async run(ctx, input) {
    const uri = parseModelUri(normalizeUri(input.positionals[0]!));
    if (uri.version === undefined)
      throw new UsageError(`sign names a version (<model>/<version>), not an alias: ${input.positionals[0]}`, "sign");
    const keyFile = str(input, "key");
    if (!keyFile) throw new UsageError("--key is required: the PEM file of the private key to sign with", "sign");
    const key = await signingKeyFrom(keyFile, "--key", "sign");
    const signature = await signVersion(ctx, uri.model, uri.version, key);
    ctx.out.result({ model: uri.model, version: uri.version, ...signature }, () => signature.id);
  },
};
