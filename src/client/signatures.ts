/** docs/signing.md: signing keys, and each version's signatures. */
import { versionPath } from "./models";
import { MregError } from "./errors";
import { invalidResponse } from "./validate";
import { readText, seg, type Transport } from "./transport";
import type { CreateSigningKey, Page, PageQuery, Signature, SigningKey } from "./types";

/** The bundle's media type, as `python -m model_signing` writes `model.sig`. */
export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

/** The registry keeps bundles of at most 4 MiB: an answer past that is no bundle of its. */
const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;

export class SigningKeys {
  constructor(private readonly t: Transport) {}

  /** Exactly one of `public_key`, `ca_certificate` (PEM) and `identity`. Needs an `admin` limited by no globs. */
  create(body: CreateSigningKey, signal?: AbortSignal): Promise<SigningKey> {
    return this.t.json({
      method: "POST",
      path: "/v1/signing-keys",
      json: body,
      signal,
      what: `register signing key '${body.name}'`,
    });
  }

  list(query: PageQuery = {}, signal?: AbortSignal): Promise<Page<SigningKey>> {
    return this.t.json({
      method: "GET",
      path: "/v1/signing-keys",
      query: { ...query },
      signal,
      what: "list signing keys",
    });
  }

  /** From its answer on, no gate counts the key; the signatures it verified stay, untrusted by it. */
  async delete(id: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: `/v1/signing-keys/${seg(id)}`,
      signal,
      what: `delete signing key ${id}`,
    });
  }
}

export class Signatures {
  constructor(private readonly t: Transport) {}

  /**
   * Uploads a bundle (its exact text) for a ready version: the answer's `trusted_by` says which
   * registered keys vouch for it. The same bundle again is the same signature.
   */
  add(model: string, version: number, bundle: string, signal?: AbortSignal): Promise<Signature> {
    return this.t.json({
      method: "POST",
      path: `${versionPath(model, version)}/signatures`,
      body: { body: () => bundle, contentType: BUNDLE_MEDIA_TYPE },
      idempotent: true,
      signal,
      what: `sign version ${version} of '${model}'`,
    });
  }

  async list(model: string, version: number, signal?: AbortSignal): Promise<Signature[]> {
    const page = await this.t.json<{ items: Signature[] }>({
      method: "GET",
      path: `${versionPath(model, version)}/signatures`,
      signal,
      what: `signatures of version ${version} of '${model}'`,
    });
    return page.items;
  }

  /** The signatures of some versions of a model (at most 200 at once), each with its `version`. */
  async ofVersions(
    model: string,
    versions: readonly number[],
    signal?: AbortSignal,
  ): Promise<(Signature & { version: number })[]> {
    if (versions.length === 0) return [];
    const page = await this.t.json<{ items: (Signature & { version: number })[] }>({
      method: "GET",
      path: `/v1/models/${seg(model)}/signatures`,
      query: { versions: versions.join(",") },
      signal,
      what: `signatures of versions of '${model}'`,
    });
    return page.items;
  }

  /** The bundle, byte for byte as uploaded: what a node verifies itself. */
  async bundle(model: string, version: number, id: string, signal?: AbortSignal): Promise<string> {
    const what = `signature ${id} of version ${version} of '${model}'`;
    const res = await this.t.send({
      method: "GET",
      path: `${versionPath(model, version)}/signatures/${seg(id)}`,
      signal,
      what,
    });
    try {
      return await readText(res, MAX_BUNDLE_BYTES);
    } catch (err) {
      if (err instanceof MregError) throw invalidResponse(what, err.detail, res.status);
      throw err;
    }
  }

  async delete(model: string, version: number, id: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: `${versionPath(model, version)}/signatures/${seg(id)}`,
      signal,
      what: `delete signature ${id} of version ${version} of '${model}'`,
    });
  }
}
