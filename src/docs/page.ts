/**
 * GET /docs: a self-contained HTML page rendered from the OpenAPI document (no scripts or
 * CDN assets, so it works offline and under a strict CSP).
 */
type Operation = {
  summary?: string;
  description?: string;
  "x-mreg-scope"?: string;
  responses?: Record<string, { description?: string }>;
};

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

export function renderDocs(doc: { paths: Record<string, Record<string, Operation>> }): string {
  const rows: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const statuses = Object.entries(op.responses ?? {})
        .map(([status, r]) => `<li><code>${escape(status)}</code> ${escape(r.description ?? "")}</li>`)
        .join("");
      rows.push(`<section>
  <h3><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
  <p>${escape(op.summary ?? "")}${op["x-mreg-scope"] ? ` <small>scope: <code>${escape(op["x-mreg-scope"])}</code></small>` : ""}</p>
  ${op.description ? `<p>${escape(op.description)}</p>` : ""}
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
code{background:#f4f4f4;padding:0 .2rem}ul{margin:.2rem 0}
</style></head><body>
<h1>mreg API</h1>
<p>The machine-readable contract is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Send <code>Authorization: Bearer &lt;JWT&gt;</code>; errors are <code>application/problem+json</code> with a stable <code>code</code>.</p>
${rows.join("\n")}
</body></html>`;
}
