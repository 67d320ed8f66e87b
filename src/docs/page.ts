/**
 * GET /docs: a self-contained HTML page rendered from the OpenAPI document (no scripts or
 * CDN assets, so it works offline and under a strict CSP). Each operation shows its request
 * body and its success response as a JSON sketch built from their schemas (the schemas' own
 * examples, defaults and enums where they have them), with the body's fields marked
 * required or optional: what a reader needs to write the call without opening
 * /openapi.json.
 */
type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  example?: unknown;
  examples?: unknown[];
  format?: string;
  minimum?: number;
};
type Content = Record<string, { schema?: Schema }>;
type Operation = {
  summary?: string;
  description?: string;
  "x-mreg-scope"?: string;
  requestBody?: { content?: Content };
  responses?: Record<string, { description?: string; content?: Content }>;
};
export type OpenApiDoc = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

/** Past this depth (or on a schema that contains itself) a sketch names the component instead. */
const MAX_DEPTH = 6;

/** A JSON value shaped like `schema`: what a body looks like, not what it must hold. */
export function sketch(
  schema: Schema | undefined,
  components: Record<string, Schema>,
  depth = 0,
  seen: readonly string[] = [],
): unknown {
  if (!schema) return {};
  if (schema.example !== undefined) return schema.example;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = components[name];
    if (!target || seen.includes(name) || depth >= MAX_DEPTH) return `<${name}>`;
    return sketch(target, components, depth, [...seen, name]);
  }
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants?.length) {
    const chosen = variants.find((v) => v.type !== "null") ?? variants[0];
    return sketch(chosen, components, depth, seen);
  }
  if (schema.allOf?.length) {
    const parts = schema.allOf.map((s) => sketch(s, components, depth, seen));
    return parts.every((p) => typeof p === "object" && p !== null && !Array.isArray(p))
      ? Object.assign({}, ...parts)
      : parts[0];
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const type = types.find((t) => t !== "null") ?? types[0];
  if (type === "object" || schema.properties) {
    if (depth >= MAX_DEPTH) return {};
    const out: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(schema.properties ?? {}))
      out[key] = sketch(prop, components, depth + 1, seen);
    if (!schema.properties && typeof schema.additionalProperties === "object")
      out["<key>"] = sketch(schema.additionalProperties, components, depth + 1, seen);
    return out;
  }
  if (type === "array") return depth >= MAX_DEPTH ? [] : [sketch(schema.items, components, depth + 1, seen)];
  if (type === "string")
    return schema.format === "date-time"
      ? "2026-11-01T12:00:00.000Z"
      : schema.format === "uri"
        ? "https://example.com/"
        : "string";
  if (type === "integer") return schema.minimum !== undefined && schema.minimum > 0 ? schema.minimum : 0;
  if (type === "number") return 0.5;
  if (type === "boolean") return false;
  if (type === "null") return null;
  return {};
}

/** The top-level fields of an object body: name, required or optional. */
function fields(schema: Schema | undefined, components: Record<string, Schema>): string {
  const target = schema?.$ref ? components[schema.$ref.replace("#/components/schemas/", "")] : schema;
  const props = Object.keys(target?.properties ?? {});
  if (props.length === 0) return "";
  const required = new Set(target?.required ?? []);
  const list = props.map((p) => `<code>${escape(p)}</code>${required.has(p) ? " <b>required</b>" : ""}`).join(", ");
  return `<p class="f">fields: ${list}</p>`;
}

/** A body in one media type: a JSON sketch, or what travels for other types. */
function body(
  label: string,
  content: Content | undefined,
  components: Record<string, Schema>,
  withFields: boolean,
): string {
  const entries = Object.entries(content ?? {});
  if (entries.length === 0) return "";
  const [mediaType, { schema }] = entries[0]!;
  if (!mediaType.includes("json") || !schema)
    return `<p class="b">${escape(label)}: <code>${escape(mediaType)}</code></p>`;
  const json = JSON.stringify(sketch(schema, components), null, 2);
  return `<p class="b">${escape(label)} <code>${escape(mediaType)}</code></p>${withFields ? fields(schema, components) : ""}<pre>${escape(json)}</pre>`;
}

export function renderDocs(doc: OpenApiDoc): string {
  const components = doc.components?.schemas ?? {};
  const rows: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const responses = Object.entries(op.responses ?? {});
      const statuses = responses
        .map(([status, r]) => `<li><code>${escape(status)}</code> ${escape(r.description ?? "")}</li>`)
        .join("");
      // The success answer with a body (a 204 has none): the first 2xx that declares content.
      const success = responses.find(
        ([status, r]) => status.startsWith("2") && Object.keys(r.content ?? {}).length > 0,
      );
      rows.push(`<section>
  <h3><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
  <p>${escape(op.summary ?? "")}${op["x-mreg-scope"] ? ` <small>scope: <code>${escape(op["x-mreg-scope"])}</code></small>` : ""}</p>
  ${op.description ? `<p>${escape(op.description)}</p>` : ""}
  ${body("Request body", op.requestBody?.content, components, true)}
  ${success ? body(`Response ${success[0]}`, success[1].content, components, false) : ""}
  <ul>${statuses}</ul>
</section>`);
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mreg API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;padding:.5rem 0}h3{margin:.3rem 0;font-size:1rem}
.m{display:inline-block;min-width:4.5rem;font-weight:600}.get{color:#0a6}.post{color:#06c}.put,.patch{color:#a60}.delete{color:#c22}
code{background:#f4f4f4;padding:0 .2rem}ul{margin:.2rem 0}.b{margin:.4rem 0 .1rem;font-weight:600}.f{margin:.1rem 0;font-size:.9em}
pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:.4rem .6rem;margin:.2rem 0;overflow-x:auto;font-size:13px;max-height:24rem}
</style></head><body>
<h1>mreg API</h1>
<p>The machine-readable contract is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Send <code>Authorization: Bearer &lt;JWT&gt;</code>; errors are <code>application/problem+json</code> with a stable <code>code</code>. Bodies below are sketches built from the schemas: each field with a value of its type.</p>
${rows.join("\n")}
</body></html>`;
}
