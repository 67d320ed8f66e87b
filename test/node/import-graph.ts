/**
 * The graph of our own modules: which file under src/ imports which, read from the source
 * text. TypeScript's own pre-processor lists the specifiers (type-only imports, re-exports,
 * side-effect and dynamic imports included; comments and strings skipped); only relative
 * specifiers are ours, and each must resolve to a file, or the graph would quietly miss an
 * edge.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/** File → the files it imports, both relative to the root given to `importGraph`, with `/`. */
export type ImportGraph = Map<string, string[]>;

const SOURCE = /\.tsx?$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return SOURCE.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The relative specifiers a module's text imports or re-exports, in order. */
export function relativeImports(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith("./") || s.startsWith("../"));
}

/** The file a relative specifier names, as the bundler resolves it (extensionless, or `.js` for `.ts`), or null. */
function resolveSpecifier(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  const stem = base.replace(/\.js$/, "");
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, join(base, "index.ts"), join(base, "index.tsx")];
  return candidates.find((c) => SOURCE.test(c) && existsSync(c) && statSync(c).isFile()) ?? null;
}

/** Every .ts/.tsx file under `srcDir` with its relative imports, and the specifiers that resolved to nothing. */
export function importGraph(root: string, srcDir: string): { graph: ImportGraph; unresolved: string[] } {
  const graph: ImportGraph = new Map();
  const unresolved: string[] = [];
  const name = (path: string) => relative(root, path).split(sep).join("/");
  for (const file of sourceFiles(srcDir)) {
    const targets: string[] = [];
    for (const specifier of relativeImports(readFileSync(file, "utf8"))) {
      const target = resolveSpecifier(file, specifier);
      if (target === null) unresolved.push(`${name(file)}: ${specifier}`);
      else if (!targets.includes(name(target))) targets.push(name(target));
    }
    graph.set(name(file), targets);
  }
  return { graph, unresolved };
}

/** Folders whose subfolders are folders of their own: each bridge is one dialect, each part of the CLI one layer of it. */
const CONTAINERS = new Set(["bridges", "cli"]);

/**
 * The folder a file under src/ belongs to, for the layer rule: its first folder under src/
 * (`src/ui/pages/model.tsx` → `ui`), or for a container its subfolder (`src/bridges/oci/…` →
 * `bridges/oci`; a file directly in it, the container: `src/cli/output.ts` → `cli`); a file
 * directly under src/ is a folder of its own, named without its extension (`src/env.ts` → `env`).
 */
export function folderOf(file: string): string {
  const [, first, second, ...rest] = file.split("/");
  if (second === undefined) return first!.replace(/\.tsx?$/, "");
  if (CONTAINERS.has(first!) && rest.length > 0) return `${first}/${second}`;
  return first!;
}

/** Files that import one another around a circle: all of them, and one circle to show. */
export interface Circle {
  /** Sorted. */
  files: string[];
  /** A shortest path from the first file back to itself: `[a, b, …, a]`. */
  path: string[];
}

/**
 * Every import circle, one per strongly connected component of more than one file (or a file
 * importing itself): Tarjan's algorithm, then a shortest way back to the component's first file.
 */
export function findCycles(graph: ImportGraph): Circle[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  // Recursive: a module graph is a few hundred files deep at most.
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((component) => ({ files: component.sort(), path: cycleThrough(graph, new Set(component)) }));
}

/** A shortest cycle from the component's first file (by name) back to it, staying inside the component. */
function cycleThrough(graph: ImportGraph, component: Set<string>): string[] {
  const start = [...component].sort()[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = cameFrom.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
