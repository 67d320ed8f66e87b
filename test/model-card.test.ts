/** src/domain/model-card.ts: front matter found, parsed within limits, and its well-known fields read. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cardMetadata,
  MAX_CARD_DATA_CHARS,
  MAX_FRONT_MATTER_BYTES,
  otherFields,
  parseFrontMatter,
  parseModelCard,
  splitFrontMatter,
} from "../src/domain/model-card";

const errorOf = (yaml: string) => {
  const parsed = parseFrontMatter(yaml);
  expect("error" in parsed, JSON.stringify(parsed).slice(0, 200)).toBe(true);
  return (parsed as { error: string }).error;
};
const dataOf = (yaml: string) => {
  const parsed = parseFrontMatter(yaml);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed.data;
};

describe("splitFrontMatter", () => {
  it("takes the YAML between a first --- line and the next --- or ... line", () => {
    expect(splitFrontMatter("---\na: 1\n---\n# Body\n")).toEqual({ yaml: "a: 1\n", body: "# Body\n" });
    expect(splitFrontMatter("---\na: 1\n...\nbody")).toEqual({ yaml: "a: 1\n", body: "body" });
    expect(splitFrontMatter("---\n---\nbody")).toEqual({ yaml: "", body: "body" });
    expect(splitFrontMatter("---\na: 1\n---")).toEqual({ yaml: "a: 1\n", body: "" });
  });

  it("allows a byte order mark, blank lines before, CRLF and trailing blanks on the markers, as the Hub does", () => {
    expect(splitFrontMatter("\ufeff---\na: 1\n---\nb")).toEqual({ yaml: "a: 1\n", body: "b" });
    expect(splitFrontMatter("\n  \n---\na: 1\n---\nb")).toEqual({ yaml: "a: 1\n", body: "b" });
    expect(splitFrontMatter("---\r\na: 1\r\n--- \r\nb")).toEqual({ yaml: "a: 1\r\n", body: "b" });
  });

  it("finds none without a closing line, or when the card does not start with one", () => {
    expect(splitFrontMatter("---\na: 1\n")).toBeNull();
    expect(splitFrontMatter("# Title\n---\na: 1\n---\n")).toBeNull();
    expect(splitFrontMatter("----\na: 1\n---\n")).toBeNull();
    expect(splitFrontMatter("--- a\nb\n---\n")).toBeNull();
    expect(splitFrontMatter("")).toBeNull();
  });

  it("never throws, and the body is always the end of the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("-", ".", "\n", "\r", " ", "a", ":", "\ufeff") }), (text) => {
        const split = splitFrontMatter(text);
        if (split !== null) expect(text.endsWith(split.body)).toBe(true);
      }),
    );
  });
});

describe("parseFrontMatter", () => {
  it("parses a Hugging Face card's front matter into JSON", () => {
    const data = dataOf(
      [
        "license: apache-2.0",
        "language:",
        "  - en",
        "tags: [text-classification, fraud]",
        "datasets: imdb",
        "base_model: distilbert-base-uncased",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "model-index:",
        "  - name: m",
        "    results:",
        "      - metrics: [{type: accuracy, value: 0.93}]",
        "widget:",
        "  - text: I love it",
      ].join("\n"),
    );
    expect(data).toEqual({
      license: "apache-2.0",
      language: ["en"],
      tags: ["text-classification", "fraud"],
      datasets: "imdb",
      base_model: "distilbert-base-uncased",
      library_name: "transformers",
      pipeline_tag: "text-classification",
      "model-index": [{ name: "m", results: [{ metrics: [{ type: "accuracy", value: 0.93 }] }] }],
      widget: [{ text: "I love it" }],
    });
    expect(JSON.parse(JSON.stringify(data))).toEqual(data);
  });

  it("reads YAML 1.2: dates and yes/no stay text, .inf has no JSON form and becomes null", () => {
    expect(dataOf("d: 2024-01-01\ny: yes\nn: .inf\nh: 0x1F\nz: ~")).toEqual({
      d: "2024-01-01",
      y: "yes",
      n: null,
      h: 31,
      z: null,
    });
  });

  it("takes empty front matter (or comments only) as an empty mapping", () => {
    expect(dataOf("")).toEqual({});
    expect(dataOf("# nothing here\n")).toEqual({});
  });

  it("refuses malformed YAML, duplicate keys, several documents, custom tags and a top level that is not a mapping", () => {
    expect(errorOf("license: [mit\n")).toMatch(/./);
    expect(errorOf("a: 1\na: 2\n")).toMatch(/duplicated mapping key/);
    expect(errorOf("- a\n- b\n")).toBe("the front matter is not a mapping of keys to values");
    expect(errorOf("just text")).toBe("the front matter is not a mapping of keys to values");
    expect(errorOf("a: !!binary aGVsbG8=")).toMatch(/unknown/);
    expect(errorOf("a: !!js/function 'function () {}'")).toMatch(/unknown/);
    // Error messages are one short line.
    expect(errorOf(`a: [${"x, ".repeat(500)}`)).not.toContain("\n");
  });

  it("keeps a key named __proto__ as data", () => {
    const data = dataOf("__proto__: {polluted: true}\nconstructor: x");
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.keys(data)).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("expands aliases within the budget, and refuses a billion laughs, alias floods and cycles", () => {
    expect(dataOf("a: &x [1, 2]\nb: *x")).toEqual({ a: [1, 2], b: [1, 2] });
    const laughs = [
      "a0: &a0 lol",
      ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(", ")}]`),
    ].join("\n");
    expect(errorOf(laughs)).toMatch(/larger than .* once its aliases are expanded|alias/);
    expect(errorOf(`a: &a x\nb: [${Array(101).fill("*a").join(", ")}]`)).toMatch(/alias/i);
    // Few aliases, each naming a long string: the expanded size is what counts.
    expect(errorOf(`a: &a ${"x".repeat(40_000)}\nb: [${Array(10).fill("*a").join(", ")}]`)).toBe(
      `the metadata is larger than ${MAX_CARD_DATA_CHARS / 1024} KiB once its aliases are expanded`,
    );
    expect(errorOf("a: &a [*a]")).toMatch(/nests deeper/);
  });

  it("refuses front matter over its size and nesting limits", () => {
    expect(errorOf(`a: "${"x".repeat(MAX_FRONT_MATTER_BYTES)}"`)).toMatch(/more than the 64 KiB read/);
    // Multibyte characters count as their UTF-8 bytes.
    expect(errorOf(`a: "${"é".repeat(MAX_FRONT_MATTER_BYTES / 2)}"`)).toMatch(/more than the 64 KiB read/);
    expect(errorOf(`a: ${"[".repeat(40)}${"]".repeat(40)}`)).toMatch(/maxDepth|nest/);
    expect(errorOf("[".repeat(50_000))).toMatch(/./);
  });
});

describe("cardMetadata", () => {
  it("reads single values and lists alike, as text, once each", () => {
    expect(
      cardMetadata({
        license: "mit",
        language: "en",
        tags: ["a", "a", 2024, true, null, { x: 1 }, ["y"], " "],
        datasets: [],
        base_model: ["m1", "m2"],
      }),
    ).toEqual({
      license: ["mit"],
      tags: ["a", "2024", "true"],
      datasets: [],
      base_model: ["m1", "m2"],
      language: ["en"],
      library_name: null,
      pipeline_tag: null,
    });
  });

  it("takes library_name and pipeline_tag as one value (the first of a list)", () => {
    const meta = cardMetadata({ library_name: ["transformers", "onnx"], pipeline_tag: "fill-mask" });
    expect(meta.library_name).toBe("transformers");
    expect(meta.pipeline_tag).toBe("fill-mask");
    expect(cardMetadata({ library_name: { x: 1 }, pipeline_tag: 3 })).toMatchObject({
      library_name: null,
      pipeline_tag: "3",
    });
  });

  it("lists the other fields in the card's order", () => {
    expect(otherFields({ license: "mit", widget: [], "model-index": [], tags: [] })).toEqual([
      ["widget", []],
      ["model-index", []],
    ]);
  });
});

describe("parseModelCard", () => {
  it("splits, parses and reads a card", () => {
    const card = parseModelCard("---\nlicense: mit\ntags: [a]\n---\n# Model\n");
    expect(card.body).toBe("# Model\n");
    expect(card.error).toBeNull();
    expect(card.data).toEqual({ license: "mit", tags: ["a"] });
    expect(card.metadata.license).toEqual(["mit"]);
  });

  it("keeps the body and names the problem when the front matter cannot be read", () => {
    const card = parseModelCard("---\na: [\n---\n# Model\n");
    expect(card.body).toBe("# Model\n");
    expect(card.data).toBeNull();
    expect(card.error).toMatch(/./);
    expect(card.metadata.tags).toEqual([]);
  });

  it("takes a card without front matter as all body", () => {
    expect(parseModelCard("# Model\n---\nx")).toMatchObject({ body: "# Model\n---\nx", data: null, error: null });
  });
});
