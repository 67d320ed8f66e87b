/**
 * "Not found", said plainly. The registry answers 404 for whatever is missing (and an alias
 * of a model that does not exist "resolves to nothing", since the model's object is empty):
 * when a command fails that way, the CLI asks what exactly is missing (the model, the
 * version or the alias), suggests the closest model name, and lists the known aliases.
 * Exit 5 (not found) in every case.
 */
import type { MregClient } from "../client/client";
import { MregError } from "../client/errors";
import type { Alias } from "../client/types";
import { CliError, EXIT } from "./exit";

/** What a command names: the model, and the version or alias it asked for. */
export interface Target {
  model?: string;
  version?: number;
  alias?: string;
}

/** A not-found the CLI has explained: exit 5, with the facts for --json. */
export class NotFound extends CliError {
  constructor(
    message: string,
    readonly facts: Record<string, unknown>,
  ) {
    super(message, EXIT.notFound);
  }
}

export const isNotFound = (err: unknown) =>
  err instanceof MregError && (err.code === "not_found" || err.status === 404);

/** Models read to find the closest name: a typo among the first thousand a token may see. */
const MAX_NAMES = 1000;

/** `production → v3`, `canary → v3:90,v4:10`. */
export const aliasValue = (a: Pick<Alias, "alias" | "version" | "split">) =>
  `${a.alias} → ${a.split ? a.split.map((s) => `v${s.version}:${s.weight}`).join(",") : a.version === null ? "(none)" : `v${a.version}`}`;

/**
 * Why `target` is not found, or undefined when every piece exists (then the server's own
 * message stands). Any failure while asking (a token that may not list) also leaves it be.
 */
export async function explainNotFound(client: MregClient, target: Target): Promise<NotFound | undefined> {
  const { model, version, alias } = target;
  if (!model) return undefined;
  try {
    let latest: number | null;
    try {
      latest = (await client.models.get(model)).latest_version;
    } catch (err) {
      if (!isNotFound(err)) return undefined;
      const near = await closestModel(client, model);
      return new NotFound(`there is no model '${model}'.${near ? ` Did you mean '${near}'?` : ""}`, {
        missing: "model",
        model,
        did_you_mean: near ?? null,
      });
    }
    const virtual = alias !== undefined && /^v[1-9][0-9]*$/i.test(alias) ? Number(alias.slice(1)) : undefined;
    const wanted = version ?? virtual;
    if (wanted !== undefined) {
      try {
        await client.versions.get(model, wanted);
      } catch (err) {
        if (!isNotFound(err)) return undefined;
        return new NotFound(
          `model '${model}' has no version ${wanted} (${latest ? `its latest is ${latest}` : "it has no versions yet"})`,
          { missing: "version", model, version: wanted, latest_version: latest },
        );
      }
    }
    if (alias !== undefined && virtual === undefined) return await explainAlias(client, model, alias.toLowerCase());
  } catch {
    return undefined;
  }
  return undefined;
}

async function explainAlias(client: MregClient, model: string, alias: string): Promise<NotFound | undefined> {
  const aliases = await client.aliases.list(model);
  if (aliases.some((a) => a.alias === alias)) return undefined;
  const names = aliases.map((a) => a.alias);
  const known = aliases.length ? `Its aliases: ${aliases.map(aliasValue).join(", ")}` : "It has no aliases yet";
  const extra =
    alias === "latest"
      ? " (and 'latest' names its newest ready version: it has none)"
      : ["production", "staging", "archived"].includes(alias)
        ? ` (and no version is in stage ${alias})`
        : "";
  const near = closest(alias, names);
  return new NotFound(
    `model '${model}' has no alias '${alias}'${extra}. ${known}${near ? `. Did you mean '${near}'?` : ""}`,
    {
      missing: "alias",
      model,
      alias,
      aliases: names,
      did_you_mean: near ?? null,
    },
  );
}

async function closestModel(client: MregClient, name: string): Promise<string | undefined> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.models.list({ limit: 200, ...(cursor ? { cursor } : {}) });
    names.push(...page.items.map((m) => m.name));
    cursor = page.next_cursor ?? undefined;
  } while (cursor && names.length < MAX_NAMES);
  return closest(name, names);
}

/** The candidate nearest to `word` (edit distance, a swap counting one), if near enough to be a typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(2, Math.floor(word.length / 4));
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps), O(a × b). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** A Target from positionals: `version` counts only when it is a number. */
export function targetOf(model: string | undefined, parts: { version?: string; alias?: string } = {}): Target {
  return {
    model,
    ...(parts.version !== undefined && /^[1-9][0-9]*$/.test(parts.version) ? { version: Number(parts.version) } : {}),
    ...(parts.alias !== undefined ? { alias: parts.alias } : {}),
  };
}
