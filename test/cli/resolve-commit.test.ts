/**
 * Issue 33, item 4: `mreg resolve --commit` prints the Hugging Face revision that names the
 * version an alias serves for good: the same commit a HEAD on the Hub route answers in
 * `X-Repo-Commit`, and after the alias moves, the new version's.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { mreg, mregJson, sandbox, token } from "./helpers";

const { env, dir } = sandbox();
const M = "cli-commit";

beforeAll(() => {
  env.MREG_TOKEN = token(env, "ci", "read write promote");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function hubCommit(alias: string): Promise<string | null> {
  const res = await fetch(`${inject("mregUrl")}/mreg/${M}/resolve/${alias}/config.json`, {
    method: "HEAD",
    headers: { authorization: `Bearer hf_${env.MREG_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.headers.get("x-repo-commit");
}

describe("mreg resolve --commit", () => {
  it("prints the commit a Hugging Face client pins, and follows the alias", async () => {
    for (const threshold of [0.7, 0.8]) {
      writeFileSync(join(dir, "config.json"), JSON.stringify({ threshold }));
      const pushed = mregJson(env, ["push", M, join(dir, "config.json"), "--alias", "production"]);
      const printed = mreg(env, ["resolve", `${M}@production`, "--commit"]);
      expect(printed.code, printed.stderr).toBe(0);
      const commit = printed.stdout.trim();
      expect(commit).toMatch(/^[0-9a-f]{40}$/);
      expect(commit).toBe(await hubCommit("production"));
      expect(mregJson(env, ["resolve", `${M}@production`, "--commit"])).toEqual({
        model: M,
        version: pushed.version,
        commit,
      });
    }
  });
});
