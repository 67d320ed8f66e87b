/**
 * `mreg import mlflow --from <url>`: copies an MLflow server's registry into mreg through
 * its REST API (mlflow/mlflow `model_registry.proto`): registered models (description,
 * tags), their versions (description, tags, `source`, `run_id`, `run_link` into lineage),
 * the files of each version when the server proxies them through `mlflow-artifacts`, stages
 * and aliases. Everything lands through `/v1`, so gates, grants and audit apply as to any
 * other write (a refused stage or alias is reported, not forced).
 *
 * Version numbers are kept where they can be: versions are created in MLflow's order, and a
 * number MLflow skipped (a deleted version) is skipped in mreg too, by creating and deleting
 * a version there (mreg never reuses a number). Each imported version carries the tag
 * `mlflow_version`, so a second run finds what the first did and copies only what is missing.
 * Source credentials come from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and
 * MLFLOW_TRACKING_PASSWORD, as MLflow's own clients read them.
 */
import { createHash } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { paginate } from "../../client/client";
import { MregError } from "../../client/errors";
import type { Version } from "../../client/types";
import { fromMlflowStage, mregNameFor, tagMap, type TagEntry } from "../../domain/mlflow";
import { flag, strs, str, type Command } from "../command";
import type { Context } from "../context";
import { CliError, UsageError } from "../exit";
import { fileSource } from "../files";
import { bytes } from "../output";

/** The tag that ties an mreg version to the MLflow version it was imported from. */
const ORIGIN_TAG = "mlflow_version";
const PAGE = 100;

interface MlflowVersion {
  name: string;
  version: string;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  run_link?: string;
  status?: string;
  tags?: TagEntry[];
}

interface MlflowModel {
  name: string;
  description?: string;
  tags?: TagEntry[];
  aliases?: { alias: string; version: string }[];
}

interface ArtifactFile {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** The MLflow server, spoken to as its Python client does (GET fields in the query string, JSON bodies otherwise). */
class MlflowSource {
  private readonly auth: string | undefined;

  constructor(readonly base: string) {
    const token = process.env.MLFLOW_TRACKING_TOKEN;
    const user = process.env.MLFLOW_TRACKING_USERNAME;
    const password = process.env.MLFLOW_TRACKING_PASSWORD;
    this.auth = user && password ? `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` : token ? `Bearer ${token}` : undefined;
  }

  private async fetch(url: string): Promise<Response> {
    const res = await fetch(url, { headers: { accept: "application/json", ...(this.auth ? { authorization: this.auth } : {}) } });
    if (!res.ok) {
      const text = await res.text();
      let detail = text.slice(0, 300);
      try {
        const body = JSON.parse(text) as { error_code?: string; message?: string };
        if (body.error_code) detail = `${body.error_code}: ${body.message ?? ""}`;
      } catch {
        // not JSON: the text says it
      }
      throw new CliError(`MLflow server: GET ${url.replace(this.base, "")} answered ${res.status}: ${detail}`);
    }
    return res;
  }

  async get<T>(path: string, params: Record<string, string | undefined>): Promise<T> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
    return (await (await this.fetch(`${this.base}/api/2.0/mlflow/${path}?${query}`)).json()) as T;
  }

  async *models(only: string[]): AsyncGenerator<MlflowModel> {
    if (only.length > 0) {
      for (const name of only) yield (await this.get<{ registered_model: MlflowModel }>("registered-models/get", { name })).registered_model;
      return;
    }
    let token: string | undefined;
    do {
      const page = await this.get<{ registered_models?: MlflowModel[]; next_page_token?: string }>("registered-models/search", { max_results: String(PAGE), page_token: token });
      yield* page.registered_models ?? [];
      token = page.next_page_token || undefined;
    } while (token);
  }

  /** Every version of `name`, oldest first. */
  async versions(name: string): Promise<MlflowVersion[]> {
    // sqlparse reads "…" as an identifier, which MLflow unquotes too: the form for a name with a single quote.
    const filter = name.includes("'") ? `name = "${name}"` : `name = '${name}'`;
    const out: MlflowVersion[] = [];
    let token: string | undefined;
    do {
      const page = await this.get<{ model_versions?: MlflowVersion[]; next_page_token?: string }>("model-versions/search", { filter, max_results: "1000", page_token: token });
      out.push(...(page.model_versions ?? []));
      token = page.next_page_token || undefined;
    } while (token);
    return out.sort((a, b) => Number(a.version) - Number(b.version));
  }

  /**
   * Where a version's files can be read, when the server proxies them: `mlflow-artifacts:`
   * URIs resolve as MlflowArtifactsRepository resolves them (this server, or the URI's host).
   */
  async artifactRoot(name: string, version: string): Promise<{ origin: string; root: string } | { uri: string }> {
    const { artifact_uri: uri } = await this.get<{ artifact_uri: string }>("model-versions/get-download-uri", { name, version });
    if (!uri.startsWith("mlflow-artifacts:")) return { uri };
    const parsed = new URL(uri);
    const origin = parsed.host ? `${new URL(this.base).protocol}//${parsed.host}` : this.base;
    return { origin, root: decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, "") };
  }

  /** The files under `root`, recursively, as the client lists them (names relative to the listed path). */
  async *walk(origin: string, root: string, dir = ""): AsyncGenerator<{ path: string; size: number | undefined }> {
    const listed = dir ? `${root}/${dir}` : root;
    const body = (await (await this.fetch(`${origin}/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path: listed })}`)).json()) as { files?: ArtifactFile[] };
    for (const f of body.files ?? []) {
      if (f.path.includes("..") || f.path.startsWith("/")) throw new CliError(`MLflow server listed an unsafe path '${f.path}'`);
      const path = dir ? `${dir}/${f.path}` : f.path;
      if (f.is_dir) yield* this.walk(origin, root, path);
      else yield { path, size: f.file_size };
    }
  }

  /** Downloads one file to `local`, hashing it on the way. */
  async download(origin: string, root: string, path: string, local: string): Promise<{ size: number; sha256: string }> {
    const res = await this.fetch(`${origin}/api/2.0/mlflow-artifacts/artifacts/${[...root.split("/"), ...path.split("/")].map(encodeURIComponent).join("/")}`);
    const hash = createHash("sha256");
    const out = createWriteStream(local);
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.byteLength;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    out.end();
    await finished(out);
    return { size, sha256: hash.digest("hex") };
  }
}

interface VersionReport {
  mlflow_version: number;
  version: number | null;
  status: string;
  files: number;
  bytes: number;
  stage: string | null;
}

interface ModelReport {
  mlflow_name: string;
  name: string;
  created: boolean;
  versions: VersionReport[];
  aliases: { alias: string; version: number }[];
}

/** MLflow names → mreg names: as they are when they fit, else lower-cased (`--map` decides otherwise); two sources to one name is refused. */
function nameMapping(sources: string[], overrides: Record<string, string>): Map<string, string> {
  const map = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const source of sources) {
    const target = overrides[source] ?? mregNameFor(source);
    if (!target) throw new UsageError(`the MLflow model '${source}' has no usable mreg name: give one with --map '${source}=<name>'`, "import mlflow");
    const other = taken.get(target);
    if (other !== undefined) throw new UsageError(`'${other}' and '${source}' would both become '${target}': give one another name with --map`, "import mlflow");
    taken.set(target, source);
    map.set(source, target);
  }
  return map;
}

export const importMlflow: Command = {
  name: "import mlflow",
  summary: "Copy an MLflow server's registered models, versions, files, stages, aliases and tags into mreg",
  options: {
    from: { type: "string" },
    model: { type: "string", multiple: true },
    map: { type: "string", multiple: true },
    "no-files": { type: "boolean" },
    "dry-run": { type: "boolean" },
  },
  help: [
    "--from URL        The MLflow tracking server (its MLFLOW_TRACKING_URI); credentials from MLFLOW_TRACKING_TOKEN,",
    "                  or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
    "--model NAME      Only this registered model (repeatable; default: all of them)",
    "--map SRC=DST     The mreg name of an MLflow model (default: its name in lower case, other characters as '-')",
    "--no-files        Copy metadata only: versions stay pending until their files are pushed",
    "--dry-run         Say what would be copied, and under which names, without writing",
  ],
  examples: ["MLFLOW_TRACKING_TOKEN=… mreg import mlflow --from https://mlflow.internal", "mreg import mlflow --from http://127.0.0.1:5000 --model 'Payment Fraud' --map 'Payment Fraud=payment-fraud'"],
  async run(ctx, input) {
    const from = str(input, "from");
    if (!from) throw new UsageError("--from <MLflow server URL> is required", "import mlflow");
    let base: string;
    try {
      base = new URL(from).origin + new URL(from).pathname.replace(/\/+$/, "");
    } catch {
      throw new UsageError(`--from '${from}' is not a URL`, "import mlflow");
    }
    const overrides: Record<string, string> = {};
    for (const pair of strs(input, "map")) {
      const at = pair.lastIndexOf("=");
      if (at <= 0) throw new UsageError(`--map takes SRC=DST, not '${pair}'`, "import mlflow");
      overrides[pair.slice(0, at)] = pair.slice(at + 1);
    }
    const source = new MlflowSource(base);
    const models: MlflowModel[] = [];
    for await (const m of source.models(strs(input, "model"))) models.push(m);
    const names = nameMapping(
      models.map((m) => m.name),
      overrides,
    );
    const dryRun = flag(input, "dry-run");
    const warnings: string[] = [];
    const reports: ModelReport[] = [];
    const scratch = mkdtempSync(join(tmpdir(), "mreg-import-"));
    try {
      for (const m of models) {
        const name = names.get(m.name)!;
        const versions = await source.versions(m.name);
        if (dryRun) {
          reports.push({ mlflow_name: m.name, name, created: false, versions: versions.map((v) => ({ mlflow_version: Number(v.version), version: null, status: v.status ?? "", files: 0, bytes: 0, stage: v.current_stage ?? null })), aliases: [] });
          continue;
        }
        ctx.out.note(`${m.name} → ${name}: ${versions.length} version(s)`);
        reports.push(await importModel(ctx, source, m, name, versions, { files: !flag(input, "no-files"), scratch, warn: (w) => (warnings.push(w), ctx.out.error(`warning: ${w}`)) }));
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const summary = { from: base, dry_run: dryRun, models: reports, warnings };
    ctx.out.result(summary, () =>
      [
        ...reports.map((r) => `${r.mlflow_name} → ${r.name}: ${r.versions.length} version(s)${r.aliases.length ? `, aliases ${r.aliases.map((a) => `${a.alias}→${a.version}`).join(", ")}` : ""}`),
        warnings.length ? `${warnings.length} warning(s) (see above)` : "",
      ]
        .filter(Boolean)
        .join("\n"),
    );
  },
};

async function importModel(
  ctx: Context,
  source: MlflowSource,
  m: MlflowModel,
  name: string,
  versions: MlflowVersion[],
  opts: { files: boolean; scratch: string; warn: (w: string) => void },
): Promise<ModelReport> {
  const client = ctx.client;
  const tags = tagMap(m.tags ?? []);
  let created = true;
  try {
    await client.models.create({ name, description: m.description ?? null, tags });
  } catch (err) {
    if (!(err instanceof MregError && err.code === "already_exists")) throw err;
    created = false;
    await client.models.update(name, { ...(m.description !== undefined ? { description: m.description } : {}), tags });
  }
  // What an earlier run imported: mreg versions by the MLflow version they came from.
  const done = new Map<number, Version>();
  for await (const v of paginate((cursor) => client.versions.list(name, { limit: 200, cursor }))) {
    const origin = Number(v.tags[ORIGIN_TAG]);
    if (Number.isInteger(origin)) done.set(origin, v);
  }
  const report: ModelReport = { mlflow_name: m.name, name, created, versions: [], aliases: [] };
  const mapped = new Map<number, number>();
  for (const mv of versions) {
    const number = Number(mv.version);
    if (mv.status === "FAILED_REGISTRATION") {
      opts.warn(`${m.name} version ${number} failed its registration in MLflow: not imported`);
      continue;
    }
    let version = done.get(number) ?? (await createAligned(ctx, name, number, mv, opts.warn));
    mapped.set(number, version.version);
    const entry: VersionReport = { mlflow_version: number, version: version.version, status: version.status, files: 0, bytes: 0, stage: null };
    if (version.status === "pending" && opts.files && mv.status !== "PENDING_REGISTRATION") {
      const copied = await copyFiles(ctx, source, m.name, mv.version, version, opts);
      entry.files = copied.files;
      entry.bytes = copied.bytes;
      if (copied.files > 0 || version.files.length > 0) version = await client.versions.finalize(name, version.version);
    }
    entry.status = version.status;
    const stage = fromMlflowStage(mv.current_stage ?? "None");
    if (stage && stage !== "none" && version.stage !== stage) {
      try {
        version = await client.versions.setStage(name, version.version, { stage, reason: "imported from MLflow" });
        entry.stage = stage;
      } catch (err) {
        if (!(err instanceof MregError)) throw err;
        opts.warn(`${name} version ${version.version}: stage ${mv.current_stage} not set: ${err.detail}`);
      }
    } else if (stage && stage !== "none") entry.stage = stage;
    report.versions.push(entry);
  }
  for (const { alias, version } of m.aliases ?? []) {
    const target = mapped.get(Number(version));
    if (target === undefined) {
      opts.warn(`${name}@${alias}: MLflow version ${version} was not imported`);
      continue;
    }
    try {
      const set = await client.aliases.set(name, alias, { version: target, reason: "imported from MLflow" });
      report.aliases.push({ alias: set.alias, version: target });
    } catch (err) {
      if (!(err instanceof MregError)) throw err;
      opts.warn(`${name}@${alias} → ${target} not set: ${err.detail}`);
    }
  }
  ctx.out.note(`${name}: ${report.versions.length} version(s), ${report.aliases.length} alias(es)`);
  return report;
}

/**
 * Creates the mreg version for MLflow's `number`, under that same number when mreg's next one
 * is not past it: a number MLflow skipped is created and deleted here (a placeholder, audited
 * as such), since mreg never hands a number out twice.
 */
async function createAligned(ctx: Context, name: string, number: number, mv: MlflowVersion, warn: (w: string) => void): Promise<Version> {
  const lineage = {
    ...(mv.source ? { source: mv.source } : {}),
    ...(mv.run_id ? { run_id: mv.run_id } : {}),
    ...(mv.run_link && /^https?:\/\//.test(mv.run_link) ? { run_url: mv.run_link } : {}),
  };
  const body = { description: mv.description ?? null, tags: { ...tagMap(mv.tags ?? []), [ORIGIN_TAG]: String(number) }, lineage };
  for (;;) {
    const v = await ctx.client.versions.create(name, body);
    if (v.version >= number) {
      if (v.version > number) warn(`${name}: MLflow version ${number} became mreg version ${v.version} (mreg had numbered past it)`);
      return v;
    }
    try {
      await ctx.client.versions.delete(name, v.version);
    } catch (err) {
      if (!(err instanceof MregError) || err.code !== "forbidden") throw err;
      warn(`${name}: MLflow version ${number} became mreg version ${v.version} (keeping MLflow's numbers needs the admin scope)`);
      return v;
    }
  }
}

async function copyFiles(ctx: Context, source: MlflowSource, mlflowName: string, mlflowVersion: string, version: Version, opts: { scratch: string; warn: (w: string) => void }): Promise<{ files: number; bytes: number }> {
  const where = await source.artifactRoot(mlflowName, mlflowVersion);
  if ("uri" in where) {
    opts.warn(`${version.model} version ${version.version}: files at ${where.uri} are not served through mlflow-artifacts; push them with \`mreg push\`, then it is ready`);
    return { files: 0, bytes: 0 };
  }
  const present = new Map(version.files.map((f) => [f.path, f.sha256]));
  let files = 0;
  let total = 0;
  for await (const entry of source.walk(where.origin, where.root)) {
    const local = join(opts.scratch, `f${files}`);
    const { size, sha256 } = await source.download(where.origin, where.root, entry.path, local);
    if (entry.size !== undefined && entry.size !== size) throw new CliError(`${mlflowName} version ${mlflowVersion}: ${entry.path} was listed with ${entry.size} bytes but ${size} arrived`);
    if (present.get(entry.path) !== sha256) {
      await ctx.client.upload(version.model, version.version, entry.path, fileSource(local, size), { sha256 });
      total += size;
    }
    rmSync(local, { force: true });
    files++;
  }
  ctx.out.note(`${version.model} version ${version.version}: ${files} file(s), ${bytes(total)} copied`);
  return { files, bytes: total };
}
