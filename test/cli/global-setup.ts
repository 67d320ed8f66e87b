/**
 * One registry for every CLI test file: builds the CLI bundle (so the tests run the code in
 * this tree), then starts the real `npm start` on a free port with its own state directory
 * and a 5 MiB part size (the smallest R2 takes), so a 40 MiB push has eight parts.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { startServer } from "../e2e/server";

const root = join(import.meta.dirname, "..", "..");
export const PART_SIZE = 5 * 1024 * 1024;

export default async function setup(project: TestProject) {
  const build = spawnSync(process.execPath, [join(root, "scripts", "build-cli.mjs")], { cwd: root, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the CLI failed:\n${build.stdout}${build.stderr}`);

  const server = await startServer(["--var", `UPLOAD_PART_SIZE:${PART_SIZE}`, "--var", "RESOLVE_TTL_S:0"]);
  const url = server.base;
  project.provide("mregUrl", url);
  project.provide("partSize", PART_SIZE);

  return () => server.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    mregUrl: string;
    partSize: number;
  }
}
