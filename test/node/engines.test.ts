/**
 * `npm ci` without EBADENGINE noise, and the engines check it stood for still made. npm checks
 * each package's `engines.node` against the Node that runs npm (the machine's, Node 20 here),
 * and has no setting for another one since npm 9 removed `node-version`. But wrangler,
 * miniflare and vitest never run on that Node: npm scripts run on the Node this project pins
 * as a devDependency (`node`), first on PATH through node_modules/.bin. So .npmrc sets
 * `loglevel=error` (npm's errors still show, and a wrong engine is not one unless
 * `engine-strict`), and this test makes the real check: every locked package against the
 * pinned Node.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const semver = createRequire(import.meta.url)("semver") as {
  satisfies(version: string, range: string, options?: object): boolean;
};
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<
    string,
    { version?: string; dev?: boolean; optional?: boolean; engines?: { node?: string } | string[] }
  >;
};
/** Locked packages whose `engines.node` the Node `version` does not satisfy. Optional ones are
 * left out: npm skips those it cannot run (the other platforms' builds of sharp, say). */
function unsatisfied(version: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== "" && !entry.optional)
    .flatMap(([path, entry]) => {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      return range && !semver.satisfies(version, range, { includePrerelease: true })
        ? [`${path}@${entry.version}: node ${range}`]
        : [];
    });
}

describe("engines", () => {
  it("every locked package runs on the pinned Node", () => {
    const pinned = pkg.devDependencies.node!;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(unsatisfied(pinned)).toEqual([]);
    // Not vacuous: the machine's Node 20 is what npm warned about, and the check sees it too.
    expect(unsatisfied("20.20.2")).toContain(
      `node_modules/wrangler@${lock.packages["node_modules/wrangler"]!.version}: node >=22.0.0`,
    );
  });

  it("npm ci says nothing about engines, and still fails on a real error", () => {
    const dir = mkdtempSync(join(tmpdir(), "mreg-npmci-"));
    try {
      for (const file of ["package.json", "package-lock.json", ".npmrc"])
        copyFileSync(join(root, file), join(dir, file));
      // As a user runs it: from a shell, so on the machine's Node, not the pinned one that
      // `npm test` and `npx` put first on PATH (node_modules/.bin).
      const PATH = (process.env.PATH ?? "")
        .split(delimiter)
        .filter((p) => !p.endsWith(join("node_modules", ".bin")))
        .join(delimiter);
      const run = () =>
        spawnSync("npm", ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], {
          cwd: dir,
          encoding: "utf8",
          timeout: 120_000,
          env: { ...process.env, PATH },
        });
      const clean = run();
      expect(clean.status, clean.stderr).toBe(0);
      expect(`${clean.stdout}${clean.stderr}`).not.toMatch(/EBADENGINE|npm warn/i);
      // A lockfile out of step with package.json is an error, and it is still shown.
      const edited = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
      };
      edited.dependencies.zod = "3.0.0";
      writeFileSync(join(dir, "package.json"), JSON.stringify(edited, null, 2));
      const broken = run();
      expect(broken.status).not.toBe(0);
      expect(broken.stderr).toMatch(/npm error/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
