/** The model card's Markdown renderer: what it renders, and that nothing in the source becomes markup. */
import { describe, expect, it } from "vitest";
import { isSafeLink, Markdown, MAX_WORK } from "../src/ui/markdown";
import { ModelCard } from "../src/ui/model-card";

// markdown-it ends blocks with newlines; the assertions are about tags, not line breaks.
const render = async (source: string) => String(await Markdown({ source }).toString()).replace(/>\n+</g, "><");
const card = async (source: string) => String(await ModelCard({ source }).toString());

/**
 * Every tag name and attribute name in the output: what a browser would turn into elements.
 * Any `<` followed by a letter counts as a tag; each opening tag must be well formed (quoted
 * attribute values), so an attribute cannot hide in an unquoted one.
 */
const tagsAndAttributes = (html: string) => {
  const tags = new Set([...html.matchAll(/<\/?([a-z][a-z0-9]*)/gi)].map((m) => m[1]!.toLowerCase()));
  const attributes = new Set<string>();
  const opening = [...html.matchAll(/<[a-z]/gi)].length;
  const wellFormed = [...html.matchAll(/<([a-z][a-z0-9]*)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*\/?>/gi)];
  for (const m of wellFormed)
    for (const a of m[2]!.matchAll(/\s+([a-z-]+)(?:="[^"]*")?/gi)) attributes.add(a[1]!.toLowerCase());
  expect(wellFormed.length, "every opening tag is well formed").toBe(opening);
  return { tags, attributes };
};

describe("Markdown model cards", () => {
  it("renders headings, lists, quotes, code, emphasis and links", async () => {
    const html = await render(
      "# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n```py\nx = 1\n```\n\n---\n[docs](https://example.com/a?b=1&c=2)",
    );
    expect(html).toContain("<h3>Title</h3>");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain("<em>em</em>");
    expect(html).toContain("<code>code</code>");
    expect(html).toContain("<ul><li>one</li><li>two</li></ul>");
    expect(html).toContain("<ol><li>first</li><li>second</li></ol>");
    expect(html).toContain("<blockquote><p>quoted</p></blockquote>");
    expect(html).toContain('<pre><code class="language-py">x = 1\n</code></pre>');
    expect(html).toContain("<hr>");
    expect(html).toContain('<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">docs</a>');
  });

  it("renders GFM tables with their alignment, and strikethrough", async () => {
    const html = await render("| model | auc |\n|:--|--:|\n| a *b* | 0.9 |\n| c |\n\n~~old~~");
    expect(html).toContain(
      '<table><thead><tr><th style="text-align:left">model</th><th style="text-align:right">auc</th></tr></thead>',
    );
    expect(html).toContain(
      '<tr><td style="text-align:left">a <em>b</em></td><td style="text-align:right">0.9</td></tr>',
    );
    // A short row is padded, as GitHub does.
    expect(html).toContain('<tr><td style="text-align:left">c</td><td style="text-align:right"></td></tr>');
    expect(html).toContain("<s>old</s>");
  });

  it("shows images as links to them, never as <img>", async () => {
    const html = await render('![a chart](chart.png "AUC") ![](https://cdn.example/x.png) ![x](javascript:alert(1))');
    expect(html).not.toContain("<img");
    expect(html).toContain('<a href="chart.png" rel="nofollow noopener" class="image" title="AUC">image: a chart</a>');
    expect(html).toContain(
      '<a href="https://cdn.example/x.png" rel="nofollow noopener" class="image">image: untitled</a>',
    );
    expect(html).not.toContain('href="javascript:');
  });

  it("escapes raw HTML everywhere and keeps only safe link targets", async () => {
    const html = await render(
      [
        "<script>alert(1)</script>",
        "# <img src=x onerror=alert(1)>",
        "- <b onclick=x>",
        "`<script>`",
        "<div>\n<iframe src=//evil.example></iframe>\n</div>",
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html,<script>) [d](vbscript:x)",
        "[f](&#106;avascript:alert(1)) [g](java\tscript:x) [h]( javascript:x) [i](<javascript:x>) <javascript:alert(1)> [j][ref] [k](file:///etc/passwd)",
        "[ref]: javascript:alert(1)",
        '[e](https://ok.example/"onmouseover="x)',
        '[t](https://ok.example "x\\" onmouseover=\\"alert(1)") [u](https://ok.example \'a" onclick="b\')',
        "&lt;script&gt; &amp;lt; &#60;script&#62; &#x3C;img&#x3E; &quot;",
        "```\n</code></pre><script>x</script>\n```",
        '```js" onclick="x\n```',
      ].join("\n\n"),
    );
    const { tags, attributes } = tagsAndAttributes(html);
    expect([...tags].filter((t) => !["p", "h3", "ul", "li", "code", "pre", "a", "div"].includes(t))).toEqual([]);
    expect([...attributes].filter((a) => !["href", "rel", "title", "class"].includes(a))).toEqual([]);
    expect(html).not.toMatch(/href="\s*(javascript|data|vbscript|file):/i);
    expect(html).not.toContain('"onmouseover="');
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&lt;iframe src=//evil.example&gt;&lt;/iframe&gt;");
    expect(html).toContain("&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;");
    // Entities decode to text, and text is escaped again: no markup comes back.
    expect(html).toContain("&lt;script&gt; &amp;lt; &lt;script&gt; &lt;img&gt; &quot;");
    // A title's quotes cannot close the attribute.
    expect(html).toContain('title="x&quot; onmouseover=&quot;alert(1)"');
    expect(html).toContain('title="a&quot; onclick=&quot;b"');
    expect(html).toContain('class="language-js&quot;"');
  });

  it("keeps http(s), mailto and relative link targets, and nothing with another scheme", () => {
    for (const url of [
      "https://a.example/x",
      "http://a.example",
      "mailto:a@b.example",
      "/m/x",
      "./a.md",
      "../a",
      "a.md",
      "#usage",
      "?q=1",
      "//cdn.example/x",
    ]) {
      expect(isSafeLink(url), url).toBe(true);
    }
    for (const url of [
      "javascript:alert(1)",
      " JAVASCRIPT:x",
      "java\tscript:x",
      "java\nscript:x",
      "\u0000javascript:x",
      "data:text/html,x",
      "data:image/png;base64,x",
      "vbscript:x",
      "file:///etc/passwd",
      "blob:x",
      "ftp://a",
    ]) {
      expect(isSafeLink(url), JSON.stringify(url)).toBe(false);
    }
  });

  it("shows a card over the work budget as escaped plain text", async () => {
    const source = `<script>x</script>\n\n${"- a\n".repeat(MAX_WORK)}`;
    const html = await render(source);
    expect(html).toContain("shown as plain text");
    expect(html).toContain('<pre class="markdown">&lt;script&gt;x&lt;/script&gt;\n\n- a\n');
    expect(html).not.toContain("<li>");
  });
});

describe("model card front matter", () => {
  const HF_CARD = [
    "---",
    "license: apache-2.0",
    "language: [en, fr]",
    "tags:",
    "  - text-classification",
    "  - <script>alert(1)</script>",
    "datasets:",
    "  - imdb",
    "base_model: distilbert-base-uncased",
    "library_name: transformers",
    "pipeline_tag: text-classification",
    "model-index:",
    "  - name: fraud",
    "    results: [{task: {type: text-classification}, metrics: [{type: accuracy, value: 0.93}]}]",
    "---",
    "# Fraud",
    "",
    "| a | b |",
    "|---|---|",
    "| 1 | 2 |",
  ].join("\n");

  it("shows the front matter as metadata, not as text, and the body as Markdown", async () => {
    const html = await card(HF_CARD);
    expect(html).toContain('<section aria-label="Card metadata">');
    expect(html).toContain('<th scope="row">License</th><td><span class="badge">apache-2.0</span></td>');
    expect(html).toContain(
      '<th scope="row">Languages</th><td><span class="badge">en</span><span class="badge">fr</span></td>',
    );
    expect(html).toContain('<span class="badge">&lt;script&gt;alert(1)&lt;/script&gt;</span>');
    expect(html).toContain('<span class="badge">imdb</span>');
    expect(html).toContain('<span class="badge">distilbert-base-uncased</span>');
    expect(html).toContain('<span class="badge">transformers</span>');
    // The rest as keys and short values.
    expect(html).toContain('<th scope="row">model-index</th>');
    expect(html).toContain("&quot;accuracy&quot;");
    expect(html).not.toContain("license: apache-2.0");
    expect(html).toContain("<h3>Fraud</h3>");
    expect(html).toContain("<table>");
  });

  it("renders the body of a card whose front matter cannot be read, and says so", async () => {
    const html = await card("---\nlicense: [mit\n---\n# Body\n");
    expect(html).toContain("could not be read");
    expect(html).toContain("<h3>Body</h3>");
    expect(html).not.toContain("Card metadata");
  });

  it("escapes what the front matter holds, keys included", async () => {
    const html = await card(
      `---\n"<img src=x onerror=alert(1)>": "<script>x</script>"\nlicense: "<b>mit</b>"\n---\nbody`,
    );
    expect(html).not.toMatch(/<(img|script|b)[ >]/);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("&lt;b&gt;mit&lt;/b&gt;");
  });
});
