/**
 * MLflow's search filter grammar (src/domain/mlflow-filter.ts), property-tested with
 * fast-check: what is rendered from clauses parses back to them, anything else is a
 * FilterError (never another exception), near-matches cost linear time, and LIKE patterns
 * as the store runs them (split: literal ends by substr, the span between wildcards by GLOB)
 * mean in D1 what LIKE means in MLflow (a case-sensitive match where `%` is any run and `_`
 * one character), at any length D1 takes; longer ones are refused at parse time.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { childrenOf, fromMlflowStage, mregNameFor, parseArtifactPath } from "../src/domain/mlflow";
import {
  FilterError,
  MAX_CLAUSES,
  MODEL_FILTER,
  parseFilter,
  parseOrderBy,
  tokenize,
  VERSION_FILTER,
  splitLike,
  type Clause,
  type Comparator,
} from "../src/domain/mlflow-filter";
import { patternSql } from "../src/db/pattern-sql";
import { fitsD1, globPattern } from "../src/domain/glob";
import { costAgainstScan, LINEAR_BOUND } from "./linear-cost";

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** A clause the version search takes, with a value of any text (quotes included). */
const clauseArb: fc.Arbitrary<Clause> = fc.oneof(
  fc.record({
    field: fc.constant({ kind: "attribute" as const, name: "name" }),
    comparator: fc.constantFrom<Comparator>("=", "!=", "LIKE", "ILIKE"),
    value: fc.string(),
  }),
  fc.record({
    field: fc.constant({ kind: "attribute" as const, name: "run_id" }),
    comparator: fc.constantFrom<Comparator>("=", "!="),
    value: fc.string(),
  }),
  fc.record({
    field: fc.constant({ kind: "attribute" as const, name: "run_id" }),
    comparator: fc.constant<Comparator>("IN"),
    value: fc.array(fc.string(), { minLength: 1, maxLength: 5 }),
  }),
  fc.record({
    field: fc.record({
      kind: fc.constant("tag" as const),
      key: fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,8}){0,2}$/),
    }),
    comparator: fc.constantFrom<Comparator>("=", "!=", "LIKE", "ILIKE"),
    value: fc.string(),
  }),
);

/** Renders a clause as a person or a client would type it: any keyword case, any spacing, optional prefixes. */
function render(clause: Clause, style: { lower: boolean; space: string; prefix: boolean; backtick: boolean }): string {
  const kw = (word: string) => (style.lower ? word.toLowerCase() : word);
  const field =
    clause.field.kind === "attribute"
      ? `${style.prefix ? "attributes." : ""}${clause.field.name}`
      : `tags.${style.backtick ? "`" + clause.field.key + "`" : clause.field.key}`;
  const op = ["LIKE", "ILIKE", "IN"].includes(clause.comparator)
    ? ` ${kw(clause.comparator)} `
    : `${style.space}${clause.comparator}${style.space}`;
  const value = Array.isArray(clause.value)
    ? `(${clause.value.map(quote).join(`,${style.space}`)})`
    : quote(clause.value);
  return `${field}${op}${value}`;
}

describe("parseFilter", () => {
  it("parses back every filter rendered from clauses", () => {
    const style = fc.record({
      lower: fc.boolean(),
      space: fc.constantFrom("", " ", "  ", "\t"),
      prefix: fc.boolean(),
      backtick: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(clauseArb, { minLength: 1, maxLength: 6 }), style, (clauses, s) => {
        const text = clauses.map((c) => render(c, s)).join(` ${s.lower ? "and" : "AND"} `);
        expect(parseFilter(text, VERSION_FILTER)).toEqual(clauses);
      }),
      { numRuns: 500 },
    );
  });

  it("throws only FilterError on any other text", () => {
    const pieces = fc.constantFrom(
      "name",
      "run_id",
      "tags",
      ".",
      "=",
      "!=",
      "<>",
      "LIKE",
      "IN",
      "AND",
      "OR",
      "(",
      ")",
      ",",
      "'a'",
      "'",
      '"b"',
      "`k`",
      " ",
      "x",
      "1",
      "%",
      ";",
      "--",
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(pieces, { maxLength: 20 }).map((p) => p.join("")),
        ),
        (text) => {
          try {
            parseFilter(text, VERSION_FILTER);
          } catch (err) {
            expect(err).toBeInstanceOf(FilterError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("takes what MLflow's clients send, and refuses the rest with a message that says what is wrong", () => {
    expect(parseFilter("name='fraud'", MODEL_FILTER)).toEqual([
      { field: { kind: "attribute", name: "name" }, comparator: "=", value: "fraud" },
    ]);
    expect(parseFilter(`name = "fraud"`, MODEL_FILTER)[0]!.value).toBe("fraud");
    expect(parseFilter("name LIKE 'it''s%'", MODEL_FILTER)[0]!.value).toBe("it's%");
    expect(parseFilter("tags.`mlflow.source` = 'x'", MODEL_FILTER)[0]!.field).toEqual({
      kind: "tag",
      key: "mlflow.source",
    });
    expect(parseFilter("", MODEL_FILTER)).toEqual([]);
    const refusals: [string, string][] = [
      ["run_id = 'x'", "Invalid attribute 'run_id'"],
      ["name = 'a' OR name = 'b'", "OR is not supported"],
      ["name = fraud", "Expected a value in single quotes"],
      ["name IN ('a')", "'name' takes =, !=, LIKE, ILIKE, not IN"],
      ["params.x = 'a'", "Invalid entity type 'params'"],
      ["name = 'a", "Unterminated"],
      ["name = 'a' AND", "ends where a field"],
      ["name ~ 'a'", "Unexpected character '~'"],
    ];
    for (const [text, message] of refusals) expect(() => parseFilter(text, MODEL_FILTER), text).toThrow(message);
    const many = Array.from({ length: MAX_CLAUSES + 1 }, () => "name = 'a'").join(" AND ");
    expect(() => parseFilter(many, MODEL_FILTER)).toThrow(`at most ${MAX_CLAUSES}`);
  });

  it("costs linear time on 100 KB of near-matches", () => {
    const cases = [
      "name = '" + "a''".repeat(33_000),
      "tags." + "a.".repeat(50_000),
      "name LIKE '" + "%_".repeat(50_000) + "'",
      "(".repeat(100_000),
      "name = 'x' AND ".repeat(7_000),
      "'" + "''".repeat(50_000),
    ];
    for (const text of cases) {
      const work = () => {
        try {
          tokenize(text);
          parseFilter(text.slice(0, 16 * 1024), VERSION_FILTER);
        } catch (err) {
          expect(err).toBeInstanceOf(FilterError);
        }
      };
      const ratio = costAgainstScan(work, [text]);
      expect(ratio, text.slice(0, 20)).toBeLessThan(LINEAR_BOUND);
    }
  });
});

describe("LIKE patterns in D1", () => {
  /** MLflow's LIKE, by dynamic programming: `%` any run, `_` one character, everything else itself, case-sensitive. */
  function like(text: string, pattern: string): boolean {
    const t = [...text];
    const p = [...pattern];
    let row = Array<boolean>(t.length + 1).fill(false);
    row[0] = true;
    for (const ch of p) {
      const next = Array<boolean>(t.length + 1).fill(false);
      next[0] = ch === "%" && row[0]!;
      for (let j = 1; j <= t.length; j++) {
        next[j] = ch === "%" ? row[j]! || next[j - 1]! : row[j - 1]! && (ch === "_" || ch === t[j - 1]);
      }
      row = next;
    }
    return row[t.length]!;
  }

  it("match exactly what LIKE matches, GLOB's metacharacters and literal runs past D1's 50-byte limit included", async () => {
    const alphabet = fc.constantFrom("a", "A", "b", "%", "_", "*", "?", "[", "]", "^", "-", "é");
    const text = fc
      .array(
        fc.oneof(
          { weight: 9, arbitrary: alphabet },
          { weight: 1, arbitrary: fc.constantFrom("a".repeat(40), "é".repeat(30)) },
        ),
        { maxLength: 8 },
      )
      .map((c) => c.join(""));
    const pairs = fc.sample(fc.tuple(text, text), 400);
    const runnable = pairs.filter(([, pattern]) => fitsD1(splitLike(pattern).middle));
    expect(runnable.length).toBeGreaterThan(300);
    // Many of them too long for one GLOB: those are tested split.
    expect(runnable.filter(([, pattern]) => !fitsD1(globPattern(splitLike(pattern)))).length).toBeGreaterThan(20);
    const statements = runnable.map(([value, pattern]) => {
      const test = patternSql("t.v", splitLike(pattern));
      return env.DB.prepare(`SELECT (${test.text}) AS hit FROM (SELECT ? AS v) AS t`).bind(...test.params, value);
    });
    const results = await env.DB.batch<{ hit: number }>(statements);
    runnable.forEach(([value, pattern], i) => {
      expect(results[i]!.results[0]!.hit === 1, `${JSON.stringify(value)} LIKE ${JSON.stringify(pattern)}`).toBe(
        like(value, pattern),
      );
    });
    // What D1 cannot run is refused when the filter is parsed.
    for (const [, pattern] of pairs.filter((p) => !runnable.includes(p))) {
      expect(() => parseFilter(`name LIKE ${quote(pattern)}`, MODEL_FILTER)).toThrow(/too complex/);
    }
  });
});

describe("mappings", () => {
  it("reads order_by items, stages, artifact paths, listings and import names", () => {
    expect(
      parseOrderBy(["name DESC", "attribute.timestamp"], ["name", "creation_timestamp"], {
        timestamp: "creation_timestamp",
      }),
    ).toEqual([
      { key: "name", ascending: false },
      { key: "creation_timestamp", ascending: true },
    ]);
    expect(() => parseOrderBy(["name UP"], ["name"])).toThrow(FilterError);
    expect(fromMlflowStage("PRODUCTION")).toBe("production");
    expect(fromMlflowStage("live")).toBeNull();
    expect(parseArtifactPath("models/fraud/versions/3/sub/MLmodel")).toEqual({
      model: "fraud",
      version: 3,
      rest: "sub/MLmodel",
    });
    expect(parseArtifactPath("/models/fraud/versions/3/")).toEqual({ model: "fraud", version: 3, rest: "" });
    for (const bad of ["models/Fraud/versions/3", "models/fraud/versions/03", "runs/x/versions/1", "models/fraud"])
      expect(parseArtifactPath(bad)).toBeNull();
    const files = [
      { path: "a/b/c.txt", size: 1 },
      { path: "a/d.txt", size: 2 },
      { path: "MLmodel", size: 3 },
    ];
    expect(childrenOf(files, "")).toEqual([
      { path: "a", is_dir: true },
      { path: "MLmodel", is_dir: false, file_size: 3 },
    ]);
    expect(childrenOf(files, "a")).toEqual([
      { path: "b", is_dir: true },
      { path: "d.txt", is_dir: false, file_size: 2 },
    ]);
    expect(childrenOf(files, "MLmodel")).toEqual([]);
    expect(mregNameFor("Payment Fraud (v2)")).toBe("payment-fraud-v2");
    expect(mregNameFor("already-fine.v1")).toBe("already-fine.v1");
    expect(mregNameFor("!!!")).toBeNull();
    fc.assert(
      fc.property(fc.string(), (name) => {
        const mapped = mregNameFor(name);
        if (mapped !== null) expect(mapped).toMatch(/^[a-z0-9][a-z0-9._-]{0,127}$/);
      }),
    );
  });
});
