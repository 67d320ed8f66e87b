/**
 * The diff of two versions of a model: what changed (src/domain/version-diff.ts) plus, for
 * each changed file that is UTF-8 text up to 1 MiB and 20,000 lines on both sides, its
 * unified diff. Reading (4 MiB) and output (2 MiB) are bounded per request, so one diff of
 * many large configs cannot take the isolate's memory. The bytes come through
 * src/artifacts/blob-text.ts, by sha256.
 */
import { readBlobText } from "../artifacts/blob-text";
import { unifiedDiff } from "../domain/text-diff";
import { diffVersions, type ChangedFile, type VersionDiff } from "../domain/version-diff";
import type { VersionRecord } from "../domain/version";
import type { Env } from "../env";

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

function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

export async function versionDiff(
  blobs: Pick<Env, "ARTIFACTS" | "DB">,
  from: VersionRecord,
  to: VersionRecord,
): Promise<VersionDiffBody> {
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
    const [before, after] = await Promise.all([
      readBlobText(blobs, file.from_sha256, MAX_TEXT_DIFF_BYTES),
      readBlobText(blobs, file.to_sha256, MAX_TEXT_DIFF_BYTES),
    ]);
    if (before.kind === "missing" || after.kind === "missing") changed.push({ ...file, diff_omitted: "unreadable" });
    else if (before.kind === "too_large" || after.kind === "too_large")
      changed.push({ ...file, diff_omitted: "too_large" });
    else if (before.kind === "binary" || after.kind === "binary") changed.push({ ...file, diff_omitted: "binary" });
    else if (lineCount(before.text) > MAX_TEXT_DIFF_LINES || lineCount(after.text) > MAX_TEXT_DIFF_LINES)
      changed.push({ ...file, diff_omitted: "too_large" });
    else {
      const diff = unifiedDiff(before.text, after.text, { from: `a/${file.path}`, to: `b/${file.path}` });
      if (diff.length > output) changed.push({ ...file, diff_omitted: "budget" });
      else {
        output -= diff.length;
        changed.push({ ...file, diff });
      }
    }
  }
  return { model: from.model, from: from.version, to: to.version, ...diff, files: { ...diff.files, changed } };
}
