/** Running the real `mreg` bundle as a subprocess against the shared registry. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";

export const root = join(import.meta.dirname, "..", "..");
export const bin = join(root, "dist", "mreg.mjs");
export const MiB = 1024 * 1024;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A private config and state directory per test file: no test sees another's login or push state. */
export function sandbox(): { env: NodeJS.ProcessEnv; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "mreg-cli-test-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    MREG_URL: inject("mregUrl"),
    MREG_CONFIG_DIR: join(dir, "config"),
    MREG_STATE_DIR: join(dir, "state"),
  };
  return { env, dir };
}

/** Runs `mreg args…` to the end (stdin closed: not a terminal). */
export function mreg(env: NodeJS.ProcessEnv, args: string[], options: { input?: string; node?: string } = {}): Run {
  const r = spawnSync(options.node ?? process.execPath, [bin, ...args], {
    cwd: root,
    env,
    encoding: "utf8",
    input: options.input ?? "",
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs and parses --json output; fails the test with the stderr when the command failed. */
export function mregJson<T = Record<string, any>>(env: NodeJS.ProcessEnv, args: string[]): T {
  // reason: tests read arbitrary output shapes
  const r = mreg(env, [...args, "--json"]);
  if (r.code !== 0) throw new Error(`mreg ${args.join(" ")} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/** Starts `mreg args…` in the background (in `cwd`, default the checkout), collecting its output. */
export function mregSpawn(
  env: NodeJS.ProcessEnv,
  args: string[],
  cwd = root,
): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (out.stdout += d));
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out, exited };
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A token minted by the CLI's own `mreg token` (from the checkout's .dev.vars). */
export function token(env: NodeJS.ProcessEnv, sub: string, scope: string): string {
  const r = mreg(env, ["token", "--sub", sub, "--scope", scope]);
  if (r.code !== 0) throw new Error(`mreg token: ${r.stderr}`);
  return r.stdout.trim();
}

/** Writes `size` random bytes to `path` in 1 MiB blocks; returns the sha256. */
export function randomFile(path: string, size: number): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let left = size; left > 0; left -= MiB) {
    const block = randomBytes(Math.min(MiB, left));
    writeSync(fd, block);
    hash.update(block);
  }
  closeSync(fd);
  return hash.digest("hex");
}

export const sha256Of = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
