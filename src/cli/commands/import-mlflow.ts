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
 *
 * The server is not trusted beyond bounds (../mlflow-source.ts): what breaks one about a
 * model, a version or a file refuses that one (reported, exit 1 at the end), and the import
 * goes on; a gap in the numbers wider than `--max-version-gap` is refused before a placeholder
 * is made. Files wait in a scratch folder (../scratch.ts), one at a time, removed on every exit.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { paginate } from "../../client/client";
import { MregError } from "../../client/errors";
import type { Version } from "../../client/types";
import { fromMlflowStage, mregNameFor, tagMap } from "../../domain/mlflow";
import { flag, int, strs, str, type Command } from "../command";
import type { Context } from "../context";
import { CliError, UsageError } from "../exit";
import { fileSource } from "../files";
import { MlflowSource, Refusal, type MlflowModel, type MlflowVersion } from "../mlflow-source";
import { filePathProblem } from "../names";
import { bytes } from "../output";
import { Scratch, sweepScratch } from "../scratch";

/** The tag that ties an mreg version to the MLflow version it was imported from. */
const ORIGIN_TAG = "mlflow_version";
/** Scratch folders: `<os temp dir>/mreg-import-<pid>-<random>` (../scratch.ts). */
const SCRATCH_PREFIX = "mreg-import";
/** Defaults of the limits the flags set (docs/mlflow.md, "What the import trusts"). */
const DEFAULT_TIMEOUT_S = 60;
const DEFAULT_MAX_PAGES = 1000;
const DEFAULT_MAX_VERSION_GAP = 1000;
/** A version number mreg can keep: a whole number from 1, exact in a double. */
const VERSION_NUMBER = /^[1-9][0-9]{0,15}$/;

/** Something the MLflow server said that was refused: a model, a version, or one of its files. */
interface Refused {
  model: string;
  version?: string;
  path?: string;
  reason: string;
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
    if (!target)
      throw new UsageError(
        `the MLflow model '${source}' has no usable mreg name: give one with --map '${source}=<name>'`,
        "import mlflow",
      );
    const other = taken.get(target);
    if (other !== undefined)
      throw new UsageError(
        `'${other}' and '${source}' would both become '${target}': give one another name with --map`,
        "import mlflow",
      );
    taken.set(target, source);
    map.set(source, target);
  }
  return map;
}

/** `--allow-host` values as hosts: `files.internal`, `files.internal:8443`; nothing else. */
function allowedHosts(values: string[]): string[] {
  return values.map((value) => {
    let url: URL | undefined;
    try {
      url = new URL(`http://${value}`);
    } catch {
      url = undefined;
    }
    if (!url || url.username || url.password || url.pathname !== "/" || url.search || url.hash || value.includes("/")) {
      throw new UsageError(`--allow-host takes a host, or host:port, not '${value}'`, "import mlflow");
    }
    return value;
  });
}

/** MLflow's versions as mreg can number them, oldest first; the others, refused. */
function numbered(versions: MlflowVersion[]): { valid: MlflowVersion[]; invalid: MlflowVersion[] } {
  const valid: MlflowVersion[] = [];
  const invalid: MlflowVersion[] = [];
  for (const v of versions)
    (VERSION_NUMBER.test(v.version) && Number.isSafeInteger(Number(v.version)) ? valid : invalid).push(v);
  return { valid: valid.sort((a, b) => Number(a.version) - Number(b.version)), invalid };
}

const describeRefused = (r: Refused) =>
  `${r.model}${r.version !== undefined ? ` version ${r.version}` : ""}${r.path !== undefined ? `, ${r.path}` : ""}: ${r.reason}`;

export const importMlflow: Command = {
  name: "import mlflow",
  summary: "Copy an MLflow server's registered models, versions, files, stages, aliases and tags into mreg",
  options: {
    from: { type: "string" },
    model: { type: "string", multiple: true },
    map: { type: "string", multiple: true },
    "no-files": { type: "boolean" },
    "dry-run": { type: "boolean" },
    timeout: { type: "string" },
    "max-pages": { type: "string" },
    "max-version-gap": { type: "string" },
    "allow-host": { type: "string", multiple: true },
  },
  help: [
    "--from URL        The MLflow tracking server (its MLFLOW_TRACKING_URI); credentials from MLFLOW_TRACKING_TOKEN,",
    "                  or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, sent to this origin only",
    "--model NAME      Only this registered model (repeatable; default: all of them)",
    "--map SRC=DST     The mreg name of an MLflow model (default: its name in lower case, other characters as '-')",
    "--no-files        Copy metadata only: versions stay pending until their files are pushed",
    "--dry-run         Say what would be copied, and under which names, without writing",
    `--timeout S       Seconds the server may stay silent, before an answer or within one (default ${DEFAULT_TIMEOUT_S})`,
    `--max-pages N     Pages of one listing read at most; past them the listing is refused (default ${DEFAULT_MAX_PAGES})`,
    `--max-version-gap N  Placeholder versions made at most to keep one MLflow number (default ${DEFAULT_MAX_VERSION_GAP})`,
    "--allow-host HOST Also read artifacts from HOST[:port], sending it the credentials too (repeatable)",
    "What the server breaks a bound on (a file past its listed size, a listing without end, a version",
    "number too far ahead) is refused and reported; the rest is imported, and the exit code is 1.",
  ],
  examples: [
    "MLFLOW_TRACKING_TOKEN=… mreg import mlflow --from https://mlflow.internal",
    "mreg import mlflow --from http://127.0.0.1:5000 --model 'Payment Fraud' --map 'Payment Fraud=payment-fraud'",
    "mreg import mlflow --from https://mlflow.internal --allow-host artifacts.internal:8443 --timeout 300",
  ],
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
    const timeoutS = int(input, "timeout", { min: 1, max: 86_400 }) ?? DEFAULT_TIMEOUT_S;
    const maxPages = int(input, "max-pages", { min: 1, max: 1_000_000 }) ?? DEFAULT_MAX_PAGES;
    const maxVersionGap = int(input, "max-version-gap", { min: 0 }) ?? DEFAULT_MAX_VERSION_GAP;
    const source = new MlflowSource(base, {
      timeoutMs: timeoutS * 1000,
      maxPages,
      allowHosts: allowedHosts(strs(input, "allow-host")),
    });
    const dryRun = flag(input, "dry-run");
    const copyFiles = !flag(input, "no-files") && !dryRun;

    // First, what killed runs left; then this run's folder, which every exit it sees removes.
    let scratch: Scratch | undefined;
    if (copyFiles)
      scratch = Scratch.open(SCRATCH_PREFIX, (signal) =>
        ctx.out.error(
          `mreg import mlflow: interrupted (${signal}); its scratch files are removed. What was imported stays: run the same command again to go on`,
        ),
      );
    else sweepScratch(SCRATCH_PREFIX);
    const warnings: string[] = [];
    const refused: Refused[] = [];
    const reports: ModelReport[] = [];
    const refuse = (r: Refused) => {
      refused.push(r);
      ctx.out.error(`refused: ${describeRefused(r)}`);
    };
    try {
      const models: MlflowModel[] = [];
      try {
        for await (const m of source.models(strs(input, "model"))) models.push(m);
      } catch (err) {
        if (err instanceof Refusal) throw new CliError(`MLflow server: ${err.message}; nothing was imported`);
        throw err;
      }
      const names = nameMapping(
        models.map((m) => m.name),
        overrides,
      );
      for (const m of models) {
        const name = names.get(m.name)!;
        let listed: MlflowVersion[];
        try {
          listed = await source.versions(m.name);
        } catch (err) {
          if (!(err instanceof Refusal)) throw err;
          refuse({ model: m.name, reason: err.message });
          continue;
        }
        const { valid: versions, invalid } = numbered(listed);
        for (const v of invalid)
          refuse({
            model: m.name,
            version: v.version,
            reason: `'${v.version.slice(0, 64)}' is not a version number (a whole number from 1)`,
          });
        if (dryRun) {
          reports.push({
            mlflow_name: m.name,
            name,
            created: false,
            versions: versions.map((v) => ({
              mlflow_version: Number(v.version),
              version: null,
              status: v.status ?? "",
              files: 0,
              bytes: 0,
              stage: v.current_stage ?? null,
            })),
            aliases: [],
          });
          continue;
        }
        ctx.out.note(`${m.name} → ${name}: ${versions.length} version(s)`);
        reports.push(
          await importModel(ctx, source, m, name, versions, {
            scratch: scratch?.dir,
            maxVersionGap,
            warn: (w) => (warnings.push(w), ctx.out.error(`warning: ${w}`)),
            refuse,
          }),
        );
      }
    } finally {
      scratch?.close();
    }
    const summary = { from: base, dry_run: dryRun, models: reports, warnings, refused };
    ctx.out.result(summary, () =>
      [
        ...reports.map(
          (r) =>
            `${r.mlflow_name} → ${r.name}: ${r.versions.length} version(s)${r.aliases.length ? `, aliases ${r.aliases.map((a) => `${a.alias}→${a.version}`).join(", ")}` : ""}`,
        ),
        warnings.length ? `${warnings.length} warning(s) (see above)` : "",
        refused.length ? `${refused.length} refused (see above)` : "",
      ]
        .filter(Boolean)
        .join("\n"),
    );
    if (refused.length) {
      throw new CliError(
        `${refused.length} refused (listed above): the MLflow server broke a bound or sent what mreg cannot take; everything else was ${dryRun ? "listed" : "imported"}`,
      );
    }
  },
};

interface ImportOptions {
  /** Where files wait between download and upload; none with --no-files. */
  scratch: string | undefined;
  maxVersionGap: number;
  warn: (w: string) => void;
  refuse: (r: Refused) => void;
}

async function importModel(
  ctx: Context,
  source: MlflowSource,
  m: MlflowModel,
  name: string,
  versions: MlflowVersion[],
  opts: ImportOptions,
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
  // What an earlier run imported: mreg versions by the MLflow version they came from; and
  // the newest number mreg holds, from which a gap's placeholders are counted.
  const done = new Map<number, Version>();
  let newest = 0;
  for await (const v of paginate((cursor) => client.versions.list(name, { limit: 200, cursor }))) {
    newest = Math.max(newest, v.version);
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
    let version = done.get(number);
    if (!version) {
      // At most this many placeholders (fewer when mreg's counter is past its newest version).
      const placeholders = number - newest - 1;
      if (placeholders > opts.maxVersionGap) {
        opts.refuse({
          model: m.name,
          version: mv.version,
          reason: `keeping its number would take ${placeholders} placeholder versions in mreg (its newest is ${newest}), more than --max-version-gap (${opts.maxVersionGap})`,
        });
        continue;
      }
      version = await createAligned(ctx, name, number, mv, opts);
    }
    newest = Math.max(newest, version.version);
    mapped.set(number, version.version);
    const entry: VersionReport = {
      mlflow_version: number,
      version: version.version,
      status: version.status,
      files: 0,
      bytes: 0,
      stage: null,
    };
    if (version.status === "pending" && opts.scratch !== undefined && mv.status !== "PENDING_REGISTRATION") {
      try {
        const copied = await copyFiles(ctx, source, m.name, mv.version, version, {
          scratch: opts.scratch,
          warn: opts.warn,
        });
        entry.files = copied.files;
        entry.bytes = copied.bytes;
        if (copied.files > 0 || version.files.length > 0)
          version = await client.versions.finalize(name, version.version);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        // The version stays pending: never finalized with a part of its files.
        opts.refuse({
          model: m.name,
          version: mv.version,
          ...(err.path !== undefined ? { path: err.path } : {}),
          reason: err.message,
        });
      }
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
 * as such), since mreg never hands a number out twice. The caller has bounded the gap by
 * `--max-version-gap`; the loop holds to that bound whatever the registry answers.
 */
async function createAligned(
  ctx: Context,
  name: string,
  number: number,
  mv: MlflowVersion,
  opts: { maxVersionGap: number; warn: (w: string) => void },
): Promise<Version> {
  const lineage = {
    ...(mv.source ? { source: mv.source } : {}),
    ...(mv.run_id ? { run_id: mv.run_id } : {}),
    ...(mv.run_link && /^https?:\/\//.test(mv.run_link) ? { run_url: mv.run_link } : {}),
  };
  const body = {
    description: mv.description ?? null,
    tags: { ...tagMap(mv.tags ?? []), [ORIGIN_TAG]: String(number) },
    lineage,
  };
  for (let placeholders = 0; ; placeholders++) {
    const v = await ctx.client.versions.create(name, body);
    if (v.version >= number) {
      if (v.version > number)
        opts.warn(`${name}: MLflow version ${number} became mreg version ${v.version} (mreg had numbered past it)`);
      return v;
    }
    if (placeholders >= opts.maxVersionGap) {
      opts.warn(
        `${name}: MLflow version ${number} became mreg version ${v.version} (keeping its number took more than --max-version-gap placeholders)`,
      );
      return v;
    }
    try {
      await ctx.client.versions.delete(name, v.version);
    } catch (err) {
      if (!(err instanceof MregError) || err.code !== "forbidden") throw err;
      opts.warn(
        `${name}: MLflow version ${number} became mreg version ${v.version} (keeping MLflow's numbers needs the admin scope)`,
      );
      return v;
    }
  }
}

/**
 * Copies a version's files: listed in full first (a refused listing downloads nothing), then
 * each downloaded to the scratch folder, held to its listed size, uploaded, and removed.
 */
async function copyFiles(
  ctx: Context,
  source: MlflowSource,
  mlflowName: string,
  mlflowVersion: string,
  version: Version,
  opts: { scratch: string; warn: (w: string) => void },
): Promise<{ files: number; bytes: number }> {
  const where = await source.artifactRoot(mlflowName, mlflowVersion);
  if ("uri" in where) {
    opts.warn(
      `${version.model} version ${version.version}: files at ${where.uri} are not served through mlflow-artifacts; push them with \`mreg push\`, then it is ready`,
    );
    return { files: 0, bytes: 0 };
  }
  if (!source.mayRead(where.origin)) {
    const host = new URL(where.origin).host;
    opts.warn(
      `${version.model} version ${version.version}: its files are on ${host}, not on --from's host, and the MLflow credentials are not sent there: not copied. ` +
        `To copy them (sending ${host} the credentials too), add --allow-host ${host}`,
    );
    return { files: 0, bytes: 0 };
  }
  const entries = await source.listArtifacts(where.origin, where.root);
  for (const entry of entries) {
    const problem = filePathProblem(entry.path);
    if (problem) throw new Refusal(`not a file path mreg takes: it ${problem}`, entry.path);
  }
  const present = new Map(version.files.map((f) => [f.path, f.sha256]));
  let files = 0;
  let total = 0;
  for (const entry of entries) {
    const local = join(opts.scratch, `f${files}`);
    try {
      const { size, sha256 } = await source.download(where.origin, where.root, entry, local);
      if (present.get(entry.path) !== sha256) {
        await ctx.client.upload(version.model, version.version, entry.path, fileSource(local, size), { sha256 });
        total += size;
      }
    } finally {
      rmSync(local, { force: true });
    }
    files++;
  }
  ctx.out.note(`${version.model} version ${version.version}: ${files} file(s), ${bytes(total)} copied`);
  return { files, bytes: total };
}
