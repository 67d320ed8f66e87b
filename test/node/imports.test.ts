/**
 * The import rules of docs/architecture.md ("Layers"), kept by a test rather than by memory:
 * no import circle anywhere under src/ (type-only imports count: they tie the modules'
 * meanings together as much as values do), `src/domain/` imports nothing of ours outside
 * itself, and the folders stand in a declared order of layers: a module imports from its own
 * folder or from a folder on a lower layer, never from above or from another folder of its
 * own layer. So the folders form no circle either, and the Durable Object core (`src/state/`)
 * reaches nothing but the layers under it.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findCycles, folderOf, importGraph, relativeImports, type ImportGraph } from "./import-graph";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { graph, unresolved } = importGraph(root, join(root, "src"));

/**
 * Domain files allowed to import from outside src/domain/, each with the reason. Empty: the
 * rule holds everywhere. Add an entry only with a comment saying why and when it goes.
 */
const DOMAIN_EXCEPTIONS: readonly string[] = [];

/**
 * The folders of src/, bottom layer first (a file directly under src/ is a folder of its own,
 * named without its extension; each bridge and each part of the CLI is one too). A folder may
 * import from the layers below its own; folders on one layer are independent of each other.
 * docs/architecture.md ("Layers") says the same in prose.
 */
const LAYERS: readonly (readonly string[])[] = [
  // Pure rules, the contract's shapes and its errors.
  ["domain"],
  // The platform: D1's schema, sessions and the statements the layers below the stores share; the bindings and settings;
  // verifying OMS signatures on Web Crypto (pure apart from it, so the Durable Object core could use it too).
  ["db", "env", "signatures"],
  // Putting audit events on the deliveries queue.
  ["queue"],
  // The Durable Object core; who a caller is and what it may do; the typed HTTP client.
  ["state", "auth", "client"],
  // The Worker's caches of ModelState answers: resolutions, guards.
  ["caches"],
  // The stub every call to a ModelState goes through (it forgets what each write touched), and the R2 work writes leave.
  ["model-writes"],
  // Route declarations (authenticate, authorize, validate), problem+json, cursors, OpenAPI.
  ["http"],
  // Registry-level features: the audit log, webhooks, then minted tokens (whose changes are audited events).
  ["audit", "events"],
  ["tokens"],
  // Models and versions (with the D1 projections they show), then the features built on them.
  ["models"],
  ["aliases", "gates", "retention"],
  ["artifacts"],
  ["lineage", "signing"],
  ["resolve", "guards", "fleet", "rollouts"],
  // What every bridge shares: from a request's credentials to a principal, in the bridge's own words.
  ["bridges"],
  // The other dialects, the web UI, the docs page.
  ["bridges/hf", "bridges/mlflow", "bridges/oci", "ui", "docs"],
  // The app: every route mounted, and the scheduled run's jobs; then the Worker's entry points.
  ["meta-routes", "cron"],
  ["app"],
  ["index"],
  // The `mreg` command: its helpers, its commands, the agent (which pulls as `mreg pull` does), its entry point.
  ["cli"],
  ["cli/commands"],
  ["cli/agent"],
  ["cli/entry"],
];

/**
 * Imports allowed against the layers, each `from-folder → to-folder` with the reason. Empty:
 * the order holds everywhere. Add an entry only with a comment saying why and when it goes.
 */
const LAYER_EXCEPTIONS: ReadonlyMap<string, string> = new Map();

const layerOf = new Map(LAYERS.flatMap((folders, layer) => folders.map((folder) => [folder, layer] as const)));

/** Folder → the folders it imports from, each with one file edge that shows it. */
function folderGraph(files: ImportGraph): Map<string, Map<string, string>> {
  const folders = new Map<string, Map<string, string>>();
  for (const [file, targets] of files) {
    const from = folderOf(file);
    const edges = folders.get(from) ?? folders.set(from, new Map()).get(from)!;
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, `${file} → ${target}`);
    }
  }
  return folders;
}

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

describe("the layers of src/", () => {
  const folders = folderGraph(graph);

  it("place every folder on exactly one layer, and name no folder that is gone", () => {
    const declared = LAYERS.flat();
    expect(declared.filter((f, i) => declared.indexOf(f) !== i)).toEqual([]);
    expect([...folders.keys()].filter((f) => !layerOf.has(f)).sort()).toEqual([]);
    expect(declared.filter((f) => !folders.has(f))).toEqual([]);
  });

  it("are kept: every import points down, or stays inside its folder", () => {
    const against = [...folders].flatMap(([from, edges]) =>
      [...edges]
        .filter(([to]) => !(layerOf.get(to)! < layerOf.get(from)!) && !LAYER_EXCEPTIONS.has(`${from} → ${to}`))
        .map(([to, shown]) => `${from} → ${to} (${shown})`),
    );
    expect(against).toEqual([]);
  });

  it("leave no circle of folders, whatever the declared order", () => {
    const byFolder: ImportGraph = new Map([...folders].map(([from, edges]) => [from, [...edges.keys()]]));
    expect(findCycles(byFolder).map((c) => c.path.join(" → "))).toEqual([]);
  });

  it("keep the Durable Object core to the layers under it: domain/, db/, env and queue/", () => {
    expect([...(folders.get("state")?.keys() ?? [])].sort()).toEqual(["db", "domain", "env", "queue"]);
  });

  it("list only exceptions that are still needed", () => {
    const stale = [...LAYER_EXCEPTIONS.keys()].filter((edge) => {
      const [from, to] = edge.split(" → ") as [string, string];
      return !folders.get(from)?.has(to) || layerOf.get(to)! < layerOf.get(from)!;
    });
    expect(stale).toEqual([]);
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

  it("names a file's folder: its first folder under src/, a bridge or a part of the CLI, or the file itself at the top", () => {
    expect(folderOf("src/state/model-state.ts")).toBe("state");
    expect(folderOf("src/ui/pages/model.tsx")).toBe("ui");
    expect(folderOf("src/bridges/oci/routes.ts")).toBe("bridges/oci");
    expect(folderOf("src/cli/agent/sync.ts")).toBe("cli/agent");
    expect(folderOf("src/cli/output.ts")).toBe("cli");
    expect(folderOf("src/env.ts")).toBe("env");
    expect(folderOf("src/ui/routes.tsx")).toBe("ui");
  });
});
