/**
 * `mreg push <model> <path...>`: create a version, upload every file, finalize, optionally
 * sign it (./sign.ts) and point an alias at it. Resumable: see ../push-state.ts.
 */
import { readFileSync } from "node:fs";
import { MregError } from "../../client/errors";
import { canonicalJson } from "../../domain/canonical-json";
import type { Alias, CreateVersion, Lineage, PatchVersion, Signature, Version } from "../../client/types";
import type { SigningKey } from "../../signatures/verify";
import type { UploadResult } from "../../client/upload";
import { flag, int, numberPairs, size, str, strs, tagPairs, type Command } from "../command";
import type { Context } from "../context";
import { CliError, EXIT, UsageError } from "../exit";
import { collectFiles, fileSource, sha256File, type LocalFile, type Skipped } from "../files";
import { aliasProblem, filePathProblem, modelNameProblem } from "../names";
import { bytes } from "../output";
import { progress, type Progress } from "../progress";
import { HashCache, PushStateFile } from "../push-state";
import { signingKeyFrom, signVersion } from "./sign";

interface Pushed {
  path: string;
  size: number;
  sha256: string;
  method: UploadResult["method"] | "already_there";
  bytes_sent: number;
  bytes_skipped: number;
}

export const push: Command = {
  name: "push",
  args: "<model> <path...>",
  summary: "Create a version from files or folders, upload them (resumable), finalize",
  options: {
    metric: { type: "string", multiple: true },
    tag: { type: "string", multiple: true },
    "model-tag": { type: "string", multiple: true },
    description: { type: "string" },
    lineage: { type: "string" },
    "git-sha": { type: "string" },
    "run-id": { type: "string" },
    "run-url": { type: "string" },
    "idempotency-key": { type: "string" },
    alias: { type: "string" },
    reason: { type: "string" },
    parallel: { type: "string" },
    "multipart-threshold": { type: "string" },
    "no-resume": { type: "boolean" },
    include: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    "sign-key": { type: "string" },
  },
  help: [
    "--metric k=v            A metric of the version (repeatable; numbers)",
    "--tag k=v               A tag of the version, k=v or k:v (repeatable)",
    "--model-tag k=v         A tag of the model, set (merged) before the upload (repeatable)",
    "--description TEXT      The version's description",
    "--lineage FILE          Lineage JSON (run_id, git_sha, datasets, params, parents …); - reads stdin",
    "--git-sha SHA, --run-id ID, --run-url URL   Lineage fields without a file",
    "--idempotency-key KEY   Sent when creating the version: a retry returns the same version",
    "--alias NAME            Point this alias at the version once it is ready (gates apply)",
    "--reason TEXT           The reason recorded with --alias",
    "--parallel N            Parts in flight (default 4)",
    "--multipart-threshold SIZE  Files above this go multipart (default 16MiB)",
    "--no-resume             Ignore the state of an earlier, interrupted push of these files",
    "--exclude PATTERN       Leave out files of a folder matching this gitignore pattern (repeatable)",
    "--include PATTERN       Push only the files of a folder matching one of these patterns (repeatable)",
    "--sign-key PEM          Sign the version once it is ready (as `mreg sign`), before --alias is set",
    "Folders are read without VCS folders (.git/ …), secrets (.env, *.pem, *.key, id_rsa …) and",
    "what their .mregignore (gitignore syntax) lists; what was left out is printed.",
    "Links in a folder are followed only to files and folders inside it (not to a left-out path);",
    "links out of it, dangling or looping are skipped and printed.",
    "A resumed push applies this command's --metric, --tag, --description and lineage to the version.",
    "Ctrl-C stops after saving the state: the same command again resumes from the parts the registry holds.",
  ],
  examples: [
    "mreg push payment-fraud ./model --metric auc=0.93 --lineage lineage.json",
    "mreg push payment-fraud weights.bin config.json --git-sha $GITHUB_SHA --alias staging",
    "mreg push payment-fraud ./model --exclude 'checkpoints/**' --include '*.safetensors' --include '*.json'",
  ],
  async run(ctx, input) {
    const [model, ...paths] = input.positionals as [string, ...string[]];
    // Everything that can be refused without the server is refused before hashing a byte.
    const alias = str(input, "alias");
    const nameProblem = modelNameProblem(model) ?? (alias !== undefined ? aliasProblem(alias) : null);
    if (nameProblem) throw new UsageError(nameProblem, "push");
    const body = versionBody(input);
    const modelTags = tagPairs(input, "model-tag");
    const parallel = int(input, "parallel", { min: 1, max: 64 }) ?? 4;
    const multipartThreshold = size(input, "multipart-threshold");
    const signKeyFile = str(input, "sign-key");
    const signKey = signKeyFile === undefined ? undefined : await signingKeyFrom(signKeyFile, "--sign-key", "push");
    const { files, skipped } = await collectFiles(paths, {
      include: strs(input, "include"),
      exclude: strs(input, "exclude"),
    });
    for (const f of files) {
      const problem = filePathProblem(f.path);
      if (problem)
        throw new UsageError(`'${f.path}' (${f.local}) cannot be a file path in a version: it ${problem}`, "push");
    }
    if (skipped.length) {
      const shown = skipped.slice(0, 20).map((s) => `  ${s.path}  (${s.rule})`);
      ctx.out.note(
        `skipped ${skipped.length} path${skipped.length === 1 ? "" : "s"}:\n${shown.join("\n")}${skipped.length > 20 ? `\n  … and ${skipped.length - 20} more (--json lists them all)` : ""}`,
      );
    }

    // Ctrl-C: while hashing, nothing has been sent; once the state file is written, the
    // uploads stop, the state stays, and the message says how to go on.
    const interrupt = new AbortController();
    let stateSaved = false;
    const onSigint = () => {
      interrupt.abort();
      if (!stateSaved) {
        ctx.out.error("mreg push: interrupted while reading the files; nothing was sent");
        process.exit(EXIT.interrupted);
      }
    };
    process.once("SIGINT", onSigint);
    const ack: Acknowledged = { file: undefined, parts: 0, partCount: 0, bytes: 0, size: 0 };
    try {
      await pushFiles(
        ctx,
        {
          model,
          body,
          modelTags,
          files,
          skipped,
          parallel,
          multipartThreshold,
          alias,
          reason: str(input, "reason"),
          idempotencyKey: str(input, "idempotency-key"),
          fresh: flag(input, "no-resume"),
          signKey,
        },
        {
          signal: interrupt.signal,
          saved: () => (stateSaved = true),
          ack,
        },
      );
    } catch (err) {
      if (!interrupt.signal.aborted) throw err;
      const where = ack.file
        ? `${ack.file}: ${ack.parts} of ${ack.partCount} parts are on the registry (${bytes(ack.bytes)} of ${bytes(ack.size)}); `
        : "";
      throw new CliError(
        `push interrupted. ${where}the state is kept.\nto resume, run the same command again: ${commandLine()}`,
        EXIT.interrupted,
      );
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
  },
};

/** What the registry has acknowledged of the file being sent: for the message after Ctrl-C. */
interface Acknowledged {
  file: string | undefined;
  parts: number;
  partCount: number;
  bytes: number;
  size: number;
}

/** This command as typed, quoted for a POSIX shell where needed. */
function commandLine(): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return ["mreg", ...process.argv.slice(2)].map(quote).join(" ");
}

interface PushPlan {
  model: string;
  body: CreateVersion;
  /** Tags of the model (not the version): what `models ls --tag` and the UI's model search find. */
  modelTags: Record<string, string>;
  files: LocalFile[];
  skipped: Skipped[];
  parallel: number;
  multipartThreshold: number | undefined;
  alias: string | undefined;
  reason: string | undefined;
  idempotencyKey: string | undefined;
  fresh: boolean;
  /** --sign-key, read before anything was sent. */
  signKey: SigningKey | undefined;
}

async function pushFiles(
  ctx: Context,
  plan: PushPlan,
  run: { signal: AbortSignal; saved: () => void; ack: Acknowledged },
): Promise<void> {
  const { model, body, alias } = plan;
  const hashed = await hashAll(ctx, plan.files);
  const { push: state, resumed } = PushStateFile.open(
    ctx.settings.url,
    model,
    hashed.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    { idempotencyKey: plan.idempotencyKey, fresh: plan.fresh },
  );
  const client = ctx.client;
  let pushed: Pushed[] = [];

  let version = await existingVersion(ctx, state);
  let created = false;
  if (!version) {
    state.save(); // the Idempotency-Key is on disk before the version can exist
    run.saved();
    try {
      version = await createVersion(ctx, model, body, state.state.idempotency_key, run.signal);
    } catch (err) {
      // Refused (a bad value, no permission): nothing was created, so nothing is left to resume.
      if (err instanceof MregError && err.status >= 400 && err.status < 500 && err.code !== "aborted") state.remove();
      throw err;
    }
    state.state.version = version.version;
    state.save();
    created = version.status === "pending" && version.files.length === 0;
    // 200 rather than 201: the key named a version an earlier run (a CI re-run) created.
    ctx.out.note(
      created ? `created ${model} version ${version.version}` : `continuing ${model} version ${version.version}`,
    );
  } else {
    run.saved();
    ctx.out.note(`resuming the push of ${model} version ${version.version}`);
  }
  if (!created) version = await applyNewValues(ctx, version, body);
  if (Object.keys(plan.modelTags).length) {
    await client.models.update(model, { tags: plan.modelTags }, run.signal);
    ctx.out.note(
      `model ${model} tagged ${Object.entries(plan.modelTags)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ")}`,
    );
  }
  if (version.status === "ready") {
    if (!sameFiles(version, hashed)) {
      throw new CliError(
        `${model} version ${version.version} (Idempotency-Key ${state.state.idempotency_key}) is ready with other files than these; use another key`,
        EXIT.conflict,
      );
    }
    ctx.out.note(`${model} version ${version.version} already holds these files (an earlier push finished)`);
  } else {
    pushed = await uploadAll(ctx, state, version, hashed, {
      parallel: plan.parallel,
      multipartThreshold: plan.multipartThreshold,
      signal: run.signal,
      ack: run.ack,
    });
    version = await client.versions.finalize(model, version.version, run.signal);
    ctx.out.note(`${model} version ${version.version} is ready (${version.digest})`);
  }
  const ready = version;

  // Signed before the alias moves: a gate may require the signature.
  let signature: Signature | null = null;
  if (plan.signKey) {
    try {
      signature = await signVersion(ctx, model, ready.version, plan.signKey);
    } catch (err) {
      state.remove();
      ctx.out.error(
        `version ${ready.version} was pushed and is ready, but not signed (mreg sign ${model}/${ready.version} --key … signs it):`,
      );
      throw err;
    }
  }

  let aliased: Alias | undefined;
  if (alias) {
    try {
      aliased = await client.aliases.set(model, alias, { version: ready.version, reason: plan.reason });
      ctx.out.note(`${model}@${aliased.alias} → version ${ready.version}`);
    } catch (err) {
      state.remove();
      if (err instanceof MregError)
        ctx.out.error(`version ${ready.version} was pushed and is ready, but ${model}@${alias} was not set:`);
      throw err;
    }
  }
  state.remove();

  const summary = {
    model,
    version: ready.version,
    uri: `registry://${model}/${ready.version}`,
    status: ready.status,
    digest: ready.digest,
    resumed,
    bytes_sent: pushed.reduce((s, f) => s + f.bytes_sent, 0),
    bytes_skipped: pushed.reduce((s, f) => s + f.bytes_skipped, 0),
    files: pushed,
    skipped: plan.skipped,
    alias: aliased ?? null,
    ...(plan.signKey ? { signature } : {}),
  };
  ctx.out.result(summary, () => summary.uri);
}

/**
 * A resumed push (or a retried one with the same Idempotency-Key) carries this command line's
 * values, not the first run's: the version's metrics and tags become exactly those given
 * (others removed), the description and lineage fields given replace theirs. Lineage is
 * fixed once a version is ready, so a change to it then is refused (exit 2), never dropped.
 * The PATCH comes before `--alias`, so a gate weighs the values applied.
 */
async function applyNewValues(ctx: Context, version: Version, body: CreateVersion): Promise<Version> {
  const patch: PatchVersion = {};
  const changed: string[] = [];
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  const mapDiff = <T>(name: "metrics" | "tags", have: Record<string, T>, want: Record<string, T>) => {
    const out: Record<string, T | null> = {};
    for (const [k, v] of Object.entries(want)) {
      if (have[k] === v) continue;
      out[k] = v;
      changed.push(k in have ? `${name}.${k} ${show(have[k])} → ${show(v)}` : `${name}.${k} = ${show(v)}`);
    }
    for (const k of Object.keys(have)) {
      if (k in want) continue;
      out[k] = null;
      changed.push(`${name}.${k} removed`);
    }
    return Object.keys(out).length ? out : undefined;
  };
  const metrics = mapDiff("metrics", version.metrics, body.metrics ?? {});
  if (metrics) patch.metrics = metrics;
  const tags = mapDiff("tags", version.tags, body.tags ?? {});
  if (tags) patch.tags = tags;
  if (body.description !== undefined && body.description !== version.description) {
    patch.description = body.description;
    changed.push("description");
  }
  const lineage: Record<string, unknown> = {};
  const have = version.lineage as Record<string, unknown>;
  const want = (body.lineage ?? {}) as Record<string, unknown>;
  for (const k of new Set([...Object.keys(have), ...Object.keys(want)])) {
    // Compared as canonical JSON: the registry may store an object's keys in another order.
    if (canonicalJson(have[k] ?? null) === canonicalJson(want[k] ?? null)) continue;
    lineage[k] = k in want ? want[k] : null;
  }
  if (Object.keys(lineage).length) {
    if (version.status !== "pending") {
      throw new UsageError(
        `${version.model} version ${version.version} is ${version.status}: its lineage (${Object.keys(lineage).join(", ")}) cannot change any more. ` +
          "Push again with --no-resume (or another --idempotency-key) to make a new version with this lineage",
        "push",
      );
    }
    patch.lineage = lineage;
    changed.push(...Object.keys(lineage).map((k) => `lineage.${k}`));
  }
  if (changed.length === 0) return version;
  const updated = await ctx.client.versions.update(version.model, version.version, patch);
  ctx.out.note(`applied the new values to version ${version.version}: ${changed.join(", ")}`);
  return updated;
}

function versionBody(input: Parameters<Command["run"]>[1]): CreateVersion {
  let lineage: Lineage = {};
  const file = str(input, "lineage");
  if (file !== undefined) {
    try {
      lineage = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8")) as Lineage;
    } catch (err) {
      throw new UsageError(`--lineage ${file}: ${(err as Error).message}`, "push");
    }
    if (typeof lineage !== "object" || lineage === null || Array.isArray(lineage))
      throw new UsageError(`--lineage ${file}: not a JSON object`, "push");
  }
  const extra = { git_sha: str(input, "git-sha"), run_id: str(input, "run-id"), run_url: str(input, "run-url") };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (lineage as Record<string, unknown>)[k] = v;
  const body: CreateVersion = { tags: tagPairs(input, "tag"), metrics: numberPairs(input, "metric"), lineage };
  const description = str(input, "description");
  if (description !== undefined) body.description = description;
  return body;
}

/** sha256 of every file: from the cache when the file is unchanged, else read once. */
async function hashAll(ctx: Context, files: LocalFile[]): Promise<(LocalFile & { sha256: string })[]> {
  const cache = new HashCache();
  const out: (LocalFile & { sha256: string })[] = [];
  for (const f of files) {
    let sha256 = cache.get(f);
    if (!sha256) {
      const bar = f.size >= 64 * 1024 * 1024 ? progress(ctx.out, `hashing ${f.path}`, f.size) : undefined;
      sha256 = await sha256File(f.local, (n) => bar?.update(n), undefined, f.stats);
      bar?.finish();
      cache.set(f, sha256);
    }
    out.push({ ...f, sha256 });
  }
  return out;
}

/**
 * Creates the version; a model that does not exist yet is registered first, as
 * `huggingface-cli upload` creates its repository (a token limited to other models gets 403).
 */
async function createVersion(
  ctx: Context,
  model: string,
  body: CreateVersion,
  idempotencyKey: string,
  signal: AbortSignal,
): Promise<Version> {
  try {
    return await ctx.client.versions.create(model, body, { idempotencyKey, signal });
  } catch (err) {
    if (!(err instanceof MregError && err.code === "not_found")) throw err;
    try {
      await ctx.client.models.create({ name: model });
      ctx.out.note(`registered the new model ${model}`);
    } catch (created) {
      // Another push created it in the meantime: fine.
      if (!(created instanceof MregError && created.code === "already_exists")) throw created;
    }
    return await ctx.client.versions.create(model, body, { idempotencyKey, signal });
  }
}

/** Whether a ready version holds exactly these files (paths, sizes, sha256). */
function sameFiles(version: Version, files: { path: string; size: number; sha256: string }[]): boolean {
  const key = (f: { path: string; size: number; sha256: string }) => `${f.path}\t${f.size}\t${f.sha256}`;
  const theirs = version.files.map(key).sort();
  const ours = files.map(key).sort();
  return theirs.length === ours.length && theirs.every((k, i) => k === ours[i]);
}

/** The version an earlier run created, when it can still be used; else undefined (and a fresh state). */
async function existingVersion(ctx: Context, state: PushStateFile): Promise<Version | undefined> {
  if (state.state.version === null) return undefined;
  try {
    const v = await ctx.client.versions.get(state.state.model, state.state.version);
    if (v.status !== "failed") return v;
  } catch (err) {
    if (!(err instanceof MregError && err.code === "not_found")) throw err;
  }
  ctx.out.note(`version ${state.state.version} of the interrupted push is gone; starting afresh`);
  state.state.version = null;
  state.state.uploads = {};
  return undefined;
}

async function uploadAll(
  ctx: Context,
  state: PushStateFile,
  version: Version,
  files: (LocalFile & { sha256: string })[],
  options: { parallel: number; multipartThreshold: number | undefined; signal: AbortSignal; ack: Acknowledged },
): Promise<Pushed[]> {
  const model = version.model;
  const present = new Map(version.files.map((f) => [f.path, f]));
  const out: Pushed[] = [];
  const ack = options.ack;
  for (const f of files) {
    const there = present.get(f.path);
    if (there && there.sha256 === f.sha256 && there.size === f.size) {
      out.push({
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        method: "already_there",
        bytes_sent: 0,
        bytes_skipped: f.size,
      });
      ctx.out.note(`${f.path}: already uploaded`);
      continue;
    }
    // A multipart upload's bar moves only with parts the registry acknowledged, so the figure
    // shown is what a resume starts from; a single PUT (small files) shows bytes sent.
    let bar: Progress | undefined;
    const shown = (start: number) => (bar ??= progress(ctx.out, f.path, f.size, start));
    let multipart = false;
    // Once every part has landed, `complete` makes the registry re-read and hash the file,
    // which takes a while for a big one: the bar ends there and says so.
    let partsLeft = Infinity;
    let verifying = false;
    Object.assign(ack, { file: undefined, parts: 0, partCount: 0, bytes: 0, size: f.size });
    const result = await ctx.client.upload(model, version.version, f.path, fileSource(f.local, f.size, f.stats), {
      sha256: f.sha256,
      parallel: options.parallel,
      signal: options.signal,
      ...(options.multipartThreshold !== undefined ? { multipartThreshold: options.multipartThreshold } : {}),
      ...(state.state.uploads[f.path] ? { resumeUploadId: state.state.uploads[f.path] } : {}),
      onUpload: (upload) => {
        multipart = true;
        state.state.uploads[f.path] = upload.upload_id;
        state.save();
        const have = upload.parts.length;
        partsLeft = upload.part_count - have;
        Object.assign(ack, {
          file: f.path,
          parts: have,
          partCount: upload.part_count,
          bytes: upload.parts.reduce((sum, p) => sum + p.size, 0),
        });
        if (have > 0)
          ctx.out.note(
            `${f.path}: resuming upload ${upload.upload_id}, ${have} of ${upload.part_count} parts already on the server`,
          );
        shown(ack.bytes);
      },
      onProgress: ({ sent }) => {
        if (!multipart && !verifying) shown(0).update(sent);
      },
      onPart: (part) => {
        ack.parts++;
        ack.bytes += part.size;
        if (!verifying) shown(0).update(ack.bytes);
        if (--partsLeft > 0) return;
        verifying = true;
        // Said in the order it happens: the bytes are up, then the registry checks them.
        shown(0).finish(`${f.path}: ${bytes(f.size)} uploaded; the registry is verifying its sha256`);
      },
    });
    if (result.file.sha256 !== f.sha256) {
      throw new CliError(`${f.path}: the registry stored sha256 ${result.file.sha256}, but the file has ${f.sha256}`);
    }
    const how =
      result.method === "deduplicated"
        ? "deduplicated, no bytes sent"
        : `${bytes(result.bytesSent)} sent${result.bytesSkipped ? `, ${bytes(result.bytesSkipped)} already there` : ""}`;
    if (verifying) ctx.out.note(`${f.path}: sha256 verified by the registry (${how})`);
    else shown(0).finish(`${f.path}: ${bytes(f.size)} uploaded (${how})`);
    delete state.state.uploads[f.path];
    state.save();
    out.push({
      path: f.path,
      size: f.size,
      sha256: f.sha256,
      method: result.method,
      bytes_sent: result.bytesSent,
      bytes_skipped: result.bytesSkipped,
    });
  }
  return out;
}
