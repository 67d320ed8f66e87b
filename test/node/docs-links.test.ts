/**
 * README.md and docs/*.md point only inside the repository, and every link lands: the file
 * exists and, for `file.md#anchor`, a heading of the target makes that anchor (GitHub's
 * slugs). Absolute http(s) links to the outside world are allowed; paths that climb out of
 * the checkout (`../shared/…`) are not, in links or in prose.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const files = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

function anchors(file: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of readFileSync(join(root, file), "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6} (.*)$/.exec(line);
    if (m) out.add(slug(m[1]!));
  }
  return out;
}

/** Markdown links and images outside code: [text](target). */
function links(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe("README and docs/", () => {
  it("has the pages the README promises", () => {
    expect(files).toEqual(
      expect.arrayContaining(["docs/api.md", "docs/operations.md", "docs/architecture.md", "docs/security.md"]),
    );
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(readme.split("\n").length).toBeLessThan(80); // a front page, not the manual
  });

  it("points at nothing outside the repository, and every link lands", () => {
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(root, file), "utf8");
      if (/\.\.\/shared|\/work\/shared/.test(text)) broken.push(`${file}: mentions ../shared`);
      for (const link of links(file)) {
        if (/^(https?:|mailto:)/.test(link)) continue;
        const [path, anchor] = link.split("#") as [string, string | undefined];
        const target = path === "" ? file : normalize(join(dirname(file), path));
        if (relative(root, join(root, target)).startsWith("..")) {
          broken.push(`${file}: ${link} leaves the repository`);
          continue;
        }
        if (!existsSync(join(root, target))) broken.push(`${file}: ${link} (no ${target})`);
        else if (anchor && target.endsWith(".md") && !anchors(target).has(anchor))
          broken.push(`${file}: ${link} (no heading #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("makes GitHub's anchors", () => {
    expect(slug("Watch fan-out: one alias, 100,000 watchers")).toBe("watch-fan-out-one-alias-100000-watchers");
    expect(slug("3. The address: workers.dev or your own domain, and `MREG_URL`")).toBe(
      "3-the-address-workersdev-or-your-own-domain-and-mreg_url",
    );
  });
});
