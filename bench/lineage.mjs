#!/usr/bin/env node
// bench/lineage: lineage reads at scale, against `npm start`.
//   npx node bench/lineage.mjs [--models 1000] [--versions 100] [--requests 400]
// 1. Seeds `--models` × `--versions` versions (100,000 by default) straight into a fresh
//    local D1 (`wrangler d1 execute --local --file`): git shas shared by ~10 versions, run ids
//    by ~5, 200 datasets × 10 snapshots (1–2 per version), a parent chain inside each model
//    and a cross-model parent for every tenth model, a `production` alias per model.
//    (Through the API this would take hours on the local simulators, and the reads measured
//    here touch only D1.)
// 2. Starts `npm start` on that state and measures, one request at a time (latency, not
//    throughput), `--requests` requests of each: the reverse lookups by git sha, run id,
//    dataset, dataset + snapshot (first page of 50), and a depth-3 lineage walk of a random
//    version; and GET /healthz as the same-run baseline. Requests go through the typed client
//    (dist/client.mjs), which the CLI uses too.
// 3. Prints `EXPLAIN QUERY PLAN` of each query (src/lineage/sql.ts, the SQL the Worker runs)
//    on the seeded database.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FACTS_SQL, LOOKUP_SQL, WALK_SQL } from "../src/lineage/sql.ts";
import { apiClient, freePort, mintToken, root, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "1000" },
    versions: { type: "string", default: "100" },
    requests: { type: "string", default: "400" },
  },
});
const MODELS = Number(values.models);
const VERSIONS = Number(values.versions);
const REQUESTS = Number(values.requests);
const DATASETS = 200;
const SNAPSHOTS = 10;

/** A deterministic generator (mulberry32), so every run seeds the same data. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(42);
const pick = (n) => Math.floor(random() * n);
const hex40 = (i) => (i.toString(16).padStart(8, "0") + "c0ffee").repeat(3).slice(0, 40);
const modelName = (m) => `bench-m${String(m).padStart(4, "0")}`;
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

function seedSql() {
  const total = MODELS * VERSIONS;
  const lines = [];
  const start = Date.parse("2026-01-01T00:00:00.000Z");
  const models = [];
  for (let m = 0; m < MODELS; m++) {
    models.push(
      `(${q(modelName(m))}, 'model', NULL, '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'bench')`,
    );
  }
  for (let i = 0; i < models.length; i += 500) {
    lines.push(
      `INSERT INTO models (name, kind, description, tags, created_at, updated_at, created_by) VALUES ${models.slice(i, i + 500).join(",")};`,
    );
  }
  let versions = [];
  let parents = [];
  let datasets = [];
  // D1 refuses statements over 100 KB: at most ~40 KB of rows per INSERT.
  const flush = (force) => {
    if (versions.length >= 100 || (force && versions.length)) {
      lines.push(
        `INSERT INTO versions (model, version, status, stage, description, tags, metrics, lineage, digest, run_id, git_sha, created_at, created_by, updated_at, ready_at, revision) VALUES ${versions.join(",")};`,
      );
      versions = [];
    }
    if (parents.length >= 500 || (force && parents.length)) {
      lines.push(
        `INSERT INTO version_parents (model, version, parent_model, parent_version) VALUES ${parents.join(",")};`,
      );
      parents = [];
    }
    if (datasets.length >= 500 || (force && datasets.length)) {
      lines.push(
        `INSERT OR IGNORE INTO version_datasets (model, version, uri, snapshot, digest, created_at) VALUES ${datasets.join(",")};`,
      );
      datasets = [];
    }
  };
  // Versions interleave across models in time, as real training jobs do.
  for (let n = 1; n <= VERSIONS; n++) {
    for (let m = 0; m < MODELS; m++) {
      const seq = (n - 1) * MODELS + m;
      const at = new Date(start + seq * 1000).toISOString();
      const model = modelName(m);
      const sha = hex40(Math.floor(seq / 10));
      const run = `run-${Math.floor(seq / 5)}`;
      const used = [
        { uri: `s3://datasets/d${pick(DATASETS)}`, snapshot: `2026-${String(1 + pick(SNAPSHOTS)).padStart(2, "0")}` },
      ];
      if (random() < 0.5)
        used.push({
          uri: `s3://datasets/d${pick(DATASETS)}`,
          snapshot: `2026-${String(1 + pick(SNAPSHOTS)).padStart(2, "0")}`,
        });
      const par = [];
      if (n > 1) par.push({ model, version: n - 1 });
      if (m % 10 === 0 && m > 0) par.push({ model: modelName(m - 1), version: n });
      const lineage = {
        git_sha: sha,
        run_id: run,
        datasets: used,
        parents: par,
        params: { lr: 0.001 * (1 + pick(10)) },
      };
      versions.push(
        `(${q(model)}, ${n}, 'ready', 'none', NULL, '{}', ${q(JSON.stringify({ auc: random() }))}, ${q(JSON.stringify(lineage))}, NULL, ${q(run)}, ${q(sha)}, ${q(at)}, 'bench', ${q(at)}, ${q(at)}, 1)`,
      );
      for (const p of par) parents.push(`(${q(model)}, ${n}, ${q(p.model)}, ${p.version})`);
      for (const d of used) datasets.push(`(${q(model)}, ${n}, ${q(d.uri)}, ${q(d.snapshot)}, NULL, ${q(at)})`);
      flush(false);
    }
  }
  flush(true);
  const aliases = [];
  for (let m = 0; m < MODELS; m++)
    aliases.push(
      `(${q(modelName(m))}, 'production', ${1 + pick(VERSIONS)}, NULL, 1, '2026-06-01T00:00:00.000Z', 'bench')`,
    );
  for (let i = 0; i < aliases.length; i += 500) {
    lines.push(
      `INSERT INTO aliases (model, alias, version, split, generation, updated_at, updated_by) VALUES ${aliases.slice(i, i + 500).join(",")};`,
    );
  }
  return { sql: lines.join("\n"), total };
}

const wrangler = join(root, "node_modules", ".bin", "wrangler");
const d1 = (state, ...args) =>
  execFileSync(wrangler, ["d1", ...args, "--local", "--persist-to", state], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, CI: "true" },
    maxBuffer: 64 << 20,
  });

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** Times each call (the typed client's requests, one at a time). */
async function measure(label, calls) {
  const times = [];
  for (const call of calls) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { label, p50: percentile(times, 50), p99: percentile(times, 99), n: times.length };
}

/** The query with its parameters written in, for `wrangler d1 execute --command`. */
function inline(sqlText, params) {
  return sqlText.replace(/\?(\d+)/g, (_, n) => {
    const v = params[Number(n) - 1];
    return v === null ? "NULL" : typeof v === "number" ? String(v) : q(v);
  });
}

async function main() {
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-lineage-"));
  try {
    d1(state, "migrations", "apply", "DB");
    const { sql, total } = seedSql();
    const file = join(state, "seed.sql");
    writeFileSync(file, sql);
    const t0 = Date.now();
    d1(state, "execute", "DB", "--file", file);
    console.log(`seeded ${total} versions across ${MODELS} models in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    const port = await freePort();
    const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
    const client = apiClient(`http://127.0.0.1:${port}`, mintToken("read"));
    try {
      const sample = (n, f) => Array.from({ length: n }, f);
      const seqs = () => pick(MODELS * VERSIONS);
      const search = (query) => () => client.lineage.search(query);
      // Warm-up: the first requests compile and open the database.
      await measure(
        "warm-up",
        sample(50, () => search({ git_sha: hex40(Math.floor(seqs() / 10)) })),
      );
      const results = [
        await measure(
          "GET /healthz (baseline)",
          sample(REQUESTS, () => () => client.health()),
        ),
        await measure(
          "lookup git_sha",
          sample(REQUESTS, () => search({ git_sha: hex40(Math.floor(seqs() / 10)) })),
        ),
        await measure(
          "lookup run_id",
          sample(REQUESTS, () => search({ run_id: `run-${Math.floor(seqs() / 5)}` })),
        ),
        await measure(
          "lookup dataset (first 50 of ~750)",
          sample(REQUESTS, () => search({ dataset: `s3://datasets/d${pick(DATASETS)}` })),
        ),
        await measure(
          "lookup dataset + snapshot",
          sample(REQUESTS, () =>
            search({
              dataset: `s3://datasets/d${pick(DATASETS)}`,
              snapshot: `2026-${String(1 + pick(SNAPSHOTS)).padStart(2, "0")}`,
            }),
          ),
        ),
        await measure(
          "lookup dataset, page 5 (cursor)",
          await (async () => {
            // Walk to a 5th page once per dataset, then time fetching it.
            const calls = [];
            for (let i = 0; i < Math.min(REQUESTS, 100); i++) {
              const dataset = `s3://datasets/d${i % DATASETS}`;
              let cursor;
              for (let page = 0; page < 4; page++) {
                const body = await client.lineage.search({ dataset, ...(cursor ? { cursor } : {}) });
                if (!body.next_cursor) break;
                cursor = body.next_cursor;
              }
              calls.push(search({ dataset, ...(cursor ? { cursor } : {}) }));
            }
            return calls;
          })(),
        ),
        await measure(
          "lineage depth 3",
          sample(REQUESTS, () => () => client.lineage.graph(modelName(pick(MODELS)), 1 + pick(VERSIONS), { depth: 3 })),
        ),
        await measure(
          "lineage depth 10",
          sample(
            Math.min(REQUESTS, 200),
            () => () => client.lineage.graph(modelName(pick(MODELS)), 1 + pick(VERSIONS), { depth: 10 }),
          ),
        ),
      ];
      const baseline = results[0];
      console.log(
        `\n${"query".padEnd(40)} ${"n".padStart(5)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}  p99 / healthz p99`,
      );
      for (const r of results) {
        console.log(
          `${r.label.padEnd(40)} ${String(r.n).padStart(5)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}  ${(r.p99 / baseline.p99).toFixed(1)}x`,
        );
      }
    } finally {
      await server.stop();
    }

    console.log("\nEXPLAIN QUERY PLAN on the seeded database:");
    const cursor = ["2026-02-01T00:00:00.000Z", "bench-m0500", 50];
    const plans = [
      ["git_sha", LOOKUP_SQL.git_sha, [hex40(7), ...cursor, 51, null]],
      ["run_id", LOOKUP_SQL.run_id, ["run-7", ...cursor, 51, null]],
      ["dataset", LOOKUP_SQL.dataset, ["s3://datasets/d7", ...cursor, 51, null]],
      ["dataset + snapshot", LOOKUP_SQL.dataset_snapshot, ["s3://datasets/d7", ...cursor, 51, null, "2026-03"]],
      [
        "git_sha, token with models globs",
        LOOKUP_SQL.git_sha,
        [hex40(7), ...cursor, 51, JSON.stringify(["bench-m00*"])],
      ],
      ["walk (depth 3, both directions)", WALK_SQL, ["bench-m0010", 50, 3, 2000]],
      ["walk: node facts", FACTS_SQL, [JSON.stringify([["bench-m0010", 5]])]],
    ];
    for (const [label, sqlText, params] of plans) {
      const out = JSON.parse(
        d1(state, "execute", "DB", "--json", "--command", `EXPLAIN QUERY PLAN ${inline(sqlText, params)}`),
      );
      console.log(`\n${label}:`);
      for (const row of out[0].results) console.log(`  ${row.detail}`);
    }
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
