/**
 * One registry for every CLI test file: builds the CLI bundle (so the tests run the code in
 * this tree), then starts the real `npm start` on a free port with its own state directory
 * and a 5 MiB part size (the smallest R2 takes), so a 40 MiB push has eight parts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

const root = join(import.meta.dirname, "..", "..");
export const PART_SIZE = 5 * 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export default async function setup(project: TestProject) {
  const build = spawnSync(process.execPath, [join(root, "scripts", "build-cli.mjs")], { cwd: root, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the CLI failed:\n${build.stdout}${build.stderr}`);

  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), "mreg-cli-e2e-"));
  // detached: its own process group, so stopping it stops wrangler and workerd too.
  const server: ChildProcess = spawn(
    "npm",
    ["start", "--", "--port", String(port), "--persist-to", stateDir, "--var", `UPLOAD_PART_SIZE:${PART_SIZE}`, "--var", "RESOLVE_TTL_S:0"],
    { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  server.stdout!.on("data", (d) => (output += d));
  server.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no /healthz within 120 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  project.provide("mregUrl", url);
  project.provide("partSize", PART_SIZE);

  return () => {
    if (server.pid && server.exitCode === null) process.kill(-server.pid, "SIGTERM");
    rmSync(stateDir, { recursive: true, force: true });
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    mregUrl: string;
    partSize: number;
  }
}
