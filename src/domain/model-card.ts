/**
 * A model card: a version's `README.md`, Markdown with optional YAML front matter between
 * `---` lines at its top, as on the Hugging Face Hub. The front matter carries the card's
 * metadata (license, tags, datasets, base model, languages, library, pipeline tag, and
 * anything else: `model-index`, `widget`, ...). The web UI shows it as metadata, and a Hub
 * bridge serves it as `cardData`, `tags`, `library_name` and `pipeline_tag`.
 *
 * The card is user input, so every step is bounded: the front matter is found by a linear
 * scan (no backtracking regex) and parsed by js-yaml only up to MAX_FRONT_MATTER_BYTES, with
 * nesting and aliases capped; aliases make the result a graph with shared (even circular)
 * parts, so it is copied into plain JSON no deeper than MAX_JSON_DEPTH and no larger than
 * MAX_CARD_DATA_CHARS once expanded: a billion-laughs document fails instead of expanding. A
 * front matter that fails any of this leaves the body intact and says why.
 */
import { CORE_SCHEMA, loadAll } from "js-yaml";
import { setOwn } from "./canonical-json";
import { MAX_JSON_DEPTH } from "./limits";

/** Front matter larger than this (UTF-8) is not parsed. Real cards' front matter is a few KiB. */
export const MAX_FRONT_MATTER_BYTES = 64 * 1024;
/** Alias nodes (`*name`) in one front matter. The parser shares, not copies, what they name. */
export const MAX_FRONT_MATTER_ALIASES = 100;
/** The metadata's size as JSON text after aliases are expanded, counted in characters (escapes aside). */
export const MAX_CARD_DATA_CHARS = 256 * 1024;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The front matter fields a card's reader looks for first, normalised to strings. */
export interface CardMetadata {
  license: string[];
  tags: string[];
  datasets: string[];
  base_model: string[];
  language: string[];
  library_name: string | null;
  pipeline_tag: string | null;
}

/** The fields CardMetadata names; `otherFields` lists the rest. */
export const CARD_FIELDS = [
  "license",
  "tags",
  "datasets",
  "base_model",
  "language",
  "library_name",
  "pipeline_tag",
] as const;

export interface ModelCard {
  /** The Markdown after the front matter (the whole text when there is none). */
  body: string;
  /** The front matter as JSON (the Hub's `cardData`): null when there is none or it could not be read. */
  data: JsonObject | null;
  /** Why the front matter could not be read; null when it could, or there is none. */
  error: string | null;
  metadata: CardMetadata;
}

const EMPTY_METADATA: CardMetadata = {
  license: [],
  tags: [],
  datasets: [],
  base_model: [],
  language: [],
  library_name: null,
  pipeline_tag: null,
};

const isBlank = (text: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
};

/** Whether the line [from, to) is `marker` followed by nothing but blanks. */
const isMarkerLine = (text: string, from: number, to: number, marker: string): boolean =>
  text.startsWith(marker, from) && isBlank(text, from + marker.length, to);

/**
 * Splits the front matter from the body: a first `---` line (blank lines and a byte order
 * mark may precede it, as the Hub allows) up to the next `---` or `...` line. Without a
 * closing line there is no front matter. One pass over the lines, so linear in the text.
 */
export function splitFrontMatter(text: string): { yaml: string; body: string } | null {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    const end = text.indexOf("\n", pos);
    if (end === -1) return null;
    if (isMarkerLine(text, pos, end, "---")) {
      pos = end + 1;
      break;
    }
    if (!isBlank(text, pos, end)) return null;
    pos = end + 1;
  }
  const yamlStart = pos;
  while (pos <= text.length) {
    const newline = text.indexOf("\n", pos);
    const end = newline === -1 ? text.length : newline;
    if (isMarkerLine(text, pos, end, "---") || isMarkerLine(text, pos, end, "...")) {
      return { yaml: text.slice(yamlStart, pos), body: newline === -1 ? "" : text.slice(newline + 1) };
    }
    if (newline === -1) break;
    pos = newline + 1;
  }
  return null;
}

class CardDataError extends Error {}

/**
 * A plain JSON copy of what the YAML parser produced, within the depth and size budgets. The
 * copy counts every visit of a shared part, so a document whose expansion is large fails
 * here even when its source is small, and a cycle fails on depth.
 */
function toJson(value: unknown, depth: number, budget: { chars: number }): JsonValue {
  const spend = (chars: number) => {
    budget.chars -= chars;
    if (budget.chars < 0)
      throw new CardDataError(
        `the metadata is larger than ${MAX_CARD_DATA_CHARS / 1024} KiB once its aliases are expanded`,
      );
  };
  if (value === null || value === undefined) {
    spend(4);
    return null;
  }
  if (typeof value === "string") {
    spend(value.length + 2);
    return value;
  }
  if (typeof value === "boolean") {
    spend(5);
    return value;
  }
  if (typeof value === "number") {
    // .inf and .nan have no JSON form; JSON.stringify writes them as null too.
    spend(Number.isFinite(value) ? String(value).length : 4);
    return Number.isFinite(value) ? value : null;
  }
  if (typeof value !== "object") throw new CardDataError(`the metadata holds a ${typeof value}, which JSON cannot`);
  if (depth > MAX_JSON_DEPTH) throw new CardDataError(`the metadata nests deeper than ${MAX_JSON_DEPTH} levels`);
  spend(2);
  if (Array.isArray(value)) {
    return value.map((item: unknown) => {
      spend(1);
      return toJson(item, depth + 1, budget);
    });
  }
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    spend(key.length + 4);
    setOwn(out, key, toJson(item, depth + 1, budget));
  }
  return out;
}

/** The first line of a parser's message, short enough to show. */
const shortReason = (message: string): string => {
  const line = (message.split("\n", 1)[0] ?? "").replace(/:$/, "");
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
};

/**
 * Parses front matter YAML into a JSON object: YAML 1.2 core schema (no custom tags, no
 * merge keys), duplicate keys refused, nesting and aliases capped by the parser, then copied
 * within the expansion budget. The top level must be a mapping (the Hub refuses anything
 * else too); empty front matter is an empty mapping.
 */
export function parseFrontMatter(yaml: string): { data: JsonObject } | { error: string } {
  const bytes = new TextEncoder().encode(yaml).byteLength;
  if (bytes > MAX_FRONT_MATTER_BYTES)
    return { error: `the front matter is ${bytes} bytes, more than the ${MAX_FRONT_MATTER_BYTES / 1024} KiB read` };
  try {
    // loadAll, not load: an empty source (or one of only comments) is no document, not an error.
    const docs = loadAll(yaml, { schema: CORE_SCHEMA, maxDepth: MAX_JSON_DEPTH, maxAliases: MAX_FRONT_MATTER_ALIASES });
    if (docs.length > 1) return { error: "the front matter holds more than one YAML document" };
    const value = docs[0];
    if (value === null || value === undefined) return { data: {} };
    if (typeof value !== "object" || Array.isArray(value))
      return { error: "the front matter is not a mapping of keys to values" };
    return { data: toJson(value, 1, { chars: MAX_CARD_DATA_CHARS }) as JsonObject };
  } catch (e) {
    // The library says: treat any exception from it as a rejected document.
    if (e instanceof CardDataError) return { error: e.message };
    if (e instanceof RangeError) return { error: "the front matter nests too deeply" };
    if (e instanceof Error) return { error: shortReason(e.message) };
    throw e;
  }
}

const own = (data: JsonObject, key: string): JsonValue | undefined =>
  Object.hasOwn(data, key) ? data[key] : undefined;

const scalarText = (value: JsonValue | undefined): string | null =>
  typeof value === "string"
    ? value.trim() || null
    : typeof value === "number" || typeof value === "boolean"
      ? String(value)
      : null;

/** A field that may be one value or a list (`language: en` or `language: [en, fr]`): its scalars as text, once each. */
function textList(value: JsonValue | undefined): string[] {
  const items = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const item of items) {
    const text = scalarText(item);
    if (text !== null && !out.includes(text)) out.push(text);
  }
  return out;
}

/** A field that is one value; a list gives its first scalar. */
const oneText = (value: JsonValue | undefined): string | null =>
  Array.isArray(value) ? (textList(value)[0] ?? null) : scalarText(value);

export function cardMetadata(data: JsonObject): CardMetadata {
  return {
    license: textList(own(data, "license")),
    tags: textList(own(data, "tags")),
    datasets: textList(own(data, "datasets")),
    base_model: textList(own(data, "base_model")),
    language: textList(own(data, "language")),
    library_name: oneText(own(data, "library_name")),
    pipeline_tag: oneText(own(data, "pipeline_tag")),
  };
}

/** The front matter's fields beyond CARD_FIELDS, in the card's order. */
export function otherFields(data: JsonObject): [string, JsonValue][] {
  const known: readonly string[] = CARD_FIELDS;
  return Object.entries(data).filter(([key]) => !known.includes(key));
}

/** A README split into front matter (parsed) and body. */
export function parseModelCard(text: string): ModelCard {
  const split = splitFrontMatter(text);
  if (split === null) return { body: text, data: null, error: null, metadata: EMPTY_METADATA };
  const parsed = parseFrontMatter(split.yaml);
  if ("error" in parsed) return { body: split.body, data: null, error: parsed.error, metadata: EMPTY_METADATA };
  return { body: split.body, data: parsed.data, error: null, metadata: cardMetadata(parsed.data) };
}
