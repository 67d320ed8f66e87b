/**
 * The bridges' seams (docs/architecture.md "How a request flows"), kept by a test rather than
 * by memory: a bridge (src/bridges/) is its dialect's wording and credential shape only.
 * - It writes nothing and holds no SQL: D1 is read through the model and version stores (and
 *   the aliases projection's one reader), and written only by `ModelState`'s outbox.
 * - It reaches `ModelState` only through the services.
 * - It asks the resolve service which miss it was (no such model, or no such revision) rather
 *   than catching its errors and asking D1.
 * - It goes from credentials to a principal through one helper (src/bridges/caller.ts).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { importGraph } from "./import-graph";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { graph } = importGraph(root, join(root, "src"));
const bridgeFiles = [...graph.keys()].filter((f) => f.startsWith("src/bridges/"));
const text = (file: string) => readFileSync(join(root, file), "utf8");
/** Every specifier a module imports, packages included. */
const specifiers = (file: string) => ts.preProcessFile(text(file), true, true).importedFiles.map((f) => f.fileName);

/** The one module that carries a bridge from credentials to a principal. */
const CALLER = "src/bridges/caller.ts";
/** The modules that word a seam's errors in a bridge's dialect (a ProblemError's code is theirs to read). */
const WORDING = /^src\/bridges\/[^/]+\/errors\.ts$/;

const importing = (targets: (t: string) => boolean, except: (f: string) => boolean = () => false) =>
  bridgeFiles
    .filter((f) => !except(f))
    .flatMap((f) =>
      graph
        .get(f)!
        .filter(targets)
        .map((t) => `${f} → ${t}`),
    );

describe("the bridges", () => {
  it("are all seen by the scan (not vacuous)", () => {
    expect(bridgeFiles).toEqual(
      expect.arrayContaining([
        "src/bridges/hf/routes.ts",
        "src/bridges/oci/routes.ts",
        "src/bridges/mlflow/routes.ts",
        CALLER,
      ]),
    );
  });

  it("hold no SQL and write nothing to D1: the stores read, ModelState's outbox writes", () => {
    const sqlModules = importing((t) => t === "src/db/schema.ts" || t.startsWith("src/db/pattern-"));
    const drizzle = bridgeFiles.filter((f) => specifiers(f).some((s) => s.startsWith("drizzle-orm")));
    const statements = bridgeFiles.filter((f) => /\.prepare\(|\.batch\(/.test(text(f)));
    expect({ sqlModules, drizzle, statements }).toEqual({ sqlModules: [], drizzle: [], statements: [] });
  });

  it("reach ModelState only through the services", () => {
    expect(importing((t) => t.startsWith("src/state/"))).toEqual([]);
  });

  it("take the resolve service's answer for which miss it was, not its error and a D1 question", () => {
    const catching = bridgeFiles.filter((f) => !WORDING.test(f) && /"not_found"|"version_not_ready"/.test(text(f)));
    expect(catching).toEqual([]);
  });

  it("go from credentials to a principal through one helper", () => {
    const auth = importing(
      (t) => ["src/auth/middleware.ts", "src/auth/authorize.ts", "src/auth/credentials.ts"].includes(t),
      (f) => f === CALLER,
    );
    expect(auth).toEqual([]);
  });
});
