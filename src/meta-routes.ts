/** Routes that need no token: health, the OpenAPI document and its docs page. */
import { z } from "zod";
import { HUB_OPENAPI_PATHS } from "./bridges/hf/openapi";
import { MLFLOW_OPENAPI_PATHS } from "./bridges/mlflow/openapi";
import { OCI_OPENAPI_PATHS } from "./bridges/oci/openapi";
import { renderDocs, type OpenApiDoc as DocsInput } from "./docs/page";
import { defineRoute, type AnyRouteSpec } from "./http/api";
import { buildOpenApi } from "./http/openapi";

type OpenApiDoc = ReturnType<typeof buildOpenApi>;

/** The meta routes; `all` is every route of the app, which the OpenAPI document describes. */
export function metaRoutes(all: () => readonly AnyRouteSpec[]): AnyRouteSpec[] {
  let doc: OpenApiDoc | undefined;
  const openApi = () =>
    (doc ??= buildOpenApi(all(), { ...HUB_OPENAPI_PATHS, ...MLFLOW_OPENAPI_PATHS, ...OCI_OPENAPI_PATHS }));
  return [
    defineRoute({
      method: "get",
      path: "/healthz",
      operationId: "health",
      summary: "Liveness check",
      tag: "Meta",
      scope: "public",
      responses: { 200: { description: "The Worker is up", schema: z.object({ ok: z.literal(true) }) } },
      errors: [],
      handler: (c) => c.json({ ok: true as const }),
    }),
    defineRoute({
      method: "get",
      path: "/openapi.json",
      operationId: "openapi",
      summary: "This API's OpenAPI 3.1 document",
      tag: "Meta",
      scope: "public",
      responses: { 200: { description: "OpenAPI 3.1", mediaType: "application/json" } },
      errors: [],
      handler: (c) => c.json(openApi()),
    }),
    defineRoute({
      method: "get",
      path: "/docs",
      operationId: "docs",
      summary: "Human-readable API reference",
      tag: "Meta",
      scope: "public",
      responses: { 200: { description: "HTML", mediaType: "text/html" } },
      errors: [],
      handler: (c) => c.html(renderDocs(openApi() as unknown as DocsInput)),
    }),
  ];
}
