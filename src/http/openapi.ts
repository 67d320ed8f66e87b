/**
 * The OpenAPI 3.1 document, generated from the route declarations and their zod schemas
 * (zod's own JSON Schema output, draft 2020-12, which OpenAPI 3.1 uses).
 */
import { BOOKMARK_HEADER } from "../db/session";
import { z } from "zod";
import type { AnyRouteSpec } from "./api";
import { statusOf, type ErrorCode } from "../domain/problem";

type JsonSchema = Record<string, unknown>;

/**
 * Schemas with a `.meta({ id })` become components: zod emits them under `$defs` with local
 * `$ref`s, which are re-pointed at `#/components/schemas/`.
 */
function toSchema(schema: z.ZodType, io: "input" | "output", components: Record<string, JsonSchema>): JsonSchema {
  const generated = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" });
  const json = JSON.parse(JSON.stringify(generated).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema & {
    $defs?: Record<string, JsonSchema>;
  };
  const { $schema: _schema, $defs, ...rest } = json;
  for (const [id, def] of Object.entries($defs ?? {})) components[id] ??= def;
  return rest;
}

const ProblemSchema: JsonSchema = {
  type: "object",
  required: ["type", "title", "status", "code", "detail"],
  properties: {
    type: { type: "string", const: "about:blank" },
    title: { type: "string" },
    status: { type: "integer" },
    code: { type: "string" },
    detail: { type: "string" },
    errors: {
      type: "array",
      items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } },
    },
  },
};

function objectParameters(
  schema: z.ZodType | undefined,
  where: "path" | "query",
  components: Record<string, JsonSchema>,
) {
  if (!schema) return [];
  const json = toSchema(schema, "input", components) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    schema: s,
  }));
}

const BOOKMARK_DESCRIPTION =
  "A bookmark from an earlier response: this request reads a copy of the database at least that fresh (read-your-writes across requests). Without one, reads take the nearest copy.";

/** `routes` declared with defineRoute, plus `extraPaths`: path items written by hand (the bridges, which speak other protocols). */
export function buildOpenApi(
  routes: readonly AnyRouteSpec[],
  extraPaths: Record<string, Record<string, unknown>> = {},
): JsonSchema {
  const components: Record<string, JsonSchema> = { Problem: ProblemSchema };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      responses[status] = {
        description: spec.description,
        headers: { [BOOKMARK_HEADER]: { $ref: "#/components/headers/Bookmark" } },
        ...(spec.schema || spec.mediaType
          ? {
              content: {
                [spec.mediaType ?? "application/json"]: spec.schema
                  ? { schema: toSchema(spec.schema, "output", components) }
                  : {},
              },
            }
          : {}),
      };
    }
    const errorCodes: ErrorCode[] = [...route.errors];
    if (route.scope !== "public") errorCodes.push("unauthenticated", "forbidden");
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errorCodes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
    for (const [status, codes] of byStatus) {
      responses[String(status)] = {
        description: `Problem: ${[...new Set(codes)].join(", ")}`,
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      };
    }
    responses["500"] = {
      description: "Problem: internal",
      content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
    };
    const parameters = [
      ...objectParameters(route.params, "path", components),
      ...objectParameters(route.query, "query", components),
      ...Object.entries(route.headers ?? {}).map(([name, description]) => ({
        name,
        in: "header",
        required: false,
        description,
        schema: { type: "string" },
      })),
      { $ref: "#/components/parameters/Bookmark" },
    ];
    (paths[route.path] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.scope === "public" ? { security: [] } : { "x-mreg-scope": route.scope }),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: toSchema(route.body, "input", components) } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "mreg",
      version: "1",
      description: "An ML model registry at the edge. Errors are RFC 9457 problem+json with a stable `code`.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    components: {
      schemas: components,
      parameters: {
        Bookmark: {
          name: BOOKMARK_HEADER,
          in: "header",
          required: false,
          description: BOOKMARK_DESCRIPTION,
          schema: { type: "string", pattern: "^[0-9a-f]{1,64}(-[0-9a-f]{1,64}){1,7}$" },
        },
      },
      headers: {
        Bookmark: {
          description: "The D1 session bookmark after this request: send it back to read your writes",
          schema: { type: "string" },
        },
      },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
    paths: { ...paths, ...extraPaths },
  };
}
