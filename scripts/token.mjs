#!/usr/bin/env node
// Mints a development token signed with the local JWT_SECRET (.dev.vars, or the environment).
//   npm run token -- --sub alice --scope "read write" [--models "fraud-*,churn"] [--aliases staging] [--ttl 86400]
// For local development only: such a token has no `jti`, so it cannot be revoked. A deployed
// registry mints tokens it can revoke: POST /v1/tokens, or `mreg token create`.
// stdout is the bare token (scripts capture it); everything else goes to stderr.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "dev" },
    scope: { type: "string", default: "read" },
    models: { type: "string" },
    aliases: { type: "string" },
    // A day: a token `npm start` suggests must outlast a working session (docs/security.md).
    ttl: { type: "string", default: "86400" },
  },
});

function devSecret() {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET;
  for (const file of [".dev.vars", ".dev.vars.example"]) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const line = readFileSync(path, "utf8")
      .split("\n")
      .find((l) => l.startsWith("JWT_SECRET="));
    if (line)
      return line
        .slice("JWT_SECRET=".length)
        .trim()
        .replace(/^"(.*)"$/, "$1");
  }
  throw new Error("no JWT_SECRET in the environment, .dev.vars or .dev.vars.example");
}

const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) throw new Error("--ttl must be a positive number of seconds");
const list = (v) =>
  v === undefined
    ? undefined
    : v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
const claims = { scope: values.scope };
if (values.models !== undefined) claims.models = list(values.models);
if (values.aliases !== undefined) claims.aliases = list(values.aliases);

const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
  .sign(new TextEncoder().encode(devSecret()));
process.stderr.write(
  "npm run token: a token for local development only, signed with the development secret; it cannot be revoked.\n" +
    "  For a real registry, have it mint one it can revoke: POST /v1/tokens, or mreg token create.\n",
);
process.stdout.write(token + "\n");
