import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { call, hsToken, json } from "./helpers";
import { sketch } from "../src/docs/page";

describe("HTTP conventions", () => {
  it("answers unknown routes with a 404 problem", async () => {
    const res = await json("GET", "/v9/nothing");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ type: "about:blank", title: "Not Found", status: 404, code: "not_found" });
  });

  it("echoes x-request-id, or makes one", async () => {
    const echoed = await call("GET", "/healthz", { headers: { "x-request-id": "trace-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-123");
    const made = await call("GET", "/healthz");
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await call("GET", "/healthz", { headers: { "x-request-id": "<script>" } });
    expect(hostile.headers.get("x-request-id")).not.toBe("<script>");
    const onError = await call("GET", "/nope", { headers: { "x-request-id": "trace-404" } });
    expect(onError.headers.get("x-request-id")).toBe("trace-404");
  });

  it("answers an internal failure with 500 internal and no internals", async () => {
    const brokenDb = {
      prepare() {
        throw new Error("D1_ERROR: no such table: models: SELECT secret FROM models");
      },
      batch() {
        throw new Error("D1_ERROR: SQL leaked");
      },
    } as unknown as D1Database;
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://mreg.test/v1/models/x", { headers: { authorization: `Bearer ${await hsToken()}` } }),
      { ...env, DB: brokenDb },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ code: "internal", status: 500 });
    expect(text).not.toMatch(/SELECT|D1_ERROR|at \w+ \(/);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("serves /healthz", async () => {
    expect(await (await call("GET", "/healthz", { token: null })).json()).toEqual({ ok: true });
  });
});

describe("OpenAPI", () => {
  it("documents every route with its schemas, generated from the zod validators", async () => {
    const doc = (await json("GET", "/openapi.json", { token: null })).body;
    expect(doc.openapi).toBe("3.1.0");
    const ops = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap(
      ([path, methods]) => Object.entries(methods).map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(ops).toEqual(
      expect.arrayContaining([
        "POST /v1/models",
        "GET /v1/models",
        "GET /v1/models/{model}",
        "PATCH /v1/models/{model}",
        "DELETE /v1/models/{model}",
        "POST /v1/models/{model}/versions",
        "GET /v1/models/{model}/versions",
        "GET /v1/models/{model}/versions/{version}",
        "PATCH /v1/models/{model}/versions/{version}",
        "POST /v1/models/{model}/versions/{version}/finalize",
        "DELETE /v1/models/{model}/versions/{version}",
        "POST /v1/models/{model}/versions/{version}/stage",
        "PUT /v1/models/{model}/versions/{version}/files/{path}",
        "GET /v1/models/{model}/versions/{version}/files/{path}",
        "DELETE /v1/models/{model}/versions/{version}/files/{path}",
        "GET /v1/models/{model}/versions/{version}/files",
        "POST /v1/models/{model}/versions/{version}/uploads",
        "PUT /v1/models/{model}/versions/{version}/uploads/{upload_id}/parts/{n}",
        "GET /v1/models/{model}/versions/{version}/uploads/{upload_id}",
        "POST /v1/models/{model}/versions/{version}/uploads/{upload_id}/complete",
        "DELETE /v1/models/{model}/versions/{version}/uploads/{upload_id}",
        "GET /v1/models/{model}/aliases",
        "PUT /v1/models/{model}/aliases/{alias}",
        "GET /v1/models/{model}/aliases/{alias}",
        "DELETE /v1/models/{model}/aliases/{alias}",
        "GET /v1/models/{model}/aliases/{alias}/history",
        "POST /v1/models/{model}/aliases/{alias}/rollback",
        "POST /v1/models/{model}/aliases:swap",
        "GET /v1/models/{model}/aliases/{alias}/watch",
        "GET /v1/resolve",
        "GET /v1/audit",
        "POST /v1/tokens",
        "GET /v1/tokens",
        "DELETE /v1/tokens/{id}",
        "GET /healthz",
      ]),
    );
    const create = doc.paths["/v1/models"].post;
    const body = create.requestBody.content["application/json"].schema;
    expect(body.properties.name.pattern).toBe("^[a-z0-9][a-z0-9._-]{0,127}$");
    expect(create.responses["201"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Model" });
    expect(create.responses["409"].description).toContain("already_exists");
    expect(doc.components.schemas.Model.properties.latest_version).toBeDefined();
    expect(doc.components.schemas.Version.properties.lineage).toEqual({ $ref: "#/components/schemas/Lineage" });
    const params = doc.paths["/v1/models/{model}/versions/{version}"].get.parameters;
    expect(params.map((p: { name?: string; $ref?: string }) => p.name ?? p.$ref)).toEqual([
      "model",
      "version",
      "#/components/parameters/Bookmark",
    ]);
    expect(doc.components.parameters.Bookmark).toMatchObject({ name: "x-mreg-bookmark", in: "header" });
    expect(doc.paths["/v1/lineage"].get.responses["200"].headers["x-mreg-bookmark"]).toBeDefined();
    // Every $ref points at a component that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    for (const ref of refs) expect(doc.components.schemas[ref!], ref).toBeDefined();
  });

  it("renders the docs page from the same document", async () => {
    const res = await call("GET", "/docs", { token: null });
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("/v1/models/{model}/versions");
    expect(html).toContain("Create a model");
    // Bodies, not only paths: POST /v1/models shows its request fields and the Model it answers.
    const section = html.slice(html.indexOf("<code>/v1/models</code>", html.indexOf(">POST<")));
    const create = section.slice(0, section.indexOf("</section>"));
    expect(create).toContain("Request body <code>application/json</code>");
    expect(create).toMatch(/fields: <code>name<\/code> <b>required<\/b>/);
    expect(create).toContain("&quot;name&quot;: &quot;string&quot;");
    expect(create).toContain("Response 201 <code>application/json</code>");
    expect(create).toContain("&quot;latest_version&quot;");
    // A component that holds another is expanded (Version → Lineage), and a 204 shows no body.
    const version = html.slice(html.indexOf("<code>/v1/models/{model}/versions/{version}</code>"));
    expect(version.slice(0, version.indexOf("</section>"))).toContain("&quot;lineage&quot;: {");
    expect(html).not.toContain("Response 204");
  });

  it("sketches bodies from schemas: refs, cycles, unions, enums, maps", () => {
    const components = {
      Node: { type: "object", properties: { name: { type: "string" }, child: { $ref: "#/components/schemas/Node" } } },
    };
    const schema = {
      type: "object",
      properties: {
        tree: { $ref: "#/components/schemas/Node" },
        status: { type: "string", enum: ["ready", "failed"] },
        maybe: { anyOf: [{ type: "null" }, { type: "integer", minimum: 1 }] },
        tags: { type: "object", additionalProperties: { type: "string" } },
        at: { type: "string", format: "date-time" },
        list: { type: "array", items: { type: "number" } },
      },
    };
    expect(sketch(schema, components)).toEqual({
      tree: { name: "string", child: "<Node>" },
      status: "ready",
      maybe: 1,
      tags: { "<key>": "string" },
      at: "2026-11-01T12:00:00.000Z",
      list: [0.5],
    });
  });
});
