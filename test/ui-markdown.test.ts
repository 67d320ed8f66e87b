/** The model card's Markdown renderer: what it renders, and that nothing in the source becomes markup. */
import { describe, expect, it } from "vitest";
import { Markdown } from "../src/ui/markdown";

const render = async (source: string) => String(await Markdown({ source }).toString());

describe("Markdown model cards", () => {
  it("renders headings, lists, quotes, code, emphasis and links", async () => {
    const html = await render("# Title\n\nSome **bold**, *em* and `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n```py\nx = 1\n```\n\n---\n[docs](https://example.com/a?b=1&c=2)");
    expect(html).toContain("<h3>Title</h3>");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain("<em>em</em>");
    expect(html).toContain("<code>code</code>");
    expect(html).toContain("<ul><li>one</li><li>two</li></ul>");
    expect(html).toContain("<ol><li>first</li><li>second</li></ol>");
    expect(html).toContain("<blockquote><p>quoted</p></blockquote>");
    expect(html).toContain('<pre><code data-lang="py">x = 1</code></pre>');
    expect(html).toContain("<hr/>");
    expect(html).toContain('<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">docs</a>');
  });

  it("escapes raw HTML everywhere and keeps only safe link targets", async () => {
    const html = await render(
      [
        "<script>alert(1)</script>",
        "# <img src=x onerror=alert(1)>",
        "- <b onclick=x>",
        "`<script>`",
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html,<script>) [d](vbscript:x)",
        '[e](https://ok.example/"onmouseover="x)',
        "```\n</code></pre><script>x</script>\n```",
      ].join("\n\n"),
    );
    expect(html).not.toMatch(/<(script|img|b )/i);
    expect(html).not.toMatch(/href="(javascript|data|vbscript):/i);
    expect(html).not.toContain('"onmouseover="');
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;");
  });
});
