/**
 * A pathological corpus for the model-card renderer, generated in code: each input is what
 * an attacker would upload as a README.md to stall the isolate that renders the version page
 * (deep nesting, long runs of delimiters that parsers match pairwise, tables that expand, YAML
 * that expands) plus seeded random bytes. Each entry makes its input for a size in bytes (most
 * fill it; a few have a fixed shape), never more than MAX_INPUT bytes of UTF-8, the largest
 * card the page renders.
 */
import { parseModelCard } from "../src/domain/model-card";
import { renderMarkdown } from "../src/ui/markdown";
import { MAX_CARD_BYTES } from "../src/ui/model-card";

export const MAX_INPUT = MAX_CARD_BYTES;

const utf8 = new TextEncoder();
export const byteLength = (s: string): number => utf8.encode(s).byteLength;

/** `unit` repeated as often as fits in `bytes` after `head` and before `tail`. */
function fill(bytes: number, unit: string, { head = "", tail = "" } = {}): string {
  const room = bytes - byteLength(head) - byteLength(tail);
  return head + unit.repeat(Math.max(0, Math.floor(room / byteLength(unit)))) + tail;
}

/** Lines from `line(i)` for i = 0, 1, ... while they fit in `bytes` (ASCII lines: length is bytes). */
function lines(bytes: number, line: (i: number) => string): string {
  let out = "";
  for (let i = 0; ; i++) {
    const next = `${line(i)}\n`;
    if (out.length + next.length > bytes) return out;
    out += next;
  }
}

/** Deterministic (mulberry32) bytes, decoded as the page decodes a card: UTF-8 with replacement. */
function randomText(bytes: number, seed: number, alphabet?: string): string {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  if (alphabet) return Array.from({ length: bytes }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
  const raw = new Uint8Array(bytes);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(next() * 256);
  // A replacement character takes three bytes: cut back to the size at a character boundary.
  let text = new TextDecoder().decode(raw);
  while (byteLength(text) > bytes) text = text.slice(0, text.length - Math.ceil((byteLength(text) - bytes) / 3));
  return text;
}

/**
 * Front matter sized to stay under the 64 KiB the card parser reads, so the YAML parser
 * itself is what gets timed (one entry below goes over instead).
 */
const FRONT_MATTER_BYTES = 60 * 1024;
const frontMatter = (yaml: string, body = "# Card\n") => `---\n${yaml}\n---\n${body}`;

function billionLaughs(levels: number, fan: number): string {
  const out = ["a0: &a0 lol"];
  for (let i = 1; i <= levels; i++)
    out.push(`a${i}: &a${i} [${Array.from({ length: fan }, () => `*a${i - 1}`).join(", ")}]`);
  return out.join("\n");
}

const PROSE =
  "This model scores card transactions for fraud. It was trained on ninety days of labelled data, " +
  "evaluated on a holdout set, and is meant for real-time scoring in the payments path (not credit decisions).\n\n";

export type Make = (bytes: number) => string;

/** Every input by name. Where a shape can be built two ways (one line, many lines), both are here. */
export function corpus(): [name: string, make: Make][] {
  const deepList = (depth: number) =>
    Array.from({ length: depth }, (_, i) => `${"  ".repeat(i)}- item ${i}`).join("\n");
  const wideRow = (cells: number, cell: string) => `|${`${cell}|`.repeat(cells)}\n`;
  const entries: [string, Make][] = [
    // The README that held the old renderer's heading regex for seconds: 3 KB on one line.
    ["3 KB heading with a line separator", () => `# a${" ".repeat(3000)}\u2028a`],
    ["heading-like lines", (b) => fill(b, `# a${" ".repeat(1000)}\u2028a\n`)],
    ["heading lines with tabs and closing hashes", (b) => fill(b, "# a\t\t\t #\t# #\t\u2029\n")],
    ["# run", (b) => fill(b, "#")],
    ["# runs on lines", (b) => fill(b, "####### x\n")],
    ["# then spaces and #", (b) => fill(b, "# #", { head: "#" })],
    ["setext underlines", (b) => fill(b, "a\n=\n-\n")],
    ["> run", (b) => fill(b, ">")],
    ["> nesting", (b) => fill(b, "> ", { tail: "x" })],
    ["> nesting line by line", (b) => lines(b, (i) => `${"> ".repeat(i)}q`)],
    ["[ run", (b) => fill(b, "[")],
    ["] run", (b) => fill(b, "]")],
    ["[]( run", (b) => fill(b, "[](")],
    ["[](( run", (b) => fill(b, "[]((")],
    ["]( run", (b) => fill(b, "](")],
    ["[a]( run", (b) => fill(b, "[a](")],
    ["![ run", (b) => fill(b, "![")],
    ["[ with newlines", (b) => fill(b, "]([\n")],
    ["link titles unclosed", (b) => fill(b, '[a](b "')],
    ["link destinations in angle brackets", (b) => fill(b, "[a](<")],
    ["links", (b) => fill(b, "[a](https://example.com/x) ")],
    ["images", (b) => fill(b, "![a](i.png) ")],
    ["* run", (b) => fill(b, "*")],
    ["_ run", (b) => fill(b, "_")],
    ["*_ run", (b) => fill(b, "*_")],
    ["**_* run", (b) => fill(b, "**_* ")],
    ["emphasis openers", (b) => fill(b, "*a ")],
    ["emphasis closers", (b) => fill(b, "a* ")],
    ["strong and em interleaved", (b) => fill(b, "**a*b_c__")],
    ["_a_ run", (b) => fill(b, "_a_")],
    ["~ run", (b) => fill(b, "~~a ")],
    ["` run", (b) => fill(b, "`")],
    ["\\`` run", (b) => fill(b, "\\``")],
    ["``\\ run", (b) => fill(b, "``\\")],
    [
      "backticks of growing length",
      (b) => {
        let out = "";
        for (let n = 1; out.length + n + 1 <= b; n++) out += `${"`".repeat(n)}a`;
        return out;
      },
    ],
    ["fences", (b) => fill(b, "```\n")],
    ["~~~ fences", (b) => fill(b, "~~~a\n")],
    ["unclosed fence", (b) => fill(b, "x\n", { head: "```\n" })],
    ["indented code blocks", (b) => fill(b, "    a\n\n")],
    ["paragraphs", (b) => fill(b, "a\n\n")],
    ["prose", (b) => fill(b, PROSE)],
    ["link reference definitions", (b) => fill(b, "[a]: /u\n", { tail: "[a]" })],
    ["distinct reference definitions", (b) => lines(b, (i) => `[r${i}]: /u${i} "t"`)],
    ["references without definitions", (b) => fill(b, "[a][b]")],
    ["list markers nested 10k deep", () => `${"- ".repeat(10_000)}x`],
    ["ordered list markers nested 10k deep", () => `${"1. ".repeat(10_000)}x`],
    ["list markers then quotes", (b) => fill(b, "- > ")],
    [
      "indented lists nested as deep as fits",
      (b) => {
        let depth = 1;
        while (byteLength(deepList(depth + 1)) <= b) depth++;
        return deepList(depth);
      },
    ],
    ["many list items", (b) => fill(b, "- a\n")],
    ["many ordered list items", (b) => fill(b, "1. a\n")],
    ["task list items", (b) => fill(b, "- [ ] a\n")],
    [
      "wide table",
      (b) => {
        const cells = Math.floor((b - 8) / 6);
        return `${wideRow(cells, "a")}${wideRow(cells, "-")}${wideRow(cells, "1")}`;
      },
    ],
    ["long table", (b) => fill(b, "|1|2|\n", { head: "|a|b|\n|-|-|\n" })],
    [
      "table of ten text columns",
      (b) => fill(b, `|${" cell *x* |".repeat(10)}\n`, { head: `${wideRow(10, " h ")}${wideRow(10, "---")}` }),
    ],
    [
      "table whose rows the parser pads",
      (b) =>
        fill(b, "|\n", {
          head: `${wideRow(Math.min(5_000, Math.floor(b / 8)), "a")}${wideRow(Math.min(5_000, Math.floor(b / 8)), "-")}`,
        }),
    ],
    ["table delimiter rows only", (b) => fill(b, "|-|-|\n")],
    ["< run", (b) => fill(b, "<")],
    ["<a run", (b) => fill(b, "<a")],
    ["</ run", (b) => fill(b, "</")],
    ["<!-- run", (b) => fill(b, "<!--")],
    ["<? run", (b) => fill(b, "a <?")],
    ["<![CDATA[ run", (b) => fill(b, "a <![CDATA[")],
    ["attribute run", (b) => fill(b, "<a href='")],
    ["autolink run", (b) => fill(b, "<http://a")],
    ["& run", (b) => fill(b, "&")],
    ["&amp; run", (b) => fill(b, "&amp;")],
    ["&# run", (b) => fill(b, "&#")],
    ["&#x run", (b) => fill(b, "&#x")],
    ["long numeric entities", (b) => fill(b, "&#99999999999;")],
    ["unterminated named entities", (b) => fill(b, "&aaaaaaaa")],
    ["backslash run", (b) => fill(b, "\\")],
    ["blank lines", (b) => fill(b, "\n")],
    ["spaces", (b) => fill(b, " ")],
    ["tabs", (b) => fill(b, "\t")],
    ["hard breaks", (b) => fill(b, "a  \n")],
    ["one long word", (b) => fill(b, "a")],
    ["multibyte text", (b) => fill(b, "é漢🙂")],
    ["front matter: billion laughs", () => frontMatter(billionLaughs(9, 9))],
    [
      "front matter: alias fan-out of a long string",
      () => frontMatter(`a: &a ${"x".repeat(50_000)}\nb: [${Array.from({ length: 99 }, () => "*a").join(", ")}]`),
    ],
    ["front matter: deep flow nesting", () => frontMatter(fill(FRONT_MATTER_BYTES, "["))],
    ["front matter: deep flow mappings", () => frontMatter(fill(FRONT_MATTER_BYTES, "{a: "))],
    [
      "front matter: deep block nesting",
      () => frontMatter(Array.from({ length: 340 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")),
    ],
    ["front matter: deep block sequences", () => frontMatter(fill(FRONT_MATTER_BYTES, "- "))],
    ["front matter: many keys", () => frontMatter(lines(FRONT_MATTER_BYTES, (i) => `k${i}: v`))],
    ["front matter: long tag list", () => frontMatter(fill(FRONT_MATTER_BYTES, "- t\n", { head: "tags:\n" }))],
    ["front matter: many anchors", () => frontMatter(lines(FRONT_MATTER_BYTES, (i) => `k${i}: &a${i} v`))],
    ["front matter: quotes unclosed", () => frontMatter(fill(FRONT_MATTER_BYTES, '"', { head: "a: " }))],
    [
      "front matter: random punctuation",
      () => frontMatter(randomText(FRONT_MATTER_BYTES, 5, "[]{}:-&*!|>'\"#? ,\n ab")),
    ],
    ["front matter over the size read", (b) => frontMatter(fill(b - 64, "k: v\n"))],
    ["front matter unclosed", (b) => fill(b, "a: b\n", { head: "---\n" })],
    ["front matter closing markers only", (b) => fill(b, "---\n")],
    ["random bytes", (b) => randomText(b, 1)],
    ["random bytes (another seed)", (b) => randomText(b, 2)],
    ["random Markdown punctuation", (b) => randomText(b, 3, "[]()*_`#>-|!<&\\\n :=~")],
    ["random Markdown punctuation and words", (b) => randomText(b, 4, "[]()*_`#>-|!<&\\\n :=~ab1")],
  ];
  return entries.map(([name, make]): [string, Make] => [
    name,
    (bytes) => {
      const input = make(bytes);
      if (byteLength(input) > MAX_INPUT)
        throw new Error(`corpus input "${name}" is ${byteLength(input)} bytes, over ${MAX_INPUT}`);
      return input;
    },
  ]);
}

const rendersAsMarkdown = (input: string) => renderMarkdown(parseModelCard(input).body) !== null;

/** The largest size (to 1 KiB) at which `make` still renders as Markdown; null when even 1 KiB does not. */
function largestAsMarkdown(make: Make): number | null {
  let low = 1024;
  let high = MAX_INPUT;
  if (!rendersAsMarkdown(make(low))) return null;
  while (high - low > 1024) {
    const mid = Math.floor((low + high) / 2);
    if (rendersAsMarkdown(make(mid))) low = mid;
    else high = mid;
  }
  return low;
}

/**
 * What the page must render in bounded time: every corpus input at its largest, and for a
 * shape whose largest is over the renderer's work budget (shown as plain text), the largest
 * input that still renders as Markdown, the costliest one. Used by
 * test/markdown-pathological.test.ts and bench/markdown.mjs.
 */
export function* renderCases(): Generator<[name: string, input: string]> {
  for (const [name, make] of corpus()) {
    const full = make(MAX_INPUT);
    yield [`${name} (${full.length} characters)`, full];
    if (!rendersAsMarkdown(full)) {
      const size = largestAsMarkdown(make);
      if (size !== null) yield [`${name}, ${size} bytes: the most that renders as Markdown`, make(size)];
    }
  }
}

/** Prose of `bytes` bytes (within a paragraph's length): a card as people write them, the baseline a pathological input is held to. */
export const prose = (bytes: number): string => fill(bytes, PROSE);
