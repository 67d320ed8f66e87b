/**
 * What fits in D1's 10 GB (docs/operations.md "9. Limits: what a deployment meets"): bytes a version (with its files and its
 * audit events) and a bare audit event take in a local D1, measured from D1's own `size_after`
 * with representative rows written through the routes. The figures are printed for the docs; the
 * assertions hold the projection's assumptions (a version under 8 KB, an audit event under 2 KB),
 * so a schema change that breaks them fails here and the table in the docs is looked at again.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createModel, readyVersion } from "./helpers";

const size = async () => (await env.DB.prepare("SELECT 1").run()).meta.size_after;

describe("D1's capacity, projected from representative rows", () => {
  it("a ready version of 3 files with its audit events, and an audit event alone", async () => {
    await createModel("cap-model", {
      description: "A fraud model, gradient boosted, retrained nightly",
      tags: { team: "risk", tier: "1" },
    });
    const before = await size();
    const N = 150;
    for (let i = 1; i <= N; i++) {
      await readyVersion(
        "cap-model",
        { "model.safetensors": `weights ${i}`, "config.json": `{"layers": ${i}}`, "README.md": `# v${i}` },
        {
          body: {
            description: `nightly retrain ${i}`,
            tags: { run: `run-${i}`, git: "3f2a9c1e" },
            metrics: { auc: 0.91 + i / 1e4, loss: 0.2, f1: 0.8 },
            lineage: {
              run_id: `run-${i}`,
              git_sha: "3f2a9c1e7b",
              datasets: [{ uri: "s3://data/fraud", snapshot: `2026-12-${(i % 28) + 1}` }],
            },
          },
        },
      );
    }
    const perVersion = ((await size()) - before) / N;
    const events = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE model = 'cap-model'").first<{
      n: number;
    }>();

    const beforeAudit = await size();
    const M = 3000;
    const rows = [];
    for (let n = 0; n < M; n++) {
      rows.push(
        env.DB.prepare(
          "INSERT INTO audit_events (id, at, actor, action, model, version, alias, from_value, to_value, reason, detail, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ).bind(
          `01JF${String(n).padStart(22, "0")}`,
          new Date(Date.UTC(2026, 11, 1) + n * 1000).toISOString(),
          "ci-fraud",
          "alias.set",
          "payment-fraud",
          n,
          "production",
          JSON.stringify({ version: n - 1 }),
          JSON.stringify({ version: n }),
          "promoted by CI after the staging gate passed",
          JSON.stringify({ generation: n, gate: { passed: true } }),
          "tok_01JF0000000000000000000000",
        ),
      );
    }
    for (let i = 0; i < rows.length; i += 100) await env.DB.batch(rows.slice(i, i + 100));
    const perEvent = ((await size()) - beforeAudit) / M;
    console.log("d1-capacity", JSON.stringify({ perVersion, eventsPerVersion: (events?.n ?? 0) / N, perEvent }));
    expect(perVersion).toBeGreaterThan(0);
    expect(perVersion).toBeLessThan(8 * 1024);
    expect(perEvent).toBeGreaterThan(0);
    expect(perEvent).toBeLessThan(2 * 1024);
  });
});
