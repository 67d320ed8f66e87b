/**
 * Tokens from the CLI against the real server: `mreg token create | ls | revoke` (the
 * minted token works until revoked, then the server refuses it), a limited admin cannot mint
 * beyond its globs, and the two development minters (`mreg token`, `npm run token`) keep
 * stdout to the bare token while saying on stderr what they are for.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../until";
import { mreg, mregJson, root, sandbox, token } from "./helpers";

const { env, dir } = sandbox();
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

beforeAll(() => {
  env.MREG_TOKEN = token(env, "platform", "read write promote admin");
});

afterAll(() => {
  spawnSync("rm", ["-rf", dir]);
});

describe("mreg token create | ls | revoke", () => {
  it("mints a token that works, lists it without the token, and revokes it", async () => {
    expect(mreg(env, ["models", "create", "cli-tok-a"]).code).toBe(0);
    const minted = mregJson(env, [
      "token",
      "create",
      "--sub",
      "ci-cli",
      "--scope",
      "write read",
      "--models",
      "cli-tok-*",
      "--ttl",
      "600",
      "--description",
      "cli test",
    ]);
    expect(minted).toMatchObject({
      sub: "ci-cli",
      scope: "read write",
      models: ["cli-tok-*"],
      aliases: null,
      description: "cli test",
    });
    expect(minted.id).toMatch(/^tok_/);
    expect(minted.token).toMatch(JWT);

    // Human output: the token alone on stdout (scripts capture it), what it is on stderr.
    const human = mreg(env, ["token", "create", "--sub", "node-cli", "--scope", "read"]);
    expect(human.code).toBe(0);
    expect(human.stdout.trim()).toMatch(JWT);
    expect(human.stderr).toMatch(/minted tok_\w+ for node-cli \(read\).*shown only now/);

    const as = { ...env, MREG_TOKEN: minted.token };
    expect(mreg(as, ["models", "show", "cli-tok-a"]).code).toBe(0);
    expect(mregJson(as, ["whoami"])).toMatchObject({
      subject: "ci-cli",
      scopes: ["read", "write"],
      models: ["cli-tok-*"],
      server_accepts: true,
    });
    // It holds no admin: it cannot mint.
    const denied = mreg(as, ["token", "create", "--sub", "x", "--scope", "read"]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("admin");

    const listed = mregJson(env, ["token", "ls", "--limit", "200"]);
    const row = listed.items.find((t: { id: string }) => t.id === minted.id);
    expect(row).toMatchObject({ sub: "ci-cli", scope: "read write", models: ["cli-tok-*"], created_by: "platform" });
    expect(JSON.stringify(listed)).not.toContain(minted.token);
    const table = mreg(env, ["token", "ls"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(minted.id);
    expect(table.stdout).not.toContain(minted.token);

    expect(mregJson(env, ["token", "revoke", minted.id])).toEqual({ id: minted.id, revoked: true });
    // Refused from then on (at once in the isolate that revoked it; within 10 s in any other,
    // a bound test/tokens.test.ts holds by its mechanism: here each try is a process start).
    const refused = await until(
      () => {
        const r = mreg(as, ["models", "show", "cli-tok-a"]);
        return r.code !== 0 && r;
      },
      "the revoked token to be refused",
      { intervalMs: 250 },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^mreg: token has been revoked/);
    expect(mreg(env, ["token", "revoke", minted.id]).code).toBe(5);
    expect(mregJson(env, ["token", "ls", "--limit", "200"]).items.some((t: { id: string }) => t.id === minted.id)).toBe(
      false,
    );
  });

  it("refuses to mint beyond the minter's globs (exit 1, the server's reason) and checks its own arguments (exit 2)", () => {
    const lead = {
      ...env,
      MREG_TOKEN: mreg(env, ["token", "--sub", "lead-a", "--scope", "admin", "--models", "team-a-*"]).stdout.trim(),
    };
    const wide = mreg(lead, ["token", "create", "--sub", "job", "--scope", "read"]);
    expect(wide.code).toBe(1);
    expect(wide.stderr).toMatch(/models/);
    const other = mreg(lead, ["token", "create", "--sub", "job", "--scope", "read", "--models", "team-b-*"]);
    expect(other.code).toBe(1);
    expect(mreg(lead, ["token", "create", "--sub", "job", "--scope", "read", "--models", "team-a-fraud"]).code).toBe(0);
    expect(mreg(env, ["token", "create", "--scope", "read"]).code).toBe(2);
    expect(mreg(env, ["token", "create", "--sub", "x", "--scope", "read", "--ttl", "0"]).code).toBe(2);
    const badScope = mreg(env, ["token", "create", "--sub", "x", "--scope", "root"]);
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toContain("unknown scope 'root'");
  });
});

describe("development minters", () => {
  it("`mreg token` prints the bare token, and says on stderr it is for local use and what to use instead", () => {
    const r = mreg(env, ["token", "--sub", "dev", "--scope", "read"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(JWT);
    expect(r.stderr).toContain("local registry only");
    expect(r.stderr).toContain("mreg token create");
  });

  it("`npm run token` prints the bare token, and says on stderr it is for local development and what to use instead", () => {
    const r = spawnSync(process.execPath, [join(root, "scripts", "token.mjs"), "--sub", "dev", "--scope", "read"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    expect(r.stderr).toMatch(/local development/);
    expect(r.stderr).toContain("POST /v1/tokens");
    expect(r.stderr).toContain("mreg token create");
  });

  it("both last a day by default, so the token npm start suggests outlives a working session (issue 33)", () => {
    const lifetime = (jwt: string) => {
      const claims = JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as {
        iat: number;
        exp: number;
      };
      return claims.exp - claims.iat;
    };
    const cli = mreg(env, ["token", "--sub", "dev"]);
    expect(lifetime(cli.stdout.trim())).toBe(86_400);
    const npm = spawnSync(process.execPath, [join(root, "scripts", "token.mjs"), "--sub", "dev"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(lifetime(npm.stdout.trim())).toBe(86_400);
    expect(lifetime(mreg(env, ["token", "--sub", "dev", "--ttl", "600"]).stdout.trim())).toBe(600);
  });
});
