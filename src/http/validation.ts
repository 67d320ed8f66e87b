/**
 * Request input: JSON bodies read with a size cap, parsed with zod, and zod issues turned
 * into the contract's `validation_failed` errors.
 */
import type { z } from "zod";
import { MAX_JSON_DEPTH, tooDeep } from "../domain/limits";
import { ProblemError, type FieldError } from "../domain/problem";

/** The contract's cap on JSON request bodies. */
export const MAX_JSON_BYTES = 1024 * 1024;

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
}

export function validationFailed(detail: string, errors: FieldError[] = []): ProblemError {
  return new ProblemError("validation_failed", detail, { errors });
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw validationFailed(`Invalid ${where}`, fieldErrors(result.error));
  }
  return result.data;
}

function isJsonMediaType(contentType: string | null): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  return mediaType === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/**
 * Reads a JSON body of at most MAX_JSON_BYTES. An empty body reads as `{}` so that bodiless
 * POSTs (`finalize`) work without a content type; anything else must be declared JSON.
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_JSON_BYTES) {
    throw new ProblemError("payload_too_large", `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`);
  }
  const text = await readCapped(request, MAX_JSON_BYTES);
  if (text.trim() === "") return {};
  if (!isJsonMediaType(request.headers.get("content-type"))) {
    throw new ProblemError("unsupported_media_type", "Request bodies must be application/json");
  }
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw validationFailed("Malformed JSON body", [{ path: "", message: "body is not valid JSON" }]);
  }
  // Before zod: its recursive schemas (z.json) would overflow the stack on a deep value.
  const deep = tooDeep(body);
  if (deep) {
    throw validationFailed(`JSON bodies nest at most ${MAX_JSON_DEPTH} levels deep`, [
      { path: deep.join("."), message: `nested deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  }
  return body;
}

/** A request body as UTF-8 text, read up to `limit` bytes (413 past it; 400 when not UTF-8). */
export async function readCapped(request: Request, limit: number): Promise<string> {
  const bytes = await readCappedBytes(request, limit, "JSON bodies");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw validationFailed("Request body is not valid UTF-8", [{ path: "", message: "invalid UTF-8" }]);
  }
}

/**
 * A request body's bytes, read up to `limit` (413 past it, however long it said it was:
 * a Content-Length that lies is caught by the count, one that tells the truth before a byte is
 * read, and the body is then dropped unread). A bridge passes `tooLarge` to refuse in its own
 * dialect.
 */
export async function readCappedBytes(
  request: Request,
  limit: number,
  what: string,
  tooLarge: () => Error = () => new ProblemError("payload_too_large", `${what} are limited to ${limit} bytes`),
): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await request.body?.cancel();
    throw tooLarge();
  }
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
