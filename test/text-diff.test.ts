import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { diffLines, MAX_EDIT_DISTANCE, splitLines, unifiedDiff } from "../src/domain/text-diff";
import { diffMaps } from "../src/domain/version-diff";

/** Applies a unified diff to `from` (strictly: context and removed lines must match). */
function applyPatch(from: string, patch: string): string {
  if (patch === "") return from;
  const source = splitLines(from);
  const lines = patch.split("\n");
  expect(lines[0]).toMatch(/^--- /);
  expect(lines[1]).toMatch(/^\+\+\+ /);
  const out: string[] = [];
  let at = 0; // next source line (0-based)
  let i = 2;
  while (i < lines.length && lines[i] !== "") {
    const header = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(lines[i]!);
    expect(header, lines[i]).not.toBeNull();
    const start = Number(header![1]);
    const countA = header![2] === undefined ? 1 : Number(header![2]);
    const firstA = countA === 0 ? start : start - 1;
    while (at < firstA) out.push(source[at++]!);
    i++;
    while (i < lines.length && /^[ +-]/.test(lines[i]!)) {
      const kind = lines[i]![0];
      let text = `${lines[i]!.slice(1)}\n`;
      if (lines[i + 1] === "\\ No newline at end of file") {
        text = text.slice(0, -1);
        i++;
      }
      if (kind === "+") out.push(text);
      else {
        expect(source[at], `line ${at + 1}`).toBe(text);
        if (kind === " ") out.push(text);
        at++;
      }
      i++;
    }
  }
  while (at < source.length) out.push(source[at++]!);
  return out.join("");
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = x === b[j - 1] ? diagonal + 1 : Math.max(row[j]!, row[j - 1]!);
      diagonal = above;
    }
  }
  return row[b.length]!;
}

// Texts over a few short lines, so that equal lines (what diffs are made of) are common.
const text = fc
  .array(fc.constantFrom("a", "b", "c", "d", "", "  e"), { maxLength: 30 })
  .chain((lines) => fc.boolean().map((eol) => (lines.length === 0 ? "" : lines.join("\n") + (eol ? "\n" : ""))));

describe("unified text diff", () => {
  it("turns a into b when applied (property)", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const patch = unifiedDiff(a, b, { from: "a/x", to: "b/x" });
        expect(applyPatch(a, patch)).toBe(b);
        expect(patch === "").toBe(a === b);
      }),
      { numRuns: 500 },
    );
  });

  it("finds a shortest edit script (property, against an LCS)", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const la = splitLines(a);
        const lb = splitLines(b);
        const edits = diffLines(la, lb).filter((op) => op.kind !== " ").length;
        expect(edits).toBe(la.length + lb.length - 2 * lcsLength(la, lb));
      }),
      { numRuns: 500 },
    );
  });

  it("prints hunks as diff -u does: context 3, merged when close, counts of 1 left out", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n";
    const b = a.replace("2\n", "two\n").replace("9\n", "nine\n").replace("19\n", "");
    expect(unifiedDiff(a, b, { from: "a/n", to: "b/n" })).toBe(
      [
        "--- a/n",
        "+++ b/n",
        "@@ -1,12 +1,12 @@",
        " 1",
        "-2",
        "+two",
        " 3",
        " 4",
        " 5",
        " 6",
        " 7",
        " 8",
        "-9",
        "+nine",
        " 10",
        " 11",
        " 12",
        "@@ -16,5 +16,4 @@",
        " 16",
        " 17",
        " 18",
        "-19",
        " 20",
        "",
      ].join("\n"),
    );
    expect(unifiedDiff("", "x\n", { from: "a", to: "b" })).toBe("--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
    expect(unifiedDiff("x\n", "", { from: "a", to: "b" })).toBe("--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
  });

  it("stays correct, if not shortest, past the edit bound", () => {
    // Interleaved changes 2.5 × the bound apart: Myers gives up and the middle is replaced whole.
    const n = MAX_EDIT_DISTANCE * 1.25;
    const a = Array.from({ length: n }, (_, i) => `a${i}`).join("\n") + "\n";
    const b = Array.from({ length: n }, (_, i) => (i % 2 ? `a${i}` : `b${i}`)).join("\n") + "\n";
    const patch = unifiedDiff(a, b, { from: "a/x", to: "b/x" });
    expect(applyPatch(a, patch)).toBe(b);
    const edits = diffLines(splitLines(a), splitLines(b)).filter((op) => op.kind !== " ").length;
    expect(edits).toBeGreaterThan(n);
  });
});

describe("map diffs", () => {
  it("keeps a key named __proto__ (fast-check found it dropped)", () => {
    const from = JSON.parse('{"__proto__": 0, "a": 1}') as Record<string, number>;
    const d = diffMaps(from, JSON.parse('{"a": 2}') as Record<string, number>);
    expect(Object.keys(d.removed)).toEqual(["__proto__"]);
    expect(JSON.stringify(d.removed)).toBe('{"__proto__":0}');
    expect(d.changed).toEqual({ a: { from: 1, to: 2 } });
  });

  it("splits keys into added, removed and changed, comparing values as JSON", () => {
    expect(diffMaps<unknown>({ a: 1, b: [1, 2], c: "x" }, { a: 1, b: [1, 3], d: true })).toEqual({
      added: { d: true },
      removed: { c: "x" },
      changed: { b: { from: [1, 2], to: [1, 3] } },
    });
    // Keys as JSON brings them, `__proto__` and `constructor` included.
    const key = fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor", "toString"));
    const map = fc.dictionary(key, fc.integer()).map((m) => JSON.parse(JSON.stringify(m)) as Record<string, number>);
    const own = (target: Record<string, number>, k: string, v: number) =>
      Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
    fc.assert(
      fc.property(map, map, (from, to) => {
        const d = diffMaps(from, to);
        const rebuilt: Record<string, number> = {};
        for (const k of Object.keys(from)) if (!Object.hasOwn(d.removed, k)) own(rebuilt, k, from[k]!);
        for (const [k, { to: v }] of Object.entries(d.changed)) own(rebuilt, k, v);
        for (const [k, v] of Object.entries(d.added)) own(rebuilt, k, v);
        expect(Object.keys(rebuilt).sort()).toEqual(Object.keys(to).sort());
        for (const k of Object.keys(to)) expect(rebuilt[k]).toBe(to[k]);
      }),
      { numRuns: 500 },
    );
  });
});
