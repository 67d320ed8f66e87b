/**
 * MLflow's artifact proxy (`mlflow/protos/mlflow_artifacts.proto`), read side, for the
 * download URIs the registry hands out (`mlflow-artifacts:/models/<model>/versions/<v>`):
 * the client (`HttpArtifactRepository`) lists `GET /api/2.0/mlflow-artifacts/artifacts?path=…`
 * to learn what is a directory (an empty list means "a file"), recursing, then downloads
 * `GET /api/2.0/mlflow-artifacts/artifacts/<path>` for each file. Versions are read through
 * the resolve service (`v<n>`: this colo's cache, stale-if-error) and bytes through the
 * download service (streamed from R2, `Range`, `If-None-Match`), so `models:/m@production`
 * loads exactly as `/v1` serves it. Uploads and deletes are not offered here: files reach a
 * version through `/v1` (`mreg push`).
 */
import type { Hono } from "hono";
import { z } from "zod";
import { answerDownload, openDownload } from "../../artifacts/download";
import { childrenOf, parseArtifactPath, type ArtifactPath } from "../../domain/mlflow";
import { config } from "../../env";
import type { AppContext, AppEnv } from "../../http/app-env";
import { ProblemError } from "../../domain/problem";
import { lookup, requestContext } from "../../resolve/service";
import { caller, namedModel, parse } from "./access";
import { MlflowError, mlflow, modelNotFound, versionNotFound, wrongMethod } from "./errors";
import { MULTI_SEGMENT } from "../../http/api";

const LIST = "/api/2.0/mlflow-artifacts/artifacts";

function artifactPath(path: string): ArtifactPath {
  const parsed = parseArtifactPath(path);
  if (!parsed)
    throw new MlflowError(
      "RESOURCE_DOES_NOT_EXIST",
      `No artifact at '${path}': mreg serves the files of model versions, under models/<model>/versions/<version>`,
    );
  return parsed;
}

/** The files of a ready version the caller may read; a pending one is INVALID_STATE (its files are not final). */
async function versionFiles(c: AppContext, path: ArtifactPath) {
  const principal = await caller(c, "read", "read");
  const model = namedModel(principal, path.model);
  const resolved = await lookup(requestContext(c), model, { kind: "version", version: path.version });
  // A missing model is worded as a hidden one is (`namedModel`): the same answer for both.
  if (resolved.kind === "no_model") throw modelNotFound(model);
  if (resolved.kind === "no_revision") {
    throw resolved.unready
      ? new MlflowError(
          "INVALID_STATE",
          `Version ${path.version} of ${model} is not READY: its files are not final yet`,
        )
      : versionNotFound(model, path.version);
  }
  const target = resolved.state.targets.find((t) => t.version === path.version);
  if (!target) throw versionNotFound(model, path.version);
  return { files: target.files, staleS: resolved.staleS };
}

async function list(c: AppContext): Promise<Response> {
  const query = parse(z.object({ path: z.string().max(4096).optional() }), { path: c.req.query("path") });
  const path = artifactPath(query.path ?? "");
  const { files, staleS } = await versionFiles(c, path);
  const headers: Record<string, string> = staleS !== null ? { "x-mreg-stale": String(staleS) } : {};
  return c.json({ files: childrenOf(files, path.rest) }, 200, headers);
}

async function download(c: AppContext): Promise<Response> {
  const path = artifactPath(c.req.param("path") ?? "");
  const { files } = await versionFiles(c, path);
  const file = files.find((f) => f.path === path.rest);
  if (!file)
    throw new MlflowError(
      "RESOURCE_DOES_NOT_EXIST",
      `No file '${path.rest}' in version ${path.version} of ${path.model}`,
    );
  const headers = new Headers({
    etag: `"${file.sha256}"`,
    "x-mreg-sha256": file.sha256,
    "accept-ranges": "bytes",
    // A version's files never change once it is ready.
    "cache-control": `${config(c.env).PUBLIC_READ ? "public" : "private"}, max-age=31536000, immutable`,
  });
  const result = await openDownload(c.env, file, {
    range: c.req.header("range") ?? null,
    ifNoneMatch: c.req.header("if-none-match") ?? null,
    head: c.req.method === "HEAD",
  });
  return answerDownload(result, file.size, headers, () => {
    throw new ProblemError(
      "range_not_satisfiable",
      `The file has ${file.size} bytes`,
      {},
      { "content-range": `bytes */${file.size}` },
    );
  });
}

const DOWNLOADS_ONLY = "mreg's mlflow-artifacts serves downloads only: files reach a version through /v1 (`mreg push`)";

/** Another method on a listing or a file: named, as the registry endpoints name theirs. */
const notOffered = async (c: AppContext): Promise<Response> => {
  throw wrongMethod("mlflow-artifacts/artifacts", ["GET"], c.req.method, DOWNLOADS_ONLY);
};

/** Under mlflow-artifacts, anything but the artifacts listing and files (uploads' mpu/…, …). */
const notServed = async (): Promise<Response> => {
  throw new MlflowError("ENDPOINT_NOT_FOUND", DOWNLOADS_ONLY);
};

export function artifactRoutes(app: Hono<AppEnv>): void {
  app.get(LIST, mlflow(list));
  app.get(`${LIST}/:path${MULTI_SEGMENT}`, mlflow(download));
  app.all(`${LIST}/:path${MULTI_SEGMENT}`, mlflow(notOffered));
  app.all(LIST, mlflow(notOffered));
  app.all(`/api/2.0/mlflow-artifacts/:rest${MULTI_SEGMENT}`, mlflow(notServed));
}
