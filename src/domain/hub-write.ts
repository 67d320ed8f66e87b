/**
 * The Hugging Face Hub's write protocol as mreg reads it (docs/reference.md "Hugging Face Hub (write)"),
 * pure: which revisions a write may name, the lines of a commit (`application/x-ndjson`, as
 * `huggingface_hub`'s `_commit_api.py` `_prepare_commit_payload` and `@huggingface/hub`'s
 * `lib/commit.ts` send them), and the LFS batch request (`lfs.py` `post_lfs_batch_info`).
 */
import { z } from "zod";
import { filePathProblem } from "./file-path-rule";
import { COMMIT, parseReference } from "./reference";

/** What a write to a revision does: `main` (and `HEAD`) make a version and move nothing; an alias moves, through its gates. */
export type WriteTarget = { kind: "main" } | { kind: "alias"; alias: string };

/** The target a write names, or why it cannot be written (a version or a commit never moves). */
export function writeTarget(revision: string): WriteTarget | { refused: string } {
  const name = revision.startsWith("refs/heads/") ? revision.slice("refs/heads/".length) : revision;
  if (name === "main" || name === "HEAD") return { kind: "main" };
  if (COMMIT.test(name.toLowerCase()))
    return { refused: `'${revision}' is a commit: commits cannot be written to; commit to main or to an alias` };
  const ref = parseReference(name);
  if (ref === null)
    return { refused: `'${revision}' is not a branch mreg knows: commit to main, or to an alias (a-z, 0-9, _ and -)` };
  if (ref.kind === "version")
    return { refused: `'${revision}' names one version for ever and cannot move: commit to main or to an alias` };
  if (ref.kind === "latest") return { refused: "'latest' moves by itself with every new version: commit to main" };
  if (ref.kind === "commit") return { refused: `'${revision}' is a commit: commits cannot be written to` };
  return { kind: "alias", alias: ref.alias };
}

/** A path in a commit: the registry's rule (docs/reference.md "Names"). */
export const CommitPath = z.string().superRefine((path, ctx) => {
  const problem = filePathProblem(path);
  if (problem) ctx.addIssue({ code: "custom", message: `path ${problem}` });
});

/** A folder in a `deletedFolder` line: a path, with or without its trailing `/` (Python sends `logs/`). */
export const FolderPath = z
  .string()
  .transform((p) => p.replace(/\/+$/, ""))
  .pipe(CommitPath);

export const Sha256Oid = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits (a sha256)");

/** Sizes mreg takes: R2's largest object. */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 4;
export const ObjectSize = z.number().int().min(0).max(MAX_OBJECT_SIZE);

/** The version's description holds the commit message: the contract's limit on descriptions. */
export const MAX_MESSAGE = 4096;

export const CommitHeader = z.object({
  summary: z.string().min(1, "a commit needs a summary").max(MAX_MESSAGE),
  description: z.string().max(MAX_MESSAGE).nullish(),
  // `huggingface_hub` accepts 5 to 40 hex digits (constants.py REGEX_COMMIT_OID).
  parentCommit: z
    .string()
    .regex(/^[0-9a-fA-F]{5,40}$/, "must be a commit id (5 to 40 hex digits)")
    .transform((c) => c.toLowerCase())
    .nullish(),
});

const Rename = z.object({ path: CommitPath, oldPath: CommitPath });

/** One line of a commit, each shaped as the clients send it (`{key, value}`). */
export const CommitLine = z.discriminatedUnion("key", [
  z.object({ key: z.literal("header"), value: CommitHeader }),
  z.object({
    key: z.literal("file"),
    value: z.union([
      z.object({ path: CommitPath, content: z.string(), encoding: z.enum(["base64", "utf-8"]).optional() }),
      Rename,
    ]),
  }),
  z.object({
    key: z.literal("lfsFile"),
    value: z.union([
      z.object({
        path: CommitPath,
        algo: z.literal("sha256").optional(),
        oid: Sha256Oid,
        // Python's copies send none (`_prepare_commit_payload`, case 2.d): the bytes' own size.
        size: ObjectSize.optional(),
      }),
      Rename,
    ]),
  }),
  z.object({ key: z.literal("deletedFile"), value: z.object({ path: CommitPath }) }),
  z.object({ key: z.literal("deletedFolder"), value: z.object({ path: FolderPath }) }),
  z.object({
    key: z.literal("copyFile"),
    value: z.object({ path: CommitPath, srcPath: CommitPath, srcRevision: z.string().min(1).max(256).optional() }),
  }),
]);
export type CommitLine = z.output<typeof CommitLine>;

/** What a line asks, with a `file` line's content still encoded (the caller decodes and stores it). */
export type CommitOp =
  | { kind: "inline"; path: string; content: string; encoding: "base64" | "utf-8" }
  | { kind: "putBlob"; path: string; sha256: string; size: number | null }
  | { kind: "move"; from: string; to: string }
  | { kind: "delete"; path: string }
  | { kind: "deleteFolder"; path: string }
  | { kind: "copy"; from: string; to: string; fromRevision: string | null };

/** A line other than the header, as an operation. */
export function commitOp(line: Exclude<CommitLine, { key: "header" }>): CommitOp {
  switch (line.key) {
    case "file":
      return "oldPath" in line.value
        ? { kind: "move", from: line.value.oldPath, to: line.value.path }
        : {
            kind: "inline",
            path: line.value.path,
            content: line.value.content,
            encoding: line.value.encoding ?? "utf-8",
          };
    case "lfsFile":
      return "oldPath" in line.value
        ? { kind: "move", from: line.value.oldPath, to: line.value.path }
        : { kind: "putBlob", path: line.value.path, sha256: line.value.oid, size: line.value.size ?? null };
    case "deletedFile":
      return { kind: "delete", path: line.value.path };
    case "deletedFolder":
      return { kind: "deleteFolder", path: line.value.path };
    case "copyFile":
      return {
        kind: "copy",
        from: line.value.srcPath,
        to: line.value.path,
        fromRevision: line.value.srcRevision ?? null,
      };
  }
}

/** Strict base64 (the alphabet, padded to a multiple of 4), decoded; null when it is not. */
export function decodeBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A commit's message as a version's description: the summary, then a blank line and the description when there is one. */
export function commitMessage(header: z.output<typeof CommitHeader>): string {
  const body = header.description?.trim();
  return body ? `${header.summary}\n\n${body}` : header.summary;
}

/** A version's description as a commit's title (its first line) and message (what follows the blank line). */
export function commitTitle(description: string | null, version: number): { title: string; message: string } {
  if (!description) return { title: `Version ${version}`, message: "" };
  const [title = "", ...rest] = description.split("\n");
  return { title, message: rest.join("\n").replace(/^\n+/, "") };
}

/** The LFS batch API's request (`lfs.py` `post_lfs_batch_info`; `commit.ts` sends `hash_algo: "sha_256"`). */
export const LfsBatchRequest = z.object({
  operation: z.enum(["upload", "download"]),
  transfers: z.array(z.string().max(64)).max(16).optional(),
  ref: z.object({ name: z.string().max(256) }).nullish(),
  objects: z
    .array(z.object({ oid: z.string().max(128), size: z.number().int() }))
    .min(1)
    .max(1000),
  hash_algo: z.string().max(32).optional(),
});

/** Whether a batch request's `hash_algo` names sha256 (absent means sha256, as git-lfs says). */
export const isSha256Algo = (algo: string | undefined) => algo === undefined || algo === "sha256" || algo === "sha_256";

/** A part's key in a multipart action's header: `00001`, `00002`, … (HF's own transfer, `lfs.py` `_get_sorted_parts_urls`). */
export const partKey = (n: number) => String(n).padStart(5, "0");
