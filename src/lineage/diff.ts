/**
 * The diff of two versions of a model: what changed (src/domain/version-diff.ts) plus, for
 * each changed file that is UTF-8 text up to 1 MiB and 20,000 lines on both sides, its
 * unified diff. Reading (4 MiB) and output (2 MiB) are bounded per request, so one diff of
 * many large configs cannot take the isolate's memory.
 */
import { blobKey } from "../artifacts/keys";
import { unifiedDiff } from "../domain/text-diff";
import { diffVersions, type ChangedFile, type VersionDiff } from "../domain/version-diff";
import type { VersionRecord } from "../domain/version";

/** Text files larger than this (on either side) are reported without a diff. */
export const MAX_TEXT_DIFF_BYTES = 1024 * 1024;
/** Lines a text file may have (on either side) to be diffed: bounds the edit script's memory. */
export const MAX_TEXT_DIFF_LINES = 20_000;
/** Bytes one request reads for text diffs; files past it are reported without one. */
export const TEXT_DIFF_BUDGET_BYTES = 4 * 1024 * 1024;
/** Bytes of unified diff one answer carries; diffs past it are left out. */
export const DIFF_OUTPUT_BUDGET_BYTES = 2 * 1024 * 1024;

type Omitted = "binary" | "too_large" | "budget" | "unreadable";
export type ChangedFileDiff = ChangedFile & { diff?: string; diff_omitted?: Omitted };

export type VersionDiffBody = Omit<VersionDiff, "files"> & {
  model: string;
  from: number;
  to: number;
  files: Omit<VersionDiff["files"], "changed"> & { changed: ChangedFileDiff[] };
};

/** UTF-8 text, or null for bytes that are not (invalid UTF-8, or a NUL as binaries have). */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

async function readText(bucket: R2Bucket, sha256: string): Promise<string | null | "unreadable"> {
  const object = await bucket.get(blobKey(sha256));
  if (!object) return "unreadable";
  return decodeText(new Uint8Array(await object.arrayBuffer()));
}

export async function versionDiff(bucket: R2Bucket, from: VersionRecord, to: VersionRecord): Promise<VersionDiffBody> {
  const diff = diffVersions(from, to);
  let budget = TEXT_DIFF_BUDGET_BYTES;
  let output = DIFF_OUTPUT_BUDGET_BYTES;
  const changed: ChangedFileDiff[] = [];
  for (const file of diff.files.changed) {
    if (file.from_size > MAX_TEXT_DIFF_BYTES || file.to_size > MAX_TEXT_DIFF_BYTES) {
      changed.push({ ...file, diff_omitted: "too_large" });
      continue;
    }
    if (file.from_size + file.to_size > budget) {
      changed.push({ ...file, diff_omitted: "budget" });
      continue;
    }
    budget -= file.from_size + file.to_size;
    const [before, after] = await Promise.all([readText(bucket, file.from_sha256), readText(bucket, file.to_sha256)]);
    if (before === "unreadable" || after === "unreadable") changed.push({ ...file, diff_omitted: "unreadable" });
    else if (before === null || after === null) changed.push({ ...file, diff_omitted: "binary" });
    else if (lineCount(before) > MAX_TEXT_DIFF_LINES || lineCount(after) > MAX_TEXT_DIFF_LINES) changed.push({ ...file, diff_omitted: "too_large" });
    else {
      const diff = unifiedDiff(before, after, { from: `a/${file.path}`, to: `b/${file.path}` });
      if (diff.length > output) changed.push({ ...file, diff_omitted: "budget" });
      else {
        output -= diff.length;
        changed.push({ ...file, diff });
      }
    }
  }
  return { model: from.model, from: from.version, to: to.version, ...diff, files: { ...diff.files, changed } };
}
