/**
 * The import rules of ARCHITECTURE.md, kept by a test rather than by memory: no import
 * circle anywhere under src/ (type-only imports count: they tie the modules' meanings
 * together as much as values do), and `src/domain/` imports nothing of ours outside itself.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findCycles, importGraph, relativeImports } from "./import-graph";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { graph, unresolved } = importGraph(root, join(root, "src"));

/**
 * Domain files allowed to import from outside src/domain/, each with the reason. Empty: the
 * rule holds everywhere. Add an entry only with a comment saying why and when it goes.
 */
const DOMAIN_EXCEPTIONS: readonly string[] = [];

describe("the import graph of src/", () => {
  it("reads every module and resolves every relative import", () => {
    expect(unresolved).toEqual([]);
    // Not vacuous: the scan saw the app and its edges.
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("src/index.ts")).toContain("src/app.ts");
  });

  it("has no import cycle", () => {
    const circles = findCycles(graph).map((c) => `${c.path.join(" → ")} (files in this circle: ${c.files.join(", ")})`);
    expect(circles).toEqual([]);
  });

  it("keeps src/domain/ free of imports from the rest of src/", () => {
    const outward = [...graph]
      .filter(([file]) => file.startsWith("src/domain/") && !DOMAIN_EXCEPTIONS.includes(file))
      .flatMap(([file, targets]) => targets.filter((t) => !t.startsWith("src/domain/")).map((t) => `${file} → ${t}`));
    expect(outward).toEqual([]);
  });
});

describe("the scanner itself", () => {
  it("counts type-only imports, re-exports and dynamic imports, and skips comments, strings and packages", () => {
    const text = [
      'import type { A } from "./a";',
      'import { type B } from "../b";',
      'export * from "./c";',
      'export type { D } from "./d";',
      'import "./e";',
      'const f = await import("./f");',
      '// import "./commented";',
      'const s = "import \\"./quoted\\"";',
      'import { z } from "zod";',
    ].join("\n");
    expect(relativeImports(text)).toEqual(["./a", "../b", "./c", "./d", "./e", "./f"]);
  });

  it("finds each cycle once, as a path back to its first file, and ignores a diamond", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", ["e", "f"]],
      ["e", ["g"]],
      ["f", ["g"]],
      ["g", []],
      ["s", ["s"]],
    ]);
    expect(findCycles(g)).toEqual([
      { files: ["a", "b", "c"], path: ["a", "b", "c", "a"] },
      { files: ["s"], path: ["s", "s"] },
    ]);
  });
});
