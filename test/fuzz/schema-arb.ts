/**
 * JSON Schema (the subset zod's `toJSONSchema` writes into /openapi.json) → fast-check
 * arbitraries of values that satisfy it. Field names the fixtures know (`model`, `version`,
 * `alias`, …) draw mostly from the fixtures' pools, so a "valid" request names things that
 * exist and reaches past the 404s into the handlers.
 */
import fc from "fast-check";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Schema = { [key: string]: unknown };

/** Values that exist on the server, by field or parameter name. */
export type Pools = Record<string, readonly Json[]>;

const asSchema = (value: unknown): Schema => (value && typeof value === "object" ? (value as Schema) : {});
const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

export class SchemaArbs {
  constructor(
    private readonly components: Record<string, Schema>,
    private readonly pools: () => Pools,
  ) {}

  /** Follows a local `$ref` (`#/components/schemas/X`). */
  resolve(schema: Schema): Schema {
    let s = schema;
    for (let hops = 0; typeof s.$ref === "string" && hops < 16; hops++) {
      const name = s.$ref.split("/").pop() ?? "";
      s = {
        ...asSchema(this.components[name]),
        ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")),
      };
    }
    return s;
  }

  /** An arbitrary of values valid for `schema`; `name` is the field it fills (for the pools). */
  of(schema: Schema, name = "", depth = 0): fc.Arbitrary<Json> {
    const s = this.resolve(schema);
    const generated = this.generated(s, name, depth);
    const pool = this.pools()[name];
    if (!pool || pool.length === 0) return generated;
    // The pool is read when the value is drawn: fixtures grow during a run.
    const fromPool = fc.nat().map((i) => {
      const current = this.pools()[name] ?? pool;
      return current[i % current.length] ?? null;
    });
    return fc.oneof({ arbitrary: fromPool, weight: 4 }, { arbitrary: generated, weight: 1 });
  }

  private generated(s: Schema, name: string, depth: number): fc.Arbitrary<Json> {
    if ("const" in s) return fc.constant(s.const as Json);
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as Json[]));
    const alternatives = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
    if (Array.isArray(alternatives) && alternatives.length > 0) {
      return fc.oneof(...alternatives.map((alt) => this.of(asSchema(alt), name, depth + 1)));
    }
    if (Array.isArray(s.allOf) && s.allOf.length > 0) return this.of(asSchema(s.allOf[0]), name, depth + 1);
    const type = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === "string" ? [s.type] : [];
    if (type.length > 1) return fc.oneof(...type.map((t) => this.generated({ ...s, type: t }, name, depth)));
    switch (type[0]) {
      case "null":
        return fc.constant(null);
      case "boolean":
        return fc.boolean();
      case "integer":
        return this.integer(s);
      case "number":
        return this.number(s);
      case "string":
        return this.string(s);
      case "array":
        return this.array(s, name, depth);
      case "object":
        return this.object(s, depth);
      default:
        if (s.properties) return this.object(s, depth);
        return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
    }
  }

  private integer(s: Schema): fc.Arbitrary<Json> {
    const exclusiveMin = num(s.exclusiveMinimum);
    const min = Math.max(
      num(s.minimum) ?? (exclusiveMin !== undefined ? exclusiveMin + 1 : -1000),
      Number.MIN_SAFE_INTEGER,
    );
    const max = Math.min(num(s.maximum) ?? (num(s.exclusiveMaximum) ?? 1_000_001) - 1, Number.MAX_SAFE_INTEGER);
    // Mostly small values: versions, limits and counts that mean something here.
    const small = fc.integer({ min, max: Math.min(max, Math.max(min, 0) + 20) });
    return fc.oneof({ arbitrary: small, weight: 3 }, { arbitrary: fc.integer({ min, max }), weight: 1 });
  }

  private number(s: Schema): fc.Arbitrary<Json> {
    const min = num(s.minimum) ?? num(s.exclusiveMinimum) ?? -1e6;
    const max = num(s.maximum) ?? num(s.exclusiveMaximum) ?? 1e6;
    return fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
  }

  private string(s: Schema): fc.Arbitrary<Json> {
    const minLength = num(s.minLength) ?? 0;
    const maxLength = Math.min(num(s.maxLength) ?? 24, minLength + 24);
    if (s.format === "date-time") {
      return fc
        .date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2030-01-01T00:00:00Z"), noInvalidDate: true })
        .map((d) => d.toISOString());
    }
    if (typeof s.pattern === "string") {
      try {
        const re = new RegExp(s.pattern);
        return fc.stringMatching(re).filter((x) => x.length >= minLength && x.length <= (num(s.maxLength) ?? Infinity));
      } catch {
        // A pattern JavaScript cannot compile: fall through to a plain string.
      }
    }
    return fc.string({ minLength, maxLength, unit: "grapheme" });
  }

  private array(s: Schema, name: string, depth: number): fc.Arbitrary<Json> {
    if (Array.isArray(s.prefixItems)) {
      return fc.tuple(...s.prefixItems.map((item) => this.of(asSchema(item), name, depth + 1))) as fc.Arbitrary<Json>;
    }
    const minLength = num(s.minItems) ?? 0;
    const maxLength = Math.min(num(s.maxItems) ?? 4, minLength + 4);
    if (depth > 4) return fc.constant([]);
    return fc.array(this.of(asSchema(s.items), name, depth + 1), { minLength, maxLength });
  }

  private object(s: Schema, depth: number): fc.Arbitrary<Json> {
    const properties = asSchema(s.properties);
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const record: Record<string, fc.Arbitrary<Json>> = {};
    for (const [key, sub] of Object.entries(properties)) record[key] = this.of(asSchema(sub), key, depth + 1);
    const requiredKeys = Object.keys(record).filter((k) => required.has(k));
    const fixed = fc.record(record, { requiredKeys }) as fc.Arbitrary<Record<string, Json>>;
    const extra = s.additionalProperties;
    if (!extra || typeof extra !== "object" || depth > 4) return fixed;
    const keySchema = asSchema(s.propertyNames);
    const keys = this.string({
      ...keySchema,
      minLength: Math.max(1, num(keySchema.minLength) ?? 1),
    }) as fc.Arbitrary<string>;
    const dict = fc.dictionary(keys, this.of(asSchema(extra), "", depth + 1), { maxKeys: 4 });
    return fc.tuple(fixed, dict).map(([a, b]) => ({ ...b, ...a }));
  }
}
