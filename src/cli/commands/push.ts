/**
 * `mreg push <model> <path...>`: create a version, upload every file, finalize, and
 * optionally point an alias at it. Resumable: see ../push-state.ts.
 */
import { readFileSync } from "node:fs";
import { MregError } from "../../client/errors";
import type { Alias, CreateVersion, Lineage, Version } from "../../client/types";
import type { UploadResult } from "../../client/upload";
import { flag, int, numberPairs, pairs, size, str, type Command } from "../command";
import type { Context } from "../context";
import { CliError, EXIT, UsageError } from "../exit";
import { collectFiles, fileSource, sha256File, type LocalFile } from "../files";
import { bytes } from "../output";
import { progress } from "../progress";
import { HashCache, PushStateFile } from "../push-state";

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
  },
  help: [
    "--metric k=v            A metric of the version (repeatable; numbers)",
    "--tag k=v               A tag (repeatable)",
    "--description TEXT      The version's description",
    "--lineage FILE          Lineage JSON (run_id, git_sha, datasets, params, parents …); - reads stdin",
    "--git-sha SHA, --run-id ID, --run-url URL   Lineage fields without a file",
    "--idempotency-key KEY   Sent when creating the version: a retry returns the same version",
    "--alias NAME            Point this alias at the version once it is ready (gates apply)",
    "--reason TEXT           The reason recorded with --alias",
    "--parallel N            Parts in flight (default 4)",
    "--multipart-threshold SIZE  Files above this go multipart (default 16MiB)",
    "--no-resume             Ignore the state of an earlier, interrupted push of these files",
  ],
  examples: [
    "mreg push payment-fraud ./model --metric auc=0.93 --lineage lineage.json",
    "mreg push payment-fraud weights.bin config.json --git-sha $GITHUB_SHA --alias staging",
  ],
  async run(ctx, input) {
    const [model, ...paths] = input.positionals as [string, ...string[]];
    const body = versionBody(input);
    const files = await collectFiles(paths);
    const parallel = int(input, "parallel", { min: 1, max: 64 }) ?? 4;
    const multipartThreshold = size(input, "multipart-threshold");
    const alias = str(input, "alias");

    const hashed = await hashAll(ctx, files);
    const { push: state, resumed } = PushStateFile.open(
      ctx.settings.url,
      model,
      hashed.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
      { idempotencyKey: str(input, "idempotency-key"), fresh: flag(input, "no-resume") },
    );
    const client = ctx.client;
    let pushed: Pushed[] = [];

    let version = await existingVersion(ctx, state);
    if (!version) {
      state.save(); // the Idempotency-Key is on disk before the version can exist
      version = await createVersion(ctx, model, body, state.state.idempotency_key);
      state.state.version = version.version;
      state.save();
      // 200 rather than 201: the key named a version an earlier run (a CI re-run) created.
      ctx.out.note(version.status === "pending" && version.files.length === 0 ? `created ${model} version ${version.version}` : `continuing ${model} version ${version.version}`);
    } else {
      ctx.out.note(`resuming the push of ${model} version ${version.version}`);
    }
    if (version.status === "ready") {
      if (!sameFiles(version, hashed)) {
        throw new CliError(`${model} version ${version.version} (Idempotency-Key ${state.state.idempotency_key}) is ready with other files than these; use another key`, EXIT.conflict);
      }
      ctx.out.note(`${model} version ${version.version} already holds these files (an earlier push finished)`);
    } else {
      pushed = await uploadAll(ctx, state, version, hashed, { parallel, multipartThreshold });
      version = await client.versions.finalize(model, version.version);
      ctx.out.note(`${model} version ${version.version} is ready (${version.digest})`);
    }
    const ready = version;

    let aliased: Alias | undefined;
    if (alias) {
      try {
        aliased = await client.aliases.set(model, alias, { version: ready.version, reason: str(input, "reason") });
        ctx.out.note(`${model}@${aliased.alias} → version ${ready.version}`);
      } catch (err) {
        state.remove();
        if (err instanceof MregError) ctx.out.error(`version ${ready.version} was pushed and is ready, but ${model}@${alias} was not set:`);
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
      alias: aliased ?? null,
    };
    ctx.out.result(summary, () => summary.uri);
  },
};

function versionBody(input: Parameters<Command["run"]>[1]): CreateVersion {
  let lineage: Lineage = {};
  const file = str(input, "lineage");
  if (file !== undefined) {
    try {
      lineage = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8")) as Lineage;
    } catch (err) {
      throw new UsageError(`--lineage ${file}: ${(err as Error).message}`, "push");
    }
    if (typeof lineage !== "object" || lineage === null || Array.isArray(lineage)) throw new UsageError(`--lineage ${file}: not a JSON object`, "push");
  }
  const extra = { git_sha: str(input, "git-sha"), run_id: str(input, "run-id"), run_url: str(input, "run-url") };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (lineage as Record<string, unknown>)[k] = v;
  const body: CreateVersion = { tags: pairs(input, "tag"), metrics: numberPairs(input, "metric"), lineage };
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
      sha256 = await sha256File(f.local, (n) => bar?.update(n));
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
async function createVersion(ctx: Context, model: string, body: CreateVersion, idempotencyKey: string): Promise<Version> {
  try {
    return await ctx.client.versions.create(model, body, { idempotencyKey });
  } catch (err) {
    if (!(err instanceof MregError && err.code === "not_found")) throw err;
    try {
      await ctx.client.models.create({ name: model });
      ctx.out.note(`registered the new model ${model}`);
    } catch (created) {
      // Another push created it in the meantime: fine.
      if (!(created instanceof MregError && created.code === "already_exists")) throw created;
    }
    return await ctx.client.versions.create(model, body, { idempotencyKey });
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
  options: { parallel: number; multipartThreshold: number | undefined },
): Promise<Pushed[]> {
  const model = version.model;
  const present = new Map(version.files.map((f) => [f.path, f]));
  const out: Pushed[] = [];
  for (const f of files) {
    const there = present.get(f.path);
    if (there && there.sha256 === f.sha256 && there.size === f.size) {
      out.push({ path: f.path, size: f.size, sha256: f.sha256, method: "already_there", bytes_sent: 0, bytes_skipped: f.size });
      ctx.out.note(`${f.path}: already uploaded`);
      continue;
    }
    const bar = progress(ctx.out, f.path, f.size);
    // Once every part has landed, `complete` makes the registry re-read and hash the file,
    // which takes a while for a big one: the bar ends there and says so.
    let partsLeft = Infinity;
    let verifying = false;
    const result = await ctx.client.upload(model, version.version, f.path, fileSource(f.local, f.size), {
      sha256: f.sha256,
      parallel: options.parallel,
      ...(options.multipartThreshold !== undefined ? { multipartThreshold: options.multipartThreshold } : {}),
      ...(state.state.uploads[f.path] ? { resumeUploadId: state.state.uploads[f.path] } : {}),
      onUpload: (upload) => {
        state.state.uploads[f.path] = upload.upload_id;
        state.save();
        const have = upload.parts.length;
        partsLeft = upload.part_count - have;
        if (have > 0) ctx.out.note(`${f.path}: resuming upload ${upload.upload_id}, ${have} of ${upload.part_count} parts already on the server`);
      },
      onProgress: ({ sent }) => {
        if (!verifying) bar.update(sent);
      },
      onPart: () => {
        if (--partsLeft > 0) return;
        verifying = true;
        bar.finish(`${f.path}: all parts sent; the registry is verifying its sha256`);
      },
    });
    if (result.file.sha256 !== f.sha256) {
      throw new CliError(`${f.path}: the registry stored sha256 ${result.file.sha256}, but the file has ${f.sha256}`);
    }
    const how = result.method === "deduplicated" ? "deduplicated, no bytes sent" : `${bytes(result.bytesSent)} sent${result.bytesSkipped ? `, ${bytes(result.bytesSkipped)} already there` : ""}`;
    const done = `${f.path}: ${bytes(f.size)} uploaded (${how})`;
    if (verifying) ctx.out.note(done);
    else bar.finish(done);
    delete state.state.uploads[f.path];
    state.save();
    out.push({ path: f.path, size: f.size, sha256: f.sha256, method: result.method, bytes_sent: result.bytesSent, bytes_skipped: result.bytesSkipped });
  }
  return out;
}
