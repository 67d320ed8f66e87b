/**
 * `login`, `logout`, `whoami`: who the CLI is, and where it keeps that. `token create | ls |
 * revoke`: tokens the registry mints and can revoke (admin); bare `token`: a development
 * token from the local secret.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MregClient } from "../../client/client";
import { MregError } from "../../client/errors";
import { flag, int, str, type Command } from "../command";
import { loadConfig, saveConfig } from "../config";
import { CliError, UsageError } from "../exit";
import { ago, fields, table } from "../output";

interface Claims {
  sub?: string;
  scope?: string;
  scp?: string[];
  models?: string[];
  aliases?: string[];
  exp?: number;
  iat?: number;
  iss?: string;
  aud?: string | string[];
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** The token's claims, read without verifying it (only the server can do that). */
export function decodeToken(token: string): Claims {
  const parts = token.split(".");
  if (parts.length !== 3) throw new CliError("The token is not a JWT (three dot-separated parts)");
  try {
    return JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Claims;
  } catch {
    throw new CliError("The token's payload is not readable JSON");
  }
}

/** Asks the server whether it accepts the token: any answer but 401 means it does. */
async function serverVerdict(client: MregClient): Promise<{ accepted: boolean; detail?: string }> {
  try {
    await client.models.list({ limit: 1 });
    return { accepted: true };
  } catch (err) {
    if (err instanceof MregError && err.code === "unauthenticated") return { accepted: false, detail: err.detail };
    if (err instanceof MregError && err.status === 403) return { accepted: true };
    throw err;
  }
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text.trim();
}

export const login: Command = {
  name: "login",
  summary: "Store a registry URL and token in the config file (mode 0600), checked with the server",
  options: { "with-token": { type: "boolean" }, "no-verify": { type: "boolean" } },
  help: [
    "--url URL         The registry to log in to (else MREG_URL, else the current one)",
    "--token JWT       The token; or --with-token to read it from stdin; else it is asked for on the terminal, not echoed",
    "--no-verify       Store it without asking the server",
  ],
  examples: [
    "mreg login --url https://mreg.example.com --token $TOKEN",
    "vault read -field=token secret/mreg | mreg login --url https://mreg.example.com --with-token",
  ],
  async run(ctx, input) {
    const url = ctx.settings.url;
    let token = str(input, "token");
    if (!token && flag(input, "with-token")) token = await readStdin();
    if (!token) {
      if (!ctx.interactive)
        throw new UsageError(
          "give --token, or --with-token with the token on stdin (stdin is not a terminal: no prompt)",
          "login",
        );
      token = (await ctx.askSecret(`Token for ${url} (input hidden): `)).trim();
    }
    if (!token) throw new UsageError("no token given", "login");
    const claims = decodeToken(token);
    if (!flag(input, "no-verify")) {
      const verdict = await serverVerdict(new MregClient({ url, token }));
      if (!verdict.accepted) throw new CliError(`${url} refused the token: ${verdict.detail}`);
    }
    const config = loadConfig();
    config.hosts[url] = { token, ...(claims.sub ? { user: claims.sub } : {}) };
    config.current = url;
    const file = saveConfig(config);
    ctx.out.result(
      { url, user: claims.sub ?? null, config: file },
      () => `logged in to ${url}${claims.sub ? ` as ${claims.sub}` : ""} (saved in ${file})`,
    );
  },
};

export const logout: Command = {
  name: "logout",
  summary: "Forget the stored token of a registry (the current one, or --url)",
  async run(ctx) {
    const config = loadConfig();
    const url = ctx.settings.url;
    const had = url in config.hosts;
    delete config.hosts[url];
    if (config.current === url) delete config.current;
    saveConfig(config);
    ctx.out.result({ url, removed: had }, () => (had ? `logged out of ${url}` : `no stored token for ${url}`));
  },
};

export const whoami: Command = {
  name: "whoami",
  summary: "The token in use: subject, scopes, model and alias globs, expiry; and whether the server accepts it",
  async run(ctx) {
    const { url, token, tokenSource } = ctx.settings;
    if (!token) throw new CliError(`No token for ${url}: use --token, MREG_TOKEN or \`mreg login\``);
    const c = decodeToken(token);
    const scopes = [...(c.scope ? c.scope.split(" ").filter(Boolean) : []), ...(c.scp ?? [])];
    const expires = c.exp ? new Date(c.exp * 1000).toISOString() : null;
    const verdict = await serverVerdict(ctx.client);
    const info = {
      url,
      token_source: tokenSource,
      subject: c.sub ?? null,
      scopes,
      models: c.models ?? null,
      aliases: c.aliases ?? null,
      expires_at: expires,
      expired: c.exp ? c.exp * 1000 < Date.now() : null,
      issuer: c.iss ?? null,
      server_accepts: verdict.accepted,
      ...(verdict.detail ? { server_detail: verdict.detail } : {}),
    };
    ctx.out.result(info, () =>
      fields([
        ["url", url],
        ["token from", tokenSource],
        ["subject", c.sub],
        ["scopes", scopes.join(" ")],
        ["models", c.models?.join(", ") ?? "(all)"],
        ["aliases", c.aliases?.join(", ") ?? "(all)"],
        [
          "expires",
          expires
            ? `${expires}${info.expired ? " (expired)" : ` (in ${Math.round((c.exp! * 1000 - Date.now()) / 60000)} min)`}`
            : "never",
        ],
        ["issuer", c.iss],
        ["server", verdict.accepted ? "accepts the token" : `refuses the token: ${verdict.detail}`],
      ]),
    );
    if (!verdict.accepted) throw new CliError(`${url} refuses this token: ${verdict.detail}`);
  },
};

/** JWT_SECRET from the environment, or from `.dev.vars` in this folder or one above it. */
function devSecret(from: string): { secret: string; source: string } {
  if (process.env.JWT_SECRET) return { secret: process.env.JWT_SECRET, source: "JWT_SECRET" };
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    for (const name of [".dev.vars", ".dev.vars.example"]) {
      const file = join(dir, name);
      if (!existsSync(file)) continue;
      const line = readFileSync(file, "utf8")
        .split("\n")
        .find((l) => l.startsWith("JWT_SECRET="));
      if (line)
        return {
          secret: line
            .slice("JWT_SECRET=".length)
            .trim()
            .replace(/^"(.*)"$/, "$1"),
          source: file,
        };
    }
    if (dirname(dir) === dir) break;
  }
  throw new CliError("No JWT_SECRET in the environment, and no .dev.vars here or above: run this in an mreg checkout");
}

/** The development helper's default lifetime (docs/security.md). */
const DEV_TOKEN_TTL_S = 86_400;

export const token: Command = {
  name: "token",
  summary: "The development helper: mint a token from the local .dev.vars secret (local use only; see `token create`)",
  options: {
    sub: { type: "string" },
    scope: { type: "string" },
    models: { type: "string" },
    aliases: { type: "string" },
    ttl: { type: "string" },
  },
  help: [
    "--sub NAME        Subject (default dev)",
    "--scope 'S …'     Space-separated: read write promote approve report admin (default read)",
    "--models GLOBS    Comma-separated model globs",
    "--aliases GLOBS   Comma-separated alias globs",
    "--ttl SECONDS     Lifetime (default 86400: a day, longer than a working session)",
  ],
  examples: [
    "mreg token --sub alice --scope 'read write'",
    'mreg login --token "$(mreg token --sub me --scope admin)"',
  ],
  async run(ctx, input) {
    const { secret, source } = devSecret(process.cwd());
    // A day: the token `npm start` suggests must outlast a working session.
    const ttl = int(input, "ttl") ?? DEV_TOKEN_TTL_S;
    const list = (v: string | undefined) =>
      v === undefined
        ? undefined
        : v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      sub: str(input, "sub") ?? "dev",
      scope: str(input, "scope") ?? "read",
      iat: now,
      exp: now + ttl,
    };
    const models = list(str(input, "models"));
    const aliases = list(str(input, "aliases"));
    if (models) claims.models = models;
    if (aliases) claims.aliases = aliases;
    const enc = new TextEncoder();
    const signingInput = `${b64url(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })))}.${b64url(enc.encode(JSON.stringify(claims)))}`;
    const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(signingInput)));
    const jwt = `${signingInput}.${b64url(signature)}`;
    ctx.out.note(
      `mreg: a development token signed with the secret in ${source}: for a local registry only. It cannot be revoked; a deployed registry mints revocable ones: mreg token create`,
    );
    ctx.out.result({ token: jwt, claims }, () => jwt);
  },
};

const globList = (v: string | undefined) =>
  v === undefined
    ? undefined
    : v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);

export const tokenCreate: Command = {
  name: "token create",
  summary: "Have the registry mint a token it can revoke; prints it once (admin; never more than your own token holds)",
  options: {
    sub: { type: "string" },
    scope: { type: "string" },
    models: { type: "string" },
    aliases: { type: "string" },
    ttl: { type: "string" },
    description: { type: "string" },
  },
  help: [
    "--sub NAME        Subject: the actor recorded for its writes (required)",
    "--scope 'S …'     Space-separated: read write promote approve report admin (required)",
    "--models GLOBS    Comma-separated model globs (required when your own token has some: within them)",
    "--aliases GLOBS   Comma-separated alias globs (likewise)",
    "--ttl SECONDS     Lifetime (default 86400, at most 31536000)",
    "--description TEXT",
  ],
  examples: [
    "mreg token create --sub ci-fraud --scope 'read write promote' --models 'fraud-*' --aliases staging --ttl 2592000",
    "MREG_TOKEN=$(mreg token create --sub node-17 --scope read -q)",
  ],
  async run(ctx, input) {
    const sub = str(input, "sub");
    const scope = str(input, "scope");
    if (!sub || !scope) throw new UsageError("give --sub and --scope", "token create");
    const models = globList(str(input, "models"));
    const aliases = globList(str(input, "aliases"));
    const ttl = int(input, "ttl", { min: 1, max: 31_536_000 });
    const description = str(input, "description");
    const minted = await ctx.client.tokens.create({
      sub,
      scope,
      ...(models ? { models } : {}),
      ...(aliases ? { aliases } : {}),
      ...(ttl !== undefined ? { ttl_s: ttl } : {}),
      ...(description !== undefined ? { description } : {}),
    });
    // The token alone on stdout, so `$(mreg token create …)` captures it; what it is on stderr.
    ctx.out.note(
      `mreg: minted ${minted.id} for ${minted.sub} (${minted.scope}), expires ${minted.expires_at}; shown only now. Revoke: mreg token revoke ${minted.id}`,
    );
    ctx.out.result(minted, () => minted.token);
  },
};

export const tokenLs: Command = {
  name: "token ls",
  summary: "The registry's live tokens you may manage, newest first; never the tokens themselves (admin)",
  options: { limit: { type: "string" }, cursor: { type: "string" } },
  help: ["--limit N, --cursor C   Paging (1..200, default 50)"],
  async run(ctx, input) {
    const limit = int(input, "limit", { min: 1, max: 200 });
    const cursor = str(input, "cursor");
    const page = await ctx.client.tokens.list({ ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) });
    ctx.out.result(page, () =>
      [
        table(
          ["id", "sub", "scope", "models", "aliases", "expires", "created", "description"],
          page.items.map((t) => [
            t.id,
            t.sub,
            t.scope,
            t.models?.join(",") ?? "*",
            t.aliases?.join(",") ?? "*",
            t.expires_at,
            `${ago(t.created_at)} by ${t.created_by}`,
            t.description,
          ]),
        ),
        ...(page.next_cursor ? [`more: mreg token ls --cursor ${page.next_cursor}`] : []),
      ].join("\n"),
    );
  },
};

export const tokenRevoke: Command = {
  name: "token revoke",
  args: "<id>",
  summary: "Revoke a token: refused within 10 s everywhere, open watch sockets closed (admin)",
  async run(ctx, input) {
    const id = input.positionals[0]!;
    await ctx.client.tokens.revoke(id);
    ctx.out.result({ id, revoked: true }, () => `revoked ${id}`);
  },
};
