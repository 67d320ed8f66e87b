/**
 * Which models a token sees: one rule, as the code check and as the SQL condition, so that no
 * route, list, search or redaction writes its own copy of it (a list that forgot it would
 * leak model names). Built from the token's `models` claim once per request
 * (`visibilityOf`, src/auth/principal.ts) and handed to every store that reads across
 * models, as a required argument; stores never see a principal or its globs.
 *
 * - no claim: every model;
 * - an empty claim: no model;
 * - globs (src/domain/glob.ts: `*` any run of characters, every other character literal,
 *   `?` and `[` included): the models one of them matches. A glob of `*` alone matches every
 *   name, the registry's own `""` (REGISTRY_MODEL, on registry-level audit events) included.
 *
 * The second question asked of the same claim, "globs within globs" (`covers`), is here too:
 * which webhooks and minted tokens a limited administrator may see and manage (those it
 * could have made).
 */
import { or, sql, type AnyColumn, type SQL, type SQLWrapper } from "drizzle-orm";
import { globWithin, matchesAny } from "../domain/glob";
import { matchesAnySql } from "./pattern-match";
import { globCondition, globsParam, globsWithinSql } from "./pattern-sql";

/** A glob made only of `*` matches every name, "" included. */
const matchesEveryName = (glob: string) => /^\*+$/.test(glob);

export class Visibility {
  /** Every model: a token without a `models` claim. */
  static readonly EVERY = new Visibility(undefined);

  /** The visibility of a token's `models` claim (undefined: the token has none). */
  static of(claim: readonly string[] | undefined): Visibility {
    return claim === undefined ? Visibility.EVERY : new Visibility(claim);
  }

  /** Whether every model is seen, the registry's `""` included: no claim, or a glob of `*` alone. */
  readonly all: boolean;

  private constructor(private readonly claim: readonly string[] | undefined) {
    this.all = claim === undefined || claim.some(matchesEveryName);
  }

  /** Whether `model` is seen. A function value, so it can be handed to a redaction as it is. */
  readonly sees = (model: string): boolean => this.all || matchesAny(this.claim!, model);

  /**
   * The same as a drizzle condition on a column of model names. A glob that fits D1's pattern
   * limit is a plain GLOB, so SQLite reads a literal prefix as an index range.
   */
  sql(column: AnyColumn): SQL {
    if (this.all) return sql`1`;
    if (this.claim!.length === 0) return sql`0`;
    return or(...this.claim!.map((glob) => globCondition(column, glob)))!;
  }

  /** The same as raw SQL on the expression `text`, with its parameters (anonymous `?`). */
  raw(text: string): { text: string; params: unknown[] } {
    return this.all ? { text: "1", params: [] } : { text: matchesAnySql(text), params: [this.param] };
  }

  /**
   * The value of the one parameter that `visibleSql(text, "?N")` (./pattern-match.ts) reads,
   * for statements that number their parameters: null when every model is seen, else the
   * claim's globs split for SQL (an empty claim: an empty list, which matches nothing).
   */
  get param(): string | null {
    return this.all ? null : globsParam(this.claim!);
  }

  /**
   * Whether every name `reach` reaches (undefined: every model, and the registry's events)
   * lies within this claim, glob by glob (`globWithin`): the webhooks and minted tokens a
   * limited administrator may see and manage. Only a token without the claim covers "every
   * model", even where its globs would match every name (`*`): a limited holder hands out
   * globs, never all (docs/security.md, "Managing tokens").
   */
  covers(reach: readonly string[] | undefined): boolean {
    if (this.claim === undefined) return true;
    return reach !== undefined && reach.every((glob) => globWithin(glob, this.claim!));
  }

  /** `covers` as a drizzle condition on `reach`: a JSON array of globs, or NULL for every model. */
  coversSql(reach: SQLWrapper): SQL {
    return globsWithinSql(reach, this.claim) ?? sql`1`;
  }
}
