/**
 * MLflow's search grammar, as far as mreg's MLflow bridge answers it (API.md "Bridges →
 * MLflow"): the `filter` of `registered-models/search` and `model-versions/search`, and their
 * `order_by` items. Written after MLflow's `mlflow/utils/search_utils.py`
 * (`SearchModelUtils`, `SearchModelVersionUtils`), which parses with sqlparse; here a small
 * hand-written tokenizer does it in one pass over the text (no regex over user input, no
 * backtracking), so 100 KB of near-matches costs 100 KB of steps.
 *
 *   filter     := clause ( AND clause )*
 *   clause     := field comparator value
 *   field      := [ ( attribute | attributes | attr ) "." ] name
 *               | ( tag | tags ) "." key                      key: word(.word)*, `quoted` or 'quoted'
 *   comparator := "=" | "!=" | "<>" | LIKE | ILIKE | IN
 *   value      := 'text' | "text" | "(" value ( "," value )* ")"      ('' inside '…' is one ')
 *
 * Keywords are case-insensitive. Which fields and comparators a search takes is its own
 * (FilterSpec): models `name` and tags; versions `name`, `run_id` (`IN` too) and tags.
 * LIKE/ILIKE patterns use `%` (any run) and `_` (one character), as in SQL; the span from a
 * pattern's first wildcard to its last is at most 50 bytes (D1's pattern limit; the literal
 * text before and after may be of any length).
 */

import { D1_MAX_PATTERN_BYTES, fitsD1, splitPattern, type PatternToken, type SplitPattern } from "./glob";

export class FilterError extends Error {}

export type Comparator = "=" | "!=" | "LIKE" | "ILIKE" | "IN";

/** A field a clause tests: an attribute (named as the search names it, `A`) or a tag. */
export type Field<A extends string = string> = { kind: "attribute"; name: A } | { kind: "tag"; key: string };

/**
 * One condition. The parser names attributes as MLflow does (`name`, `run_id`); a bridge
 * renames them to the fields of the store that runs the search (src/models/search.ts).
 */
export interface Clause<A extends string = string> {
  field: Field<A>;
  comparator: Comparator;
  /** A list only for `IN`. */
  value: string | string[];
}

/** Which attributes a search takes, each with its comparators; tags take `=`, `!=`, LIKE, ILIKE. */
export type FilterSpec = Record<string, readonly Comparator[]>;

const STRING_COMPARATORS: readonly Comparator[] = ["=", "!=", "LIKE", "ILIKE"];

export const MODEL_FILTER: FilterSpec = { name: STRING_COMPARATORS };
export const VERSION_FILTER: FilterSpec = { name: STRING_COMPARATORS, run_id: ["=", "!=", "IN"] };

/** Bounds that keep a query's bound parameters well under D1's 100. */
export const MAX_CLAUSES = 20;
export const MAX_IN_VALUES = 100;
export const MAX_FILTER_LENGTH = 16 * 1024;

type Token =
  | { t: "word"; v: string; at: number }
  | { t: "string"; v: string; quote: "'" | '"' | "`"; at: number }
  | { t: "op"; v: "=" | "!=" | "<>"; at: number }
  | { t: "."; at: number }
  | { t: "("; at: number }
  | { t: ")"; at: number }
  | { t: ","; at: number };

const isWordStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isWordPart = (c: number) => isWordStart(c) || (c >= 48 && c <= 57);
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/** The tokens of `text`, in one left-to-right pass. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
    } else if (isWordStart(c)) {
      const start = i;
      while (i < text.length && isWordPart(text.charCodeAt(i))) i++;
      tokens.push({ t: "word", v: text.slice(start, i), at: start });
    } else if (c === 39 || c === 34 || c === 96) {
      const quote = text[i] as "'" | '"' | "`";
      const start = i++;
      let value = "";
      for (;;) {
        const end = text.indexOf(quote, i);
        if (end < 0) throw new FilterError(`Unterminated ${quote}-quoted text at position ${start + 1}`);
        value += text.slice(i, end);
        i = end + 1;
        // A doubled quote inside stands for the quote itself.
        if (text[i] === quote) {
          value += quote;
          i++;
          continue;
        }
        break;
      }
      tokens.push({ t: "string", v: value, quote, at: start });
    } else if (c === 61) {
      tokens.push({ t: "op", v: "=", at: i++ });
    } else if (c === 33 && text[i + 1] === "=") {
      tokens.push({ t: "op", v: "!=", at: i });
      i += 2;
    } else if (c === 60 && text[i + 1] === ">") {
      tokens.push({ t: "op", v: "<>", at: i });
      i += 2;
    } else if (c === 46 || c === 40 || c === 41 || c === 44) {
      tokens.push({ t: text[i] as "." | "(" | ")" | ",", at: i++ });
    } else {
      throw new FilterError(`Unexpected character '${text[i]}' at position ${i + 1}`);
    }
  }
  return tokens;
}

const ATTRIBUTE_PREFIXES = new Set(["attribute", "attributes", "attr"]);
const TAG_PREFIXES = new Set(["tag", "tags"]);

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly spec: FilterSpec,
  ) {}

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private next(what: string): Token {
    const token = this.tokens[this.i++];
    if (!token) throw new FilterError(`The filter ends where ${what} was expected`);
    return token;
  }

  parse(): Clause[] {
    const clauses: Clause[] = [this.clause()];
    while (this.i < this.tokens.length) {
      const and = this.next("AND");
      if (and.t !== "word" || and.v.toUpperCase() !== "AND") {
        throw new FilterError(
          `Expected AND at position ${and.at + 1}${and.t === "word" && and.v.toUpperCase() === "OR" ? ": OR is not supported, only AND" : ""}`,
        );
      }
      clauses.push(this.clause());
      if (clauses.length > MAX_CLAUSES) throw new FilterError(`A filter holds at most ${MAX_CLAUSES} conditions`);
    }
    return clauses;
  }

  private clause(): Clause {
    const field = this.field();
    const comparator = this.comparator(field);
    const at = this.peek()?.at ?? 0;
    const value = comparator === "IN" ? this.list() : this.text();
    // The store tests the literal ends of a pattern at any length, but the span between its
    // first wildcard and its last goes through GLOB, which D1 limits (./glob.ts).
    if ((comparator === "LIKE" || comparator === "ILIKE") && !fitsD1(splitLike(value as string).middle)) {
      throw new FilterError(
        `The ${comparator} pattern at position ${at + 1} is too complex: at most ${D1_MAX_PATTERN_BYTES} bytes from its first wildcard (% or _) to its last (*, ? and [ count 3)`,
      );
    }
    return { field, comparator, value };
  }

  private field(): Field {
    const first = this.next("a field (name, run_id, tags.<key>)");
    if (first.t !== "word") throw new FilterError(`Expected a field at position ${first.at + 1}`);
    const dotted = this.peek()?.t === ".";
    if (!dotted) return this.attribute(first.v, first.at);
    this.i++;
    const prefix = first.v.toLowerCase();
    if (ATTRIBUTE_PREFIXES.has(prefix)) {
      const name = this.next("an attribute name");
      if (name.t !== "word" && !(name.t === "string" && name.quote === "`"))
        throw new FilterError(`Expected an attribute name at position ${name.at + 1}`);
      return this.attribute(name.v, name.at);
    }
    if (TAG_PREFIXES.has(prefix)) return { kind: "tag", key: this.tagKey() };
    throw new FilterError(`Invalid entity type '${first.v}': use 'attributes.<name>' or 'tags.<key>'`);
  }

  private attribute(name: string, at: number): Field {
    if (!Object.hasOwn(this.spec, name)) {
      throw new FilterError(
        `Invalid attribute '${name}' at position ${at + 1}; this search filters on ${Object.keys(this.spec).join(", ")} and tags.<key>`,
      );
    }
    return { kind: "attribute", name };
  }

  /** A tag key: backquoted or quoted, or words joined by dots (`tags.mlflow.source`). */
  private tagKey(): string {
    const first = this.next("a tag key");
    if (first.t === "string") {
      if (first.v === "") throw new FilterError(`Empty tag key at position ${first.at + 1}`);
      return first.v;
    }
    if (first.t !== "word") throw new FilterError(`Expected a tag key at position ${first.at + 1}`);
    let key = first.v;
    while (this.peek()?.t === "." && this.tokens[this.i + 1]?.t === "word") {
      key += "." + (this.tokens[this.i + 1] as { v: string }).v;
      this.i += 2;
    }
    return key;
  }

  private comparator(field: Field): Comparator {
    const token = this.next("a comparator");
    let comparator: Comparator;
    if (token.t === "op") comparator = token.v === "<>" ? "!=" : token.v;
    else if (token.t === "word" && ["LIKE", "ILIKE", "IN"].includes(token.v.toUpperCase()))
      comparator = token.v.toUpperCase() as Comparator;
    else throw new FilterError(`Expected a comparator (=, !=, LIKE, ILIKE, IN) at position ${token.at + 1}`);
    const allowed = field.kind === "tag" ? STRING_COMPARATORS : this.spec[field.name]!;
    if (!allowed.includes(comparator)) {
      const name = field.kind === "tag" ? `tags.${field.key}` : field.name;
      throw new FilterError(`'${name}' takes ${allowed.join(", ")}, not ${comparator}`);
    }
    return comparator;
  }

  private text(): string {
    const token = this.next("a quoted value");
    if (token.t !== "string" || token.quote === "`")
      throw new FilterError(`Expected a value in single quotes at position ${token.at + 1} (e.g. name = 'my-model')`);
    return token.v;
  }

  private list(): string[] {
    const open = this.next("(");
    if (open.t !== "(") throw new FilterError(`Expected '(' after IN at position ${open.at + 1}`);
    const values = [this.text()];
    for (;;) {
      const token = this.next("',' or ')'");
      if (token.t === ")") return values;
      if (token.t !== ",") throw new FilterError(`Expected ',' or ')' at position ${token.at + 1}`);
      values.push(this.text());
      if (values.length > MAX_IN_VALUES) throw new FilterError(`IN takes at most ${MAX_IN_VALUES} values`);
    }
  }
}

/** The clauses of a filter (all must hold); none for an empty one. Throws FilterError. */
export function parseFilter(text: string | undefined, spec: FilterSpec): Clause[] {
  if (text === undefined || text.trim() === "") return [];
  if (text.length > MAX_FILTER_LENGTH) throw new FilterError(`A filter is at most ${MAX_FILTER_LENGTH} characters`);
  return new Parser(tokenize(text), spec).parse();
}

/**
 * A LIKE pattern split for SQL (`splitPattern`, ./glob.ts): `%` any run, `_` one character,
 * everything else literal. Tested with GLOB, which is case-sensitive as MLflow's LIKE is
 * (SQLite's own LIKE folds ASCII case).
 */
export function splitLike(pattern: string): SplitPattern {
  const tokens: PatternToken[] = [];
  let literal = "";
  for (const ch of pattern) {
    if (ch !== "%" && ch !== "_") {
      literal += ch;
      continue;
    }
    tokens.push({ literal }, { wildcard: ch === "%" ? "*" : "?" });
    literal = "";
  }
  tokens.push({ literal });
  return splitPattern(tokens);
}

/** ASCII lower case, as SQLite's `lower()` folds: ILIKE compares both sides folded this way. */
export const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

export interface OrderItem<K extends string = string> {
  key: K;
  ascending: boolean;
}

/**
 * `order_by` items: `<key> [ASC|DESC]`, the key optionally `attribute.`-prefixed; `aliases`
 * maps other spellings (`timestamp`) to a key. Throws FilterError for any other key.
 */
export function parseOrderBy(
  items: readonly string[],
  keys: readonly string[],
  aliases: Record<string, string> = {},
): OrderItem[] {
  if (items.length > 5) throw new FilterError("order_by takes at most 5 columns");
  return items.map((item) => {
    const words = item.trim().split(/\s+/);
    if (words.length > 2 || words[0] === "")
      throw new FilterError(`Invalid order_by clause '${item}': expected '<column> [ASC|DESC]'`);
    const direction = (words[1] ?? "ASC").toUpperCase();
    if (direction !== "ASC" && direction !== "DESC")
      throw new FilterError(`Invalid order_by direction '${words[1]}': ASC or DESC`);
    let key = words[0]!;
    for (const prefix of ["attribute.", "attributes."]) if (key.startsWith(prefix)) key = key.slice(prefix.length);
    key = aliases[key] ?? key;
    if (!keys.includes(key)) throw new FilterError(`Invalid order_by column '${words[0]}'; one of ${keys.join(", ")}`);
    return { key, ascending: direction === "ASC" };
  });
}
