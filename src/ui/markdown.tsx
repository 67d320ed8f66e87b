/**
 * Markdown for model cards, rendered by markdown-it (CommonMark plus GFM tables and
 * strikethrough). Its parser is linear on pathological input, but dense markup still costs
 * about a microsecond per character here, so a work budget (MAX_WORK) bounds each render:
 * a card over it is shown as plain text instead (bench/markdown.mjs times every input of a
 * pathological corpus up to 256 KiB against 100 ms; test/markdown-pathological.test.ts holds
 * each to 500 times prose's cost per byte). Its HTML goes into the page through `raw()`, so
 * what keeps the page safe is here:
 * - raw HTML is off (`html: false`, and the HTML rules are disabled and their renderers
 *   escape): `<script>` in a card shows as text, as on the Hugging Face Hub;
 * - links and images keep only http(s), mailto and relative targets (`isSafeLink`), and
 *   every link carries `rel="nofollow noopener"`;
 * - images render as links to the image, never `<img>`: the page's CSP (`img-src 'self'
 *   data:`) would block remote images anyway, and a card must not make a reader's browser
 *   fetch from a third party (a tracking pixel);
 * - nesting stops at MAX_NESTING, so deep `>` or list nesting costs no stack.
 * The card's own h1 sits under the page's h1 and h2s: headings shift down two levels.
 */
import { raw } from "hono/html";
import MarkdownIt from "markdown-it";

/** Block and inline nesting markdown-it follows; deeper content is dropped. Cards nest a few levels. */
const MAX_NESTING = 32;
/**
 * Parser steps one card may take: block tokens plus calls of the block and inline rule
 * chains (one per block start, one per inline position that may open markup). 256 KiB of
 * prose stays under it, and so does a table of 400 rows of 10 columns; the costliest corpus
 * input that stays under it renders in about 25 ms here, against a 100 ms budget.
 */
export const MAX_WORK = 30_000;
/** Cells of one table (columns × rows, padding included): the table rule builds a table in one call. */
const MAX_TABLE_CELLS = MAX_WORK / 3;
const REL = "nofollow noopener";

/**
 * Only http(s), mailto and scheme-less (relative, `#fragment`, `//host`) targets. A browser
 * drops tabs and newlines anywhere in a URL and controls and spaces around it before reading
 * its scheme, so those are dropped here too before the scheme is read (`java\tscript:`).
 */
export function isSafeLink(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.replace(/[\u0000-\u0020\u007f]/g, ""));
  return scheme === null || ["http", "https", "mailto"].includes(scheme[1]!.toLowerCase());
}

const md = new MarkdownIt("default", { html: false, linkify: false, typographer: false, maxNesting: MAX_NESTING });
md.disable(["html_block", "html_inline"]);
md.validateLink = isSafeLink;
const escape = md.utils.escapeHtml;
md.renderer.rules.html_block = (tokens, idx) => escape(tokens[idx]!.content);
md.renderer.rules.html_inline = (tokens, idx) => escape(tokens[idx]!.content);

// One pass over the tokens after parsing: shifted headings, rel on links.
md.core.ruler.push("card_presentation", (state) => {
  for (const token of state.tokens) {
    if (token.type === "heading_open" || token.type === "heading_close")
      token.tag = `h${Math.min(6, Number(token.tag.slice(1)) + 2)}`;
    for (const child of token.children ?? []) if (child.type === "link_open") child.attrSet("rel", REL);
  }
});

/** Thrown from inside the parser when a card spends its budget; nothing of that render is kept. */
class OverBudget extends Error {}
type Work = { steps: number; blockTokens: number };
const work = (env: object): Work => env as Work;

md.block.ruler.before("table", "work_budget", (state) => {
  const w = work(state.env);
  if (++w.steps + state.tokens.length > MAX_WORK) throw new OverBudget();
  return false;
});
md.core.ruler.after("block", "work_budget", (state) => {
  work(state.env).blockTokens = state.tokens.length;
});
md.inline.ruler.before("text", "work_budget", (state) => {
  const w = work(state.env);
  if (++w.steps + w.blockTokens > MAX_WORK) throw new OverBudget();
  return false;
});

// The table rule reads every row of a table in one call, so the budget checks above see a
// huge table only once it is built: it gets at most as many rows as MAX_TABLE_CELLS allows
// (later rows read as text). The header bounds the columns: the delimiter row must match it.
// markdown-it exports no handle on its built-in rules, hence the lookup in `__rules__`; if an
// upgrade moved it, this throws at startup (every UI test would fail), it cannot pass silently.
const tableRule = md.block.ruler.__rules__.find((rule) => rule.name === "table")!.fn;
md.block.ruler.at(
  "table",
  (state, startLine, endLine, silent) => {
    if (silent || !tableRule(state, startLine, endLine, true)) return tableRule(state, startLine, endLine, silent);
    const header = state.src.slice(state.bMarks[startLine]! + state.tShift[startLine]!, state.eMarks[startLine]);
    const columns = header.split("|").length;
    const rows = Math.floor(MAX_TABLE_CELLS / columns);
    if (rows < 1) throw new OverBudget();
    return tableRule(state, startLine, Math.min(endLine, startLine + 2 + rows), false);
  },
  { alt: ["paragraph", "reference"] },
);

md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx]!;
  const alt = self.renderInlineAsText(token.children ?? [], options, env);
  const title = token.attrGet("title");
  return `<a href="${escape(String(token.attrGet("src") ?? ""))}" rel="${REL}" class="image"${title ? ` title="${escape(String(title))}"` : ""}>${escape(`image: ${alt || "untitled"}`)}</a>`;
};

/** The card's HTML, or null when it is over the work budget. */
export function renderMarkdown(source: string): string | null {
  const env: Work = { steps: 0, blockTokens: 0 };
  try {
    return md.render(source, env);
  } catch (e) {
    if (e instanceof OverBudget) return null;
    throw e;
  }
}

export function Markdown({ source }: { source: string }) {
  const html = renderMarkdown(source);
  if (html === null) {
    return (
      <>
        <p class="muted">This card has more markup than the page renders; it is shown as plain text.</p>
        <pre class="markdown">{source}</pre>
      </>
    );
  }
  return <div class="markdown">{raw(html)}</div>;
}
