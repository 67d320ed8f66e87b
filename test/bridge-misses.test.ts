/**
 * One "not found" for every bridge (src/bridges/caller.ts and the resolve service's `lookup`):
 * on every route of the Hugging Face, OCI and MLflow bridges, a model the token may not see
 * answers exactly what a model that does not exist answers (status, error code, body, the
 * headers a client reads), whatever the revision, tag, digest, version or path asked for.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_DIGEST } from "../src/domain/oci";
import { call, createModel, hsToken, json, readyVersion } from "./helpers";

/** Two names of one length, so a body naming one can be compared with a body naming the other. */
const HIDDEN = "bm-hidden";
const MISSING = "bm-absent";

interface Route {
  method: "GET" | "POST";
  path: (model: string) => string;
  body?: unknown;
}

const revision = fc.constantFrom(
  "main",
  "production",
  "staging",
  "latest",
  "v1",
  "v2",
  "v9",
  "nope",
  "0123456789abcdef0123456789abcdef01234567",
);
const tag = fc.constantFrom("production", "staging", "latest", "v1", "v9", "nope", "1.0");
const digest = fc.constantFrom(EMPTY_DIGEST, `sha256:${"a".repeat(64)}`, `sha256:${"0".repeat(64)}`);
const file = fc.constantFrom("w.bin", "README.md", "dir/x.txt", "nope.bin");
const version = fc.integer({ min: 1, max: 3 });
const alias = fc.constantFrom("production", "staging", "prod", "latest", "v1", "nope");
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

const routes: fc.Arbitrary<Route> = fc.oneof(
  // Hugging Face Hub
  fc
    .tuple(fc.constantFrom("resolve", "raw"), revision, file)
    .map(([kind, rev, path]) => ({ method: "GET" as const, path: (m: string) => `/${m}/${kind}/${rev}/${path}` })),
  fc.constant({ method: "GET" as const, path: (m: string) => `/api/models/${m}` }),
  revision.map((rev) => ({ method: "GET" as const, path: (m: string) => `/api/models/${m}/revision/${rev}` })),
  revision.map((rev) => ({ method: "GET" as const, path: (m: string) => `/api/models/${m}/tree/${rev}` })),
  revision.map((rev) => ({
    method: "POST" as const,
    path: (m: string) => `/api/models/${m}/paths-info/${rev}`,
    body: { paths: ["w.bin"] },
  })),
  // OCI distribution
  fc.constant({ method: "GET" as const, path: (m: string) => `/v2/${m}/tags/list` }),
  fc.oneof(tag, digest).map((ref) => ({ method: "GET" as const, path: (m: string) => `/v2/${m}/manifests/${ref}` })),
  digest.map((d) => ({ method: "GET" as const, path: (m: string) => `/v2/${m}/blobs/${d}` })),
  // MLflow
  fc.constant({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow/registered-models/get?${q({ name: m })}`,
  }),
  fc.constant({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow/registered-models/get-latest-versions?${q({ name: m })}`,
  }),
  version.map((v) => ({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow/model-versions/get?${q({ name: m, version: String(v) })}`,
  })),
  version.map((v) => ({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow/model-versions/get-download-uri?${q({ name: m, version: String(v) })}`,
  })),
  alias.map((a) => ({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow/registered-models/alias?${q({ name: m, alias: a })}`,
  })),
  version.map((v) => ({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow-artifacts/artifacts?${q({ path: `models/${m}/versions/${v}` })}`,
  })),
  fc.tuple(version, file).map(([v, path]) => ({
    method: "GET" as const,
    path: (m: string) => `/api/2.0/mlflow-artifacts/artifacts/models/${m}/versions/${v}/${path}`,
  })),
);

/** What a client reads of an answer, with the model's name replaced by a placeholder. */
async function seen(route: Route, model: string, token: string) {
  const res = await call(route.method, route.path(model), {
    token,
    ...(route.body !== undefined ? { body: route.body } : {}),
  });
  const body = (await res.text()).replaceAll(model, "<model>");
  const header = (name: string) => res.headers.get(name)?.replaceAll(model, "<model>") ?? null;
  return {
    status: res.status,
    body,
    headers: ["content-type", "x-error-code", "www-authenticate", "x-repo-commit"].map(header),
  };
}

describe("a model the token may not see, on every bridge route", () => {
  it("answers exactly as a model that does not exist", async () => {
    await createModel(HIDDEN);
    const v1 = await readyVersion(HIDDEN, {
      "w.bin": new TextEncoder().encode("hidden one"),
      "README.md": new TextEncoder().encode("# hidden"),
    });
    await readyVersion(HIDDEN, { "w.bin": new TextEncoder().encode("hidden two") });
    expect(
      (await json("PUT", `/v1/models/${HIDDEN}/aliases/production`, { body: { version: v1.version } })).status,
    ).toBe(200);
    expect((await json("POST", `/v1/models/${HIDDEN}/versions/2/stage`, { body: { stage: "staging" } })).status).toBe(
      200,
    );
    const elsewhere = await hsToken({ scope: "read", models: ["someone-else-*"] });
    const everywhere = await hsToken({ scope: "read" });
    await fc.assert(
      fc.asyncProperty(routes, async (route) => {
        const hidden = await seen(route, HIDDEN, elsewhere);
        const missing = await seen(route, MISSING, everywhere);
        expect(hidden, route.path("<model>")).toEqual(missing);
        expect(hidden.status, route.path("<model>")).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
