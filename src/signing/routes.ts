/**
 * Routes of docs/signing.md "HTTP reference" for a version's signatures: upload,
 * list, fetch (the bundle byte for byte), delete. An upload is verified and stored by the
 * signature service (./service.ts), which the OCI bridge's referrers call too.
 */
import { z } from "zod";
import { readBundle } from "../artifacts/signature-bundles";
import { queryDb } from "../db/session";
import { MAX_BUNDLE_BYTES } from "../domain/oms/bundle";
import { notFound, ProblemError } from "../domain/problem";
import { Signature, SIGNATURE_ID } from "../domain/signature";
import { defineRoute, MODEL_PARAM } from "../http/api";
import { itemsOf } from "../http/openapi-helpers";
import { readCappedBytes, validationFailed } from "../http/validation";
import { ModelParams, VersionParams } from "../models/schemas";
import { VersionStore } from "../models/version-store";
import { actorFor, modelState, unwrap } from "../model-writes/stub";
import { signatureOfRow, SignatureStore } from "./store";
import { addSignature } from "./service";

export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";

const SignatureParams = VersionParams.extend({ id: z.string().regex(SIGNATURE_ID, "not a signature id") });

/** The model page's question: which of these versions carry signatures. */
const ModelSignaturesQuery = z.object({
  versions: z
    .string()
    .regex(/^\d{1,9}(,\d{1,9}){0,199}$/, "a comma-separated list of at most 200 version numbers")
    .transform((v) => [...new Set(v.split(",").map(Number))]),
});

export const ModelSignature = Signature.extend({ version: z.number().int() }).meta({ id: "ModelSignature" });

/** A bundle is JSON: its own media type, or any JSON one. */
function isJsonType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(";")[0]!.trim().toLowerCase() ?? "";
  return mediaType === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/** The bundle's bytes, checked to be UTF-8 JSON (the verifier reads its shape); they are kept exactly as sent. */
async function readBundleBody(request: Request): Promise<Uint8Array> {
  if (!isJsonType(request.headers.get("content-type") ?? undefined))
    throw new ProblemError(
      "unsupported_media_type",
      `A signature is a Sigstore bundle: send it as ${BUNDLE_MEDIA_TYPE} or application/json`,
    );
  const bytes = await readCappedBytes(request, MAX_BUNDLE_BYTES, "Signature bundles");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw validationFailed("The bundle is not UTF-8", [{ path: "", message: "invalid UTF-8" }]);
  }
  if (text.trim() === "")
    throw validationFailed("The bundle is empty", [{ path: "", message: "a Sigstore bundle is required" }]);
  try {
    JSON.parse(text);
  } catch {
    throw validationFailed("Malformed JSON body", [{ path: "", message: "body is not valid JSON" }]);
  }
  return bytes;
}

export const signatureRoutes = [
  defineRoute({
    method: "post",
    path: "/v1/models/{model}/versions/{version}/signatures",
    operationId: "addSignature",
    summary: "Upload a signature (an OMS Sigstore bundle, `model.sig`) of a ready version",
    description: `The body is the bundle itself (\`${BUNDLE_MEDIA_TYPE}\` or \`application/json\`, at most 4 MiB), as \`python -m model_signing sign\` or \`mreg sign\` writes it. It is stored only when its envelope's signature verifies (with the key or certificate it carries; a v1.1 key bundle carries only a key hint, so its key must be registered), its statement is an OMS v1.0 statement, and its resources are exactly the version's files with their sha256 (else 422 \`signature_invalid\`, \`detail\` naming the check). \`trusted_by\` lists the registered signing keys that vouch for it (empty: valid but untrusted). The same bundle again is the same signature (200), with any key registered since added to \`trusted_by\`. Audited as \`signature.add\`.`,
    tag: "Signatures",
    scope: "write",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: {
      201: { description: "The new signature", schema: Signature },
      200: { description: "The version had this bundle already", schema: Signature },
    },
    errors: [
      "validation_failed",
      "not_found",
      "version_not_ready",
      "signature_invalid",
      "payload_too_large",
      "unsupported_media_type",
      "conflict",
      "unavailable",
    ],
    async handler(c, { params, principal }) {
      const bytes = await readBundleBody(c.req.raw);
      const added = await addSignature(
        { env: c.env, db: queryDb(c), principal, model: params.model },
        params.version,
        bytes,
      );
      return c.json(added.signature, added.created ? 201 : 200);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/signatures",
    operationId: "listSignatures",
    summary: "A version's signatures, oldest first",
    tag: "Signatures",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: VersionParams,
    responses: { 200: { description: "The signatures", schema: itemsOf(Signature) } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const db = queryDb(c);
      const [version, rows] = await Promise.all([
        new VersionStore(db).head(params.model, params.version),
        new SignatureStore(db).ofVersion(params.model, params.version),
      ]);
      if (!version) throw notFound(`Version ${params.version} of '${params.model}'`);
      return c.json({ items: rows.map(signatureOfRow) });
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/versions/{version}/signatures/{id}",
    operationId: "getSignatureBundle",
    summary: "A signature's bundle, byte for byte as uploaded",
    description: "What a node fetches to verify a version itself (`mreg pull --verify`, `mreg agent --trust-key`).",
    tag: "Signatures",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: SignatureParams,
    responses: { 200: { description: "The bundle", mediaType: BUNDLE_MEDIA_TYPE } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params }) {
      const row = await new SignatureStore(queryDb(c)).get(params.model, params.version, params.id);
      if (!row) throw notFound(`Signature '${params.id}' of version ${params.version} of '${params.model}'`);
      const object = await readBundle(c.env, row.bundleSha256);
      if (!object) throw notFound(`Signature '${params.id}' of version ${params.version} of '${params.model}'`);
      return new Response(object.body, {
        headers: {
          "content-type": BUNDLE_MEDIA_TYPE,
          "content-length": String(object.size),
          etag: `"${row.bundleSha256}"`,
          "x-mreg-sha256": row.bundleSha256,
        },
      });
    },
  }),

  defineRoute({
    method: "delete",
    path: "/v1/models/{model}/versions/{version}/signatures/{id}",
    operationId: "deleteSignature",
    summary: "Delete a signature",
    description: "Gates stop counting it at once. Audited as `signature.delete`.",
    tag: "Signatures",
    scope: "admin",
    subject: { model: MODEL_PARAM },
    params: SignatureParams,
    responses: { 204: { description: "Deleted" } },
    errors: ["validation_failed", "not_found"],
    async handler(c, { params, principal }) {
      unwrap(
        await modelState(c.env, params.model).deleteSignature({
          ...actorFor(params.model, principal),
          version: params.version,
          id: params.id,
        }),
      );
      return c.body(null, 204);
    },
  }),

  defineRoute({
    method: "get",
    path: "/v1/models/{model}/signatures",
    operationId: "listModelSignatures",
    summary: "The signatures of some versions of a model",
    description:
      "`versions`: which versions (comma-separated, at most 200). Each item is a Signature with its `version`; a version without signatures has none.",
    tag: "Signatures",
    scope: "read",
    subject: { model: MODEL_PARAM },
    params: ModelParams,
    query: ModelSignaturesQuery,
    responses: { 200: { description: "The signatures", schema: itemsOf(ModelSignature) } },
    errors: ["validation_failed"],
    async handler(c, { params, query }) {
      const rows = await new SignatureStore(queryDb(c)).ofVersions(params.model, query.versions);
      return c.json({ items: rows.map((row) => ({ ...signatureOfRow(row), version: row.version })) });
    },
  }),
];
