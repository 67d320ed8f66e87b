/**
 * docs/reference.md "Aliases (the serving path)": set, delete, history, rollback, swap,
 * resolve, watch.
 */
import { MregError } from "./errors";
import { seg, type Transport } from "./transport";
import type { Alias, AliasAt, HistoryEntry, Page, PageQuery, Resolution, SetAlias, WatchEvent } from "./types";
import { validResolution, validWatchEvent } from "./validate";
import { openWatch, type WatchOptions, type Watch } from "./watch";

export interface ResolveOptions {
  /** Routing key for a split: the same key always gets the same version. */
  key?: string;
  /** `"lineage"` adds the version's lineage graph, its Version and the Alias record (not cached). */
  include?: "lineage";
  /** Depth of that graph (1..10; the server's default is 10). */
  depth?: number;
  signal?: AbortSignal;
}

/** What `poll` learned: see there. */
export interface Poll {
  resolution: Resolution | null;
  etag: string | null;
  maxAgeS: number | null;
  staleS: number | null;
}

const aliasPath = (model: string, alias: string) => `/v1/models/${seg(model)}/aliases/${seg(alias)}`;

export class Aliases {
  constructor(
    private readonly t: Transport,
    private readonly watchOptions: () => Pick<WatchOptions, "webSocket">,
  ) {}

  async list(model: string, signal?: AbortSignal): Promise<Alias[]> {
    const page = await this.t.json<{ items: Alias[] }>({
      method: "GET",
      path: `/v1/models/${seg(model)}/aliases`,
      signal,
      what: `aliases of '${model}'`,
    });
    return page.items;
  }

  /**
   * Points `alias` at a version or a split. 409 `gate_failed` (with `checks`) when a gate
   * refuses, `version_not_ready`, or `conflict` when `expected_generation` is stale.
   */
  set(model: string, alias: string, body: SetAlias, signal?: AbortSignal): Promise<Alias> {
    return this.t.json({
      method: "PUT",
      path: aliasPath(model, alias),
      json: body,
      // With a generation to compare, a repeat after a lost answer is refused as a conflict
      // rather than applied twice; without one, a repeat would be a second (audited) change.
      idempotent: body.expected_generation !== undefined,
      signal,
      what: `set ${model}@${alias}`,
    });
  }

  async delete(model: string, alias: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: aliasPath(model, alias),
      query: { reason: options.reason },
      signal: options.signal,
      what: `delete ${model}@${alias}`,
    });
  }

  /** What the alias resolves to now (a serving node's question); an answer about anything else is `invalid_response`. */
  async resolve(model: string, alias: string, options: ResolveOptions = {}): Promise<Resolution> {
    const what = `resolve ${model}@${alias}`;
    const answer = await this.t.json<unknown>({
      method: "GET",
      path: aliasPath(model, alias),
      query: { key: options.key, include: options.include, depth: options.include ? options.depth : undefined },
      signal: options.signal,
      what,
    });
    return validResolution(answer, { model, alias }, what);
  }

  /**
   * A conditional resolve, for a node that polls: with the ETag it holds, `resolution` is null
   * while the alias is unchanged (304). `maxAgeS` is the registry's resolve TTL (null when the
   * answer may not be cached: TTL 0, or stale); `staleS` the age of an answer served from the
   * last state seen while the model's object cannot answer.
   */
  async poll(
    model: string,
    alias: string,
    options: { key?: string; etag?: string; signal?: AbortSignal } = {},
  ): Promise<Poll> {
    const what = `resolve ${model}@${alias}`;
    const res = await this.t.send({
      method: "GET",
      path: aliasPath(model, alias),
      query: { key: options.key },
      headers: options.etag ? { "if-none-match": options.etag } : {},
      accept: [304],
      signal: options.signal,
      what,
    });
    const maxAge = /(?:^|,)\s*max-age=(\d+)/.exec(res.headers.get("cache-control") ?? "");
    const stale = Number(res.headers.get("x-mreg-stale"));
    const head = {
      etag: res.headers.get("etag") ?? options.etag ?? null,
      maxAgeS: maxAge ? Number(maxAge[1]) : null,
      staleS: res.headers.has("x-mreg-stale") && Number.isFinite(stale) ? stale : null,
    };
    if (res.status === 304) {
      await res.body?.cancel();
      return { resolution: null, ...head };
    }
    return { resolution: validResolution(await this.t.read<unknown>(res, what), { model, alias }, what), ...head };
  }

  /** What the alias held at the instant `at` (from its history); 404 `not_found` when it held nothing then. */
  at(
    model: string,
    alias: string,
    at: Date | string,
    options: { key?: string; signal?: AbortSignal } = {},
  ): Promise<AliasAt> {
    return this.t.json({
      method: "GET",
      path: aliasPath(model, alias),
      query: { at: typeof at === "string" ? at : at.toISOString(), key: options.key },
      signal: options.signal,
      what: `${model}@${alias} at ${typeof at === "string" ? at : at.toISOString()}`,
    });
  }

  history(model: string, alias: string, query: PageQuery = {}, signal?: AbortSignal): Promise<Page<HistoryEntry>> {
    return this.t.json({
      method: "GET",
      path: `${aliasPath(model, alias)}/history`,
      query: { ...query },
      signal,
      what: `history of ${model}@${alias}`,
    });
  }

  /** Without `to_version`, undoes the newest change not yet rolled back. Skips gates. */
  rollback(
    model: string,
    alias: string,
    body: { to_version?: number; reason?: string } = {},
    signal?: AbortSignal,
  ): Promise<Alias> {
    return this.t.json({
      method: "POST",
      path: `${aliasPath(model, alias)}/rollback`,
      json: body,
      signal,
      what: `roll back ${model}@${alias}`,
    });
  }

  async swap(model: string, aliases: [string, string], reason?: string, signal?: AbortSignal): Promise<[Alias, Alias]> {
    const page = await this.t.json<{ items: [Alias, Alias] }>({
      method: "POST",
      path: `/v1/models/${seg(model)}/aliases:swap`,
      json: { aliases, reason },
      signal,
      what: `swap ${model}@${aliases[0]} and @${aliases[1]}`,
    });
    return page.items;
  }

  /** The first event is the current resolution (`event: "current"`), then one per change; a message about anything else ends the watch with `invalid_response`. */
  watch(model: string, alias: string, options: WatchOptions = {}): Promise<Watch> {
    const url = this.t.url(`${aliasPath(model, alias)}/watch`, { key: options.key });
    const what = `watch ${model}@${alias}`;
    return openWatch(url, this.t, { ...this.watchOptions(), ...options }, (message) =>
      validWatchEvent(message, { model, alias }, what),
    );
  }
}

/** A parsed `registry://<model>@<alias>` or `registry://<model>/<version>`. */
export type ModelUri =
  { model: string; alias: string; version?: undefined } | { model: string; version: number; alias?: undefined };

export function parseModelUri(uri: string): ModelUri {
  const match =
    /^registry:\/\/([a-z0-9][a-z0-9._-]{0,127})(?:@([A-Za-z][A-Za-z0-9_-]{0,63})|\/([1-9][0-9]{0,8}))$/.exec(uri);
  if (!match) {
    throw new MregError({
      status: 0,
      code: "validation_failed",
      detail: `Not a model URI: '${uri}' (expected registry://<model>@<alias> or registry://<model>/<version>)`,
    });
  }
  return match[3] !== undefined
    ? { model: match[1]!, version: Number(match[3]) }
    : { model: match[1]!, alias: match[2]!.toLowerCase() };
}

export class Resolver {
  constructor(private readonly t: Transport) {}

  /** `GET /v1/resolve`: a URI as a serving node holds it; an answer about another model, alias or version is `invalid_response`. */
  async resolve(uri: string, options: ResolveOptions = {}): Promise<Resolution> {
    const asked = parseModelUri(uri);
    const what = `resolve ${uri}`;
    const answer = await this.t.json<unknown>({
      method: "GET",
      path: "/v1/resolve",
      query: { uri, key: options.key, include: options.include, depth: options.include ? options.depth : undefined },
      signal: options.signal,
      what,
    });
    return validResolution(
      answer,
      asked.alias !== undefined
        ? { model: asked.model, alias: asked.alias }
        : { model: asked.model, version: asked.version },
      what,
    );
  }
}

export type { WatchEvent };
