/**
 * Issue 33, item 1, from the CLI: `--tag` takes key=value or key:value everywhere, `versions ls
 * --tag` finds the version tag a push set, and `push --model-tag` sets the model's tags, which
 * `models ls --tag` finds.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mreg, mregJson, sandbox, token } from "./helpers";

const { env, dir } = sandbox();
const M = "cli-tags";

beforeAll(() => {
  env.MREG_TOKEN = token(env, "ci", "read write");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pushed = (name: string, args: string[]): number => {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name }));
  return mregJson(env, ["push", M, file, ...args]).version as number;
};

describe("tags from the CLI", () => {
  it("finds what push tagged: version tags with versions ls --tag, model tags with models ls --tag", () => {
    const nlp = pushed("a", ["--tag", "team=nlp", "--model-tag", "team=nlp", "--model-tag", "owner:ann"]);
    const vision = pushed("b", ["--tag", "team:vision"]);

    for (const filter of ["team=nlp", "team:nlp"]) {
      const versions = mregJson(env, ["versions", "ls", M, "--tag", filter]);
      expect(
        versions.items.map((v: { version: number }) => v.version),
        filter,
      ).toEqual([nlp]);
      const models = mregJson(env, ["models", "ls", "--prefix", M, "--tag", filter]);
      expect(
        models.items.map((m: { name: string }) => m.name),
        filter,
      ).toEqual([M]);
    }
    expect(mregJson(env, ["versions", "show", M, String(vision)]).tags).toEqual({ team: "vision" });
    expect(mregJson(env, ["models", "show", M]).tags).toEqual({ team: "nlp", owner: "ann" });
    // The table shows the tags it filters on.
    expect(mreg(env, ["versions", "ls", M, "--tag", "team=vision"]).stdout).toContain("team=vision");
    expect(mreg(env, ["models", "ls", "--prefix", M]).stdout).toContain("team=nlp");
  });

  it("refuses a tag without a separator as a usage error, before anything is sent", () => {
    for (const args of [
      ["versions", "ls", M, "--tag", "team"],
      ["models", "ls", "--tag", "team"],
      ["push", M, join(dir, "nothing.json"), "--model-tag", "=x"],
    ]) {
      const r = mreg(env, args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("key=value (or key:value)");
    }
  });
});

describe("push's progress lines (issue 33, item 6)", () => {
  it("says a multipart file was uploaded before it says the registry verified it", () => {
    const file = join(dir, "big.bin");
    writeFileSync(file, Buffer.alloc(6 * 1024 * 1024, 7));
    const r = mreg(env, ["push", M, file, "--multipart-threshold", "1MiB"]);
    expect(r.code, r.stderr).toBe(0);
    const uploaded = r.stderr.indexOf("big.bin: 6.0 MiB uploaded; the registry is verifying its sha256");
    const verified = r.stderr.indexOf("big.bin: sha256 verified by the registry");
    expect(uploaded, r.stderr).toBeGreaterThanOrEqual(0);
    expect(verified).toBeGreaterThan(uploaded);
    expect(r.stderr).not.toContain("all parts sent");
  });
});
