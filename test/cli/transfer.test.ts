/**
 * Bytes through the real CLI: a 40 MiB multipart push, a pull by alias compared byte for
 * byte, a push killed with SIGKILL and resumed (fewer bytes the second time), a pull killed
 * and resumed, a pull that refuses bytes whose sha256 is wrong, and the progress bar on a
 * pseudo-terminal.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { MiB, bin, mreg, mregJson, mregSpawn, randomFile, root, sandbox, sha256Of, token, waitFor } from "./helpers";

const SIZE = 40 * MiB;
const { env, dir } = sandbox();
const weights = join(dir, "weights.bin");
let weightsSha: string;

beforeAll(() => {
  env.MREG_TOKEN = token(env, "trainer", "read write promote admin");
  weightsSha = randomFile(weights, SIZE);
  writeFileSync(join(dir, "config.json"), '{"threshold": 0.7}\n');
  expect(mreg(env, ["models", "create", "cli-transfer"]).code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The percentage in the newest quiet progress line of `file` on stderr, or 0. */
const percent = (stderr: string, file: string) =>
  Math.max(0, ...[...stderr.matchAll(new RegExp(`${file}: (\\d+)%`, "g"))].map((m) => Number(m[1])));

describe("mreg push and pull", () => {
  it("pushes 40 MiB in 5 MiB parts and pulls it back by alias, byte for byte", () => {
    const pushed = mregJson(env, [
      "push",
      "cli-transfer",
      weights,
      join(dir, "config.json"),
      "--metric",
      "auc=0.93",
      "--git-sha",
      "3f2a9c1",
      "--alias",
      "staging",
    ]);
    expect(pushed).toMatchObject({
      model: "cli-transfer",
      status: "ready",
      resumed: false,
      bytes_sent: SIZE + 19,
      alias: { alias: "staging" },
    });
    const file = (pushed.files as { path: string; method: string; sha256: string }[]).find(
      (f) => f.path === "weights.bin",
    )!;
    expect(file).toMatchObject({ method: "multipart", sha256: weightsSha });

    const uploads = mregJson(env, ["audit", "--model", "cli-transfer", "--action", "upload.open"]);
    expect(uploads.items).toHaveLength(1);
    const shown = mregJson(env, ["versions", "show", "cli-transfer", String(pushed.version)]);
    expect(shown.lineage).toEqual({ git_sha: "3f2a9c1" });
    expect(shown.metrics).toEqual({ auc: 0.93 });

    const out = join(dir, "pulled");
    const pulled = mregJson(env, ["pull", "registry://cli-transfer@staging", out]);
    expect(pulled).toMatchObject({ version: pushed.version, digest: pushed.digest, bytes_received: SIZE + 19 });
    expect(sha256Of(join(out, "weights.bin"))).toBe(weightsSha);
    expect(spawnSync("cmp", [weights, join(out, "weights.bin")]).status).toBe(0);

    // Pulling again finds every file in place and downloads nothing.
    const again = mregJson(env, ["pull", "cli-transfer@staging", out]);
    expect(again.bytes_received).toBe(0);
    expect((again.files as { status: string }[]).map((f) => f.status)).toEqual(["unchanged", "unchanged"]);
  });

  it("resumes a push killed with SIGKILL: the second run sends only the missing parts", async () => {
    const file = join(dir, "big.bin");
    const sha = randomFile(file, SIZE);
    const first = mregSpawn(env, ["push", "cli-transfer", file, "--parallel", "1", "--tag", "run=kill-test"]);
    // Parts go one at a time: past 30% the third 5 MiB part is on its way, so two have landed.
    await waitFor(
      () => percent(first.out.stderr, "big.bin") >= 30 || first.child.exitCode !== null,
      "the push to pass 30%",
    );
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe(null);
    expect(first.out.stdout).toBe("");

    const second = mregJson(env, ["push", "cli-transfer", file, "--tag", "run=kill-test"]);
    expect(second.resumed).toBe(true);
    expect(second.bytes_skipped).toBeGreaterThanOrEqual(2 * inject("partSize"));
    expect(second.bytes_sent).toBeLessThan(SIZE);
    expect(second.bytes_sent + second.bytes_skipped).toBe(SIZE);
    const versions = mregJson(env, ["versions", "ls", "cli-transfer"]);
    // The resumed push finished the version the killed one created: no second version.
    expect(
      (versions.items as { tags: Record<string, string> }[]).filter((v) => v.tags.run === "kill-test"),
    ).toHaveLength(1);

    const out = join(dir, "pulled-big");
    mregJson(env, ["pull", `cli-transfer/${second.version}`, out]);
    expect(sha256Of(join(out, "big.bin"))).toBe(sha);
  });

  it("resumes a pull killed with SIGKILL, and refuses bytes whose sha256 is wrong", async () => {
    const out = join(dir, "pull-resume");
    const first = mregSpawn(env, ["pull", "cli-transfer@staging", out, "--chunk-size", "512KiB", "--parallel", "1"]);
    await waitFor(
      () => percent(first.out.stderr, "weights.bin") >= 30 || first.child.exitCode !== null,
      "the pull to pass 30%",
    );
    first.child.kill("SIGKILL");
    await first.exited;
    expect(existsSync(join(out, "weights.bin"))).toBe(false);

    const second = mregJson(env, ["pull", "cli-transfer@staging", out, "--chunk-size", "512KiB"]);
    const w = (second.files as { path: string; status: string; bytes_received: number }[]).find(
      (f) => f.path === "weights.bin",
    )!;
    expect(w.status).toBe("resumed");
    expect(w.bytes_received).toBeLessThan(SIZE);
    expect(sha256Of(join(out, "weights.bin"))).toBe(weightsSha);

    // A partial download whose bytes are wrong (recorded as complete): verified, refused, removed.
    const bad = join(dir, "pull-bad");
    mkdirSync(bad);
    randomFile(join(bad, "weights.bin.mreg-partial"), SIZE);
    writeFileSync(
      join(bad, "weights.bin.mreg-partial.json"),
      JSON.stringify({ sha256: weightsSha, size: SIZE, chunk_size: SIZE, done: [0] }),
    );
    const refused = mreg(env, ["pull", "cli-transfer@staging", bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /weights\.bin: sha256 mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}\); the download was discarded/,
    );
    expect(existsSync(join(bad, "weights.bin"))).toBe(false);
    expect(existsSync(join(bad, "weights.bin.mreg-partial"))).toBe(false);
  });

  const hasScript = spawnSync("script", ["--version"]).status === 0;
  it.skipIf(!hasScript)(
    "draws a progress bar with bytes and rate on a terminal (script(1) gives it a pseudo-terminal)",
    () => {
      const file = join(dir, "tty.bin");
      randomFile(file, 24 * MiB);
      const command = [process.execPath, bin, "push", "cli-transfer", file, "--parallel", "2"]
        .map((a) => `'${a}'`)
        .join(" ");
      const r = spawnSync("script", ["-qfec", command, "/dev/null"], {
        cwd: root,
        env: { ...env, TERM: "xterm" },
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(r.status).toBe(0);
      // Redrawn in place (carriage return, erase line), with a bar, bytes, a rate and an ETA.
      expect(r.stdout).toContain("\r\x1b[2K");
      expect(r.stdout).toMatch(/tty\.bin \[#*-*\] +\d+%  [\d.]+ (B|KiB|MiB)\/24 MiB  [\d.]+ (B|KiB|MiB)\/s  ETA /);
      expect(r.stdout).toMatch(
        /tty\.bin: 24 MiB uploaded; the registry is verifying its sha256\r?\ntty\.bin: sha256 verified by the registry \(24 MiB sent\)/,
      );
      // No quiet "NN% (… of …)" lines: those are for logs, not terminals.
      expect(r.stdout).not.toMatch(/tty\.bin: \d+% \(/);
    },
  );
});
