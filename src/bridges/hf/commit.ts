/**
 * Preupload and the NDJSON commit (docs/reference.md "Hugging Face Hub (write)"), as `huggingface_hub`
 * (`_commit_api.py` `_fetch_upload_modes`, `_prepare_commit_payload`, `_send_commit`) and
 * `@huggingface/hub` (`lib/commit.ts`) send them.
 *
 * One commit makes one ready version (src/artifacts/derived-versions.ts): the files of the
 * revision's current version (`main`: the newest ready version, where every push lands),
 * changed by the lines, with that version as its lineage parent and the commit message as its
 * description. A commit to `main` moves no alias, so a push never deploys; a commit to an
 * alias then moves it through its gates as `PUT /v1/.../aliases/{alias}` does (scope
 * `promote` and the alias grant, checked before anything is written), and a gate's refusal
 * leaves the version ready and unpromoted (409 `GateFailed`, naming the failed checks).
 */
import { setAlias } from "../../aliases/service";
import { deriveVersion, storeSentFile, type VersionEdit } from "../../artifacts/derived-versions";
import { queryDb } from "../../db/session";
import {
  CommitHeader,
  CommitLine,
  CommitPath,
  commitMessage,
  commitOp,
  decodeBase64,
  ObjectSize,
  writeTarget,
  type WriteTarget,
} from "../../domain/hub-write";
import { ProblemError } from "../../domain/problem";
import { commitOf } from "../../domain/reference";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { ndjsonLines } from "../../http/ndjson";
import { parseWith, readJsonBody } from "../../http/validation";
import type { Principal } from "../../auth/principal";
import { authenticated, granted } from "../caller";
import { parseModelCard } from "../../domain/model-card";
import { entryNotFound, HUB_WORDING, HubError } from "./errors";
import { startAt, writer } from "./revision";
import { z } from "zod";

/** A commit holds at most this many operations (`create_commit` documents 25k LFS files). */
export const MAX_COMMIT_OPERATIONS = 25_000;
/** A line of a commit at most this long: a file sent inline (base64) fits 6 MiB; bigger files go through LFS. */
export const MAX_COMMIT_LINE_BYTES = 8 * 1024 * 1024;
/** Files one preupload may ask about (Python sends 256 at a time, JS 100). */
const MAX_PREUPLOAD_FILES = 1000;

/** The target a write's revision names, checked for the grants it needs before anything is sent. */
function targetOf(c: AppContext, principal: Principal, model: string, revision: string): WriteTarget {
  if (new URL(c.req.url).searchParams.get("create_pr"))
    throw new HubError(
      400,
      "This registry has no pull requests: commit to main (a new version, never a deployment) or to an alias",
    );
  const target = writeTarget(revision);
  if ("refused" in target) throw new HubError(400, target.refused);
  if (target.kind === "alias") granted(principal, HUB_WORDING, { scope: "promote", model, aliases: [target.alias] });
  return target;
}

const startRevision = (target: WriteTarget) => (target.kind === "main" ? "main" : target.alias);

const PreuploadBody = z.object({
  files: z
    .array(z.object({ path: CommitPath, size: ObjectSize, sample: z.string().max(2048).optional() }))
    .max(MAX_PREUPLOAD_FILES),
});

/** Preupload: every file goes through LFS (mreg keeps bytes by sha256), none is ignored. */
export async function preupload(c: AppContext, model: string, revision: string): Promise<Response> {
  const principal = await writer(c, model);
  const target = targetOf(c, principal, model, revision);
  // A model (or an alias) that does not exist is the clients' RepoNotFound (RevisionNotFound) now, before any upload.
  await startAt(c, model, startRevision(target));
  const { files } = parseWith(PreuploadBody, await readJsonBody(c.req.raw), "preupload request");
  return Response.json({ files: files.map((f) => ({ path: f.path, uploadMode: "lfs", shouldIgnore: false })) });
}

function isNdjson(c: AppContext): boolean {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  return type === "application/x-ndjson" || type === "application/ndjson" || type === "application/jsonl";
}

/** The commit: the lines read one at a time, small inline files stored as they come, then one version. */
export async function commit(c: AppContext, model: string, revision: string): Promise<Response> {
  const principal = await writer(c, model);
  const target = targetOf(c, principal, model, revision);
  const start = await startAt(c, model, startRevision(target));
  if (!isNdjson(c))
    throw new HubError(415, "A commit is application/x-ndjson: a header line, then one line per operation");
  const w = { env: c.env, db: queryDb(c), principal, model };
  let header: z.output<typeof CommitHeader> | null = null;
  const edits: VersionEdit[] = [];
  for await (const { line, value } of ndjsonLines(c.req.raw.body, {
    maxLineBytes: MAX_COMMIT_LINE_BYTES,
    maxLines: MAX_COMMIT_OPERATIONS + 1,
  })) {
    const parsed = parseWith(CommitLine, value, `commit line ${line}`);
    if (parsed.key === "header") {
      if (header) throw new HubError(400, `Line ${line} is a second header`);
      header = parsed.value;
      continue;
    }
    if (!header) throw new HubError(400, "A commit starts with its header line");
    const op = commitOp(parsed);
    switch (op.kind) {
      case "inline": {
        const bytes = op.encoding === "base64" ? decodeBase64(op.content) : new TextEncoder().encode(op.content);
        if (!bytes) throw new HubError(400, `Line ${line}: the content of '${op.path}' is not base64`);
        edits.push({ kind: "put", file: await storeSentFile(w, op.path, bytes) });
        break;
      }
      case "copy": {
        if (op.fromRevision === null) {
          edits.push({ kind: "copy", from: op.from, to: op.to });
          break;
        }
        // From another revision of this model: its bytes, which the caller sees.
        const source = await startAt(c, model, op.fromRevision);
        const file = source?.files.find((f) => f.path === op.from);
        if (!source || !file) throw entryNotFound(op.from, source ? commitOf(source.digest!) : null);
        edits.push({ kind: "putBlob", path: op.to, sha256: file.sha256, size: file.size });
        break;
      }
      default:
        edits.push(op);
    }
  }
  if (!header) throw new HubError(400, "A commit starts with its header line");
  const description = commitMessage(header);
  if (description.length > 4096)
    throw new HubError(400, "The commit message (summary and description) is longer than 4096 characters");
  const derived = await deriveVersion(w, {
    start: target.kind === "main" ? { kind: "latest" } : { kind: "alias", alias: target.alias },
    ...(header.parentCommit ? { expectCommit: header.parentCommit } : {}),
    edits,
    description,
  });
  const made = derived.record;
  const digest = made?.digest ?? derived.start?.digest ?? start?.digest ?? null;
  if (digest === null) throw new HubError(400, "The commit changes nothing, and the repository has no commit yet");
  const commitOid = commitOf(digest);
  if (made && target.kind === "alias") {
    try {
      await setAlias(
        { env: c.env, principal, model },
        target.alias,
        { version: made.version, split: null },
        {
          reason: `Hub commit: ${header.summary}`.slice(0, 1024),
          expectedGeneration: derived.start?.aliasGeneration ?? 0,
        },
      );
    } catch (err) {
      throw promotionRefused(err, target.alias, made.version, commitOid);
    }
  }
  // Always `<namespace>/<model>`: `huggingface_hub` parses the repo id out of it (`hf_api.py`
  // `CommitInfo.__post_init__` → `RepoUrl`), which refuses a one-segment repo URL.
  const origin = new URL(c.req.url).origin;
  return Response.json({
    commitUrl: `${origin}/${config(c.env).HF_NAMESPACE}/${model}/commit/${commitOid}`,
    commitOid,
    pullRequestUrl: null,
  });
}

/** An alias that did not move after its commit made a version: the version stays ready, and the answer says so. */
function promotionRefused(err: unknown, alias: string, version: number, commitOid: string): unknown {
  if (!(err instanceof ProblemError)) return err;
  const made = `Version ${version} (commit ${commitOid}) was made and is ready, but '${alias}' did not move`;
  if (err.code === "gate_failed") return new HubError(409, `${made}: ${err.detail}`, "GateFailed");
  if (err.code === "conflict")
    return new HubError(409, `${made}: it moved while the commit was made; commit again to move it`);
  return new HubError(err.status, `${made}: ${err.detail}`);
}

const ValidateYamlBody = z.object({ content: z.string(), repoType: z.string().max(32).optional() });

/**
 * `POST /api/validate-yaml`: `huggingface_hub`'s `create_commit` asks this before uploading
 * anything whenever a commit adds a `README.md` (`hf_api.py` `_validate_yaml`), and fails the
 * commit unless it answers JSON and 200. The card's front matter is read as the web UI reads
 * it (src/domain/model-card.ts); YAML it cannot read is 400 with `errors: [{message}]`.
 */
export async function validateYaml(c: AppContext): Promise<Response> {
  await authenticated(c, "read", "read");
  const { content } = parseWith(ValidateYamlBody, await readJsonBody(c.req.raw), "validate-yaml request");
  const card = parseModelCard(content);
  if (card.error === null) return Response.json({ errors: [], warnings: [] });
  return Response.json(
    { error: `Invalid metadata in README.md: ${card.error}`, errors: [{ message: card.error }], warnings: [] },
    { status: 400 },
  );
}
