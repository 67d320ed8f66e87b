/** API.md "Models" and "Versions". */
import { MregError } from "./errors";
import { seg, type Transport } from "./transport";
import type {
  CreateModel,
  CreateVersion,
  ListModels,
  ListVersions,
  Model,
  Page,
  PatchModel,
  PatchVersion,
  StageChange,
  Version,
} from "./types";
import { validVersion, validVersions } from "./validate";

export class Models {
  constructor(private readonly t: Transport) {}

  create(body: CreateModel, signal?: AbortSignal): Promise<Model> {
    return this.t.json({ method: "POST", path: "/v1/models", json: body, signal, what: `create model '${body.name}'` });
  }

  list(query: ListModels = {}, signal?: AbortSignal): Promise<Page<Model>> {
    return this.t.json({ method: "GET", path: "/v1/models", query: { ...query }, signal, what: "list models" });
  }

  get(model: string, signal?: AbortSignal): Promise<Model> {
    return this.t.json({ method: "GET", path: `/v1/models/${seg(model)}`, signal, what: `model '${model}'` });
  }

  update(model: string, patch: PatchModel, signal?: AbortSignal): Promise<Model> {
    return this.t.json({
      method: "PATCH",
      path: `/v1/models/${seg(model)}`,
      json: patch,
      signal,
      what: `update model '${model}'`,
    });
  }

  /** 409 `in_use` while any alias is set. Needs `admin`. */
  async delete(model: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({ method: "DELETE", path: `/v1/models/${seg(model)}`, signal, what: `delete model '${model}'` });
  }
}

export class Versions {
  constructor(private readonly t: Transport) {}

  /**
   * A new `pending` version. With `idempotencyKey`, a retry with the same body returns the
   * version the first attempt created, so the request is safe to repeat.
   */
  create(
    model: string,
    body: CreateVersion = {},
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<Version> {
    return this.t.json({
      method: "POST",
      path: `/v1/models/${seg(model)}/versions`,
      json: body,
      headers: options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {},
      idempotent: options.idempotencyKey !== undefined,
      signal: options.signal,
      what: `create a version of '${model}'`,
    });
  }

  /** Newest first; each Version's identity, files and digest checked (`invalid_response` otherwise). */
  async list(model: string, query: ListVersions = {}, signal?: AbortSignal): Promise<Page<Version>> {
    const what = `versions of '${model}'`;
    return validVersions<Page<Version>>(
      await this.t.json<unknown>({
        method: "GET",
        path: `/v1/models/${seg(model)}/versions`,
        query: { ...query },
        signal,
        what,
      }),
      model,
      what,
    );
  }

  /** The Version, its identity, files and digest checked (`invalid_response` otherwise). */
  async get(model: string, version: number, signal?: AbortSignal): Promise<Version> {
    const what = `version ${version} of '${model}'`;
    return validVersion(
      await this.t.json<unknown>({ method: "GET", path: versionPath(model, version), signal, what }),
      { model, version },
      what,
    );
  }

  update(model: string, version: number, patch: PatchVersion, signal?: AbortSignal): Promise<Version> {
    return this.t.json({
      method: "PATCH",
      path: versionPath(model, version),
      json: patch,
      signal,
      what: `update version ${version} of '${model}'`,
    });
  }

  /**
   * Makes the version `ready`: 409 `conflict` without files or with an unfinished upload.
   * A version that is ready already is answered as it is (the server says `immutable`), so a
   * retry after a lost answer, or a resumed push, finds its work done.
   */
  async finalize(model: string, version: number, signal?: AbortSignal): Promise<Version> {
    try {
      return await this.t.json<Version>({
        method: "POST",
        path: `${versionPath(model, version)}/finalize`,
        signal,
        what: `finalize version ${version} of '${model}'`,
      });
    } catch (err) {
      if (!(err instanceof MregError) || err.code !== "immutable") throw err;
      const current = await this.get(model, version, signal);
      if (current.status !== "ready") throw err;
      return current;
    }
  }

  setStage(model: string, version: number, change: StageChange, signal?: AbortSignal): Promise<Version> {
    return this.t.json({
      method: "POST",
      path: `${versionPath(model, version)}/stage`,
      json: change,
      signal,
      what: `move version ${version} of '${model}' to ${change.stage}`,
    });
  }

  /** 409 `in_use` while an alias or the `production` stage holds it. Needs `admin`. */
  async delete(model: string, version: number, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: versionPath(model, version),
      signal,
      what: `delete version ${version} of '${model}'`,
    });
  }
}

export const versionPath = (model: string, version: number) => `/v1/models/${seg(model)}/versions/${seg(version)}`;
