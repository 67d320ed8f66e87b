/**
 * The pure rules under the Hub's write side: applying a commit's edits to a version's files
 * (src/domain/version-changes.ts), which revisions a write may name and how a commit's lines
 * read (src/domain/hub-write.ts), and the NDJSON reader that bounds a body line by line
 * (src/http/ndjson.ts). Property tests where a rule has many inputs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { collidingPaths } from "../src/domain/file-path-rule";
import { CommitLine, commitOp, decodeBase64, writeTarget } from "../src/domain/hub-write";
import { comparePaths, type ManifestEntry } from "../src/domain/manifest";
import { ProblemError } from "../src/domain/problem";
import { applyChanges, folderPrefix, type FileChange } from "../src/domain/version-changes";
import { ndjsonLines } from "../src/http/ndjson";

const segment = fc.constantFrom("a", "b", "c", "d", "w.bin", "x");
const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"));
const file = fc.record({
  path,
  size: fc.nat(100),
  sha256: fc.constantFrom("1".repeat(64), "2".repeat(64), "3".repeat(64)),
});
/** A version's files: distinct paths that a disk can hold together. */
const files = fc
  .uniqueArray(file, { selector: (f) => f.path, maxLength: 8 })
  .filter((fs) => collidingPaths(fs.map((f) => f.path)) === null);
const change: fc.Arbitrary<FileChange> = fc.oneof(
  file.map((f) => ({ kind: "put" as const, file: f })),
  path.map((p) => ({ kind: "delete" as const, path: p })),
  path.map((p) => ({ kind: "deleteFolder" as const, path: p })),
  fc.tuple(path, path).map(([from, to]) => ({ kind: "copy" as const, from, to })),
  fc.tuple(path, path).map(([from, to]) => ({ kind: "move" as const, from, to })),
);

/** The edits applied one by one to a map: the model the rule must agree with. */
function reference(start: readonly ManifestEntry[], changes: readonly FileChange[]): Map<string, ManifestEntry> | null {
  const m = new Map(start.map((f) => [f.path, f]));
  for (const c of changes) {
    if (c.kind === "put") m.set(c.file.path, c.file);
    else if (c.kind === "delete") {
      if (!m.delete(c.path)) return null;
    } else if (c.kind === "deleteFolder") {
      const below = [...m.keys()].filter((p) => p.startsWith(`${c.path}/`));
      if (below.length === 0) return null;
      for (const p of below) m.delete(p);
    } else {
      const source = m.get(c.from);
      if (!source) return null;
      if (c.kind === "move") m.delete(c.from);
      m.set(c.to, { ...source, path: c.to });
    }
  }
  return m;
}

describe("applying a commit's edits", () => {
  it("agrees with the edits applied one by one, sorted, with added and removed the difference from the start", () => {
    fc.assert(
      fc.property(files, fc.array(change, { maxLength: 8 }), (start, changes) => {
        const result = applyChanges(start, changes);
        const expected = reference(start, changes);
        if (expected === null) {
          expect(result.ok ? null : result.reason).toBe("missing");
          return;
        }
        const paths = [...expected.keys()];
        if (collidingPaths(paths) !== null) {
          expect(result.ok ? null : result.reason).toBe("collision");
          return;
        }
        if (!result.ok) throw new Error(`refused: ${result.message}`);
        expect(result.files).toEqual([...expected.values()].sort((a, b) => comparePaths(a.path, b.path)));
        const before = new Map(start.map((f) => [f.path, f]));
        const same = (a: ManifestEntry | undefined, b: ManifestEntry | undefined) =>
          a !== undefined && b !== undefined && a.size === b.size && a.sha256 === b.sha256;
        expect(result.added).toEqual(result.files.filter((f) => !same(before.get(f.path), f)));
        expect(result.removed).toEqual(start.filter((f) => !same(expected.get(f.path), f)));
      }),
    );
  });

  it("changes nothing when every edit puts back what is there", () => {
    fc.assert(
      fc.property(files, (start) => {
        const result = applyChanges(
          start,
          start.map((f) => ({ kind: "put", file: f })),
        );
        expect(result.ok && result.added.length === 0 && result.removed.length === 0).toBe(true);
      }),
    );
  });

  it("refuses a missing file, folder or source, and two paths one disk cannot hold", () => {
    const start = [{ path: "a/b.bin", size: 1, sha256: "1".repeat(64) }];
    expect(applyChanges(start, [{ kind: "delete", path: "a" }])).toMatchObject({
      ok: false,
      reason: "missing",
      path: "a",
    });
    expect(applyChanges(start, [{ kind: "deleteFolder", path: "b" }])).toMatchObject({ ok: false, reason: "missing" });
    expect(applyChanges(start, [{ kind: "copy", from: "x", to: "y" }])).toMatchObject({ ok: false, reason: "missing" });
    expect(
      applyChanges(start, [{ kind: "put", file: { path: "A/B.bin", size: 1, sha256: "2".repeat(64) } }]),
    ).toMatchObject({ ok: false, reason: "collision" });
    expect(applyChanges(start, [{ kind: "put", file: { path: "a", size: 1, sha256: "2".repeat(64) } }])).toMatchObject({
      ok: false,
      reason: "collision",
    });
    expect(folderPrefix("logs/")).toBe("logs/");
    expect(folderPrefix("logs")).toBe("logs/");
  });
});

describe("which revisions a write may name", () => {
  it.each([
    ["main", { kind: "main" }],
    ["HEAD", { kind: "main" }],
    ["refs/heads/main", { kind: "main" }],
    ["staging", { kind: "alias", alias: "staging" }],
    ["Production", { kind: "alias", alias: "production" }],
    ["refs/heads/dev", { kind: "alias", alias: "dev" }],
  ])("%s → %j", (revision, target) => {
    expect(writeTarget(revision)).toEqual(target);
  });

  it.each(["v3", "latest", "0123456789abcdef0123456789abcdef01234567", "refs/pr/1", "bad name", "", "a".repeat(65)])(
    "%s is refused",
    (revision) => {
      expect(writeTarget(revision)).toHaveProperty("refused");
    },
  );
});

describe("a commit's lines", () => {
  it("reads each line the clients send", () => {
    const op = (line: unknown) => {
      const parsed = CommitLine.parse(line);
      if (parsed.key === "header") throw new Error("header");
      return commitOp(parsed);
    };
    const oid = "a".repeat(64);
    expect(op({ key: "lfsFile", value: { path: "w.bin", algo: "sha256", oid, size: 3 } })).toEqual({
      kind: "putBlob",
      path: "w.bin",
      sha256: oid,
      size: 3,
    });
    // Python's copies name the bytes without their size (`_prepare_commit_payload`, case 2.d).
    expect(op({ key: "lfsFile", value: { path: "c.bin", algo: "sha256", oid } })).toMatchObject({ size: null });
    expect(op({ key: "lfsFile", value: { path: "new.bin", oldPath: "old.bin" } })).toEqual({
      kind: "move",
      from: "old.bin",
      to: "new.bin",
    });
    expect(op({ key: "deletedFolder", value: { path: "logs/" } })).toEqual({ kind: "deleteFolder", path: "logs" });
    expect(op({ key: "copyFile", value: { path: "b", srcPath: "a", srcRevision: "v1" } })).toEqual({
      kind: "copy",
      from: "a",
      to: "b",
      fromRevision: "v1",
    });
    expect(CommitLine.safeParse({ key: "lfsFile", value: { path: "w.bin", oid: "A".repeat(64) } }).success).toBe(false);
    expect(CommitLine.safeParse({ key: "deletedFile", value: { path: "../x" } }).success).toBe(false);
    expect(CommitLine.safeParse({ key: "header", value: { summary: "s", parentCommit: "abc" } }).success).toBe(false);
  });

  it("decodes strict base64 only, as Node's Buffer encodes it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(decodeBase64(Buffer.from(bytes).toString("base64"))).toEqual(bytes);
      }),
    );
    for (const bad of ["%%%", "abc", "ab=c", "a b=", "YQ==="]) expect(decodeBase64(bad)).toBeNull();
  });
});

/** A stream of `text` cut into chunks at `cuts`. */
function chunked(text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, bytes.byteLength]) {
    pieces.push(bytes.slice(at, p));
    at = p;
  }
  return new ReadableStream({
    start(ctl) {
      for (const p of pieces) ctl.enqueue(p);
      ctl.close();
    },
  });
}

async function all(stream: ReadableStream<Uint8Array>, limits = { maxLineBytes: 1000, maxLines: 100 }) {
  const out: unknown[] = [];
  for await (const { value } of ndjsonLines(stream, limits)) out.push(value);
  return out;
}

describe("the NDJSON reader", () => {
  it("reads the same values however the bytes are cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        async (values, cuts, trailing) => {
          const text = values.map((v) => JSON.stringify(v)).join("\n") + (trailing ? "\n" : "");
          // JSON's -0 reads back as 0.
          expect(await all(chunked(text, cuts))).toEqual(
            JSON.parse(`[${values.map((v) => JSON.stringify(v)).join(",")}]`),
          );
        },
      ),
    );
  });

  it("refuses a line past its bound before reading it whole, too many lines, and what is not JSON or UTF-8", async () => {
    const refusal = async (stream: ReadableStream<Uint8Array>, limits?: { maxLineBytes: number; maxLines: number }) => {
      try {
        await all(stream, limits);
        return null;
      } catch (err) {
        return err instanceof ProblemError ? err.code : String(err);
      }
    };
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(ctl) {
        pulled += 1;
        ctl.enqueue(new Uint8Array(100).fill(0x61));
      },
    });
    expect(await refusal(endless, { maxLineBytes: 1000, maxLines: 10 })).toBe("payload_too_large");
    expect(pulled).toBeLessThan(20);
    expect(await refusal(chunked("1\n2\n3\n", []), { maxLineBytes: 10, maxLines: 2 })).toBe("validation_failed");
    expect(await refusal(chunked('{"a":1}\n{nope', []))).toBe("validation_failed");
    const notUtf8 = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(new Uint8Array([0x22, 0xff, 0x22, 0x0a]));
        ctl.close();
      },
    });
    expect(await refusal(notUtf8)).toBe("validation_failed");
  });
});
