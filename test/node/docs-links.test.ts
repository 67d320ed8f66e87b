/**
 * README.md and docs/*.md point only inside the repository, and every link lands: the file
 * exists and, for a link with an anchor, a heading of the target makes that anchor (GitHub's
 * slugs). Absolute http(s) links to the outside world are allowed; paths that climb out of
 * the checkout (the team's shared folder beside it) are not, in links or in prose.
 *
 * The comments of the code (src/, test/, bench/, scripts/) cite the same docs, as
 * docs/architecture.md "Citing the docs" says: every markdown file a comment names exists in
 * the repository, and a section it names (a quoted heading after the file, or an anchor) is a
 * heading of that file. No comment cites the contract or notes kept outside the repository.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { commentsOf } from "./comments";

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

/** A markdown file's headings as written (outside code fences), at every level. */
function headings(file: string): string[] {
  const out: string[] = [];
  let fence = false;
  for (const line of readFileSync(join(root, file), "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6} (.*?)(?: #+)?$/.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  return out;
}

function anchors(file: string): Set<string> {
  return new Set(headings(file).map(slug));
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

// ---- comments --------------------------------------------------------------------------------

/** Where the code is whose comments cite the docs. */
const CODE_FOLDERS = ["src", "test", "bench", "scripts"];
const CODE = /\.(?:tsx?|[cm]?js)$/;

function codeFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(root, path)).isDirectory()) return codeFiles(path);
    return CODE.test(name) ? [path] : [];
  });
}

/**
 * A markdown file named in a comment (a path from the repository's root), then an anchor or
 * the quoted headings that follow it: `docs/architecture.md "Layers"`, the same file with
 * `#layers`, or several headings of one file, `"Layers" and "Where state lives"`.
 */
const CITATION =
  /(?<![\w./-])((?:\/|(?:\.{1,2}\/)+)?(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(#[\w-]+)?((?:\s*(?:,|and|or|\()?\s*"[^"]+")*)/g;

/** The contract and notes the team keeps outside the repository: never cited. */
const OUTSIDE =
  /(?<![\w./-])(?:API\.md|ARCHITECTURE\.md|PROTOCOL-NOTES(?:\.md)?|PLATFORM-NOTES(?:\.md)?)|\.\.\/shared|\/work\/shared/;

/** What is wrong with each citation in one comment's prose (empty: nothing). */
export function citationProblems(text: string): string[] {
  const problems: string[] = [];
  const outside = OUTSIDE.exec(text);
  if (outside) problems.push(`cites ${outside[0]}, which is not in the repository`);
  for (const m of text.matchAll(CITATION)) {
    const [, path, anchor, sections] = m as unknown as [string, string, string | undefined, string];
    if (path.startsWith("/") || normalize(path).startsWith("..")) {
      problems.push(`${path} leaves the repository`);
      continue;
    }
    if (!existsSync(join(root, path))) {
      problems.push(`${path}: no such file in the repository`);
      continue;
    }
    if (anchor && !anchors(path).has(anchor.slice(1))) problems.push(`${path}${anchor}: no such heading`);
    const known = headings(path);
    for (const [, section] of sections.matchAll(/"([^"]+)"/g)) {
      if (!known.includes(section!)) problems.push(`${path} "${section}": no such heading`);
    }
  }
  return problems;
}

describe("comments in the code", () => {
  it("cite only docs the repository has, by headings they have", () => {
    const broken: string[] = [];
    for (const folder of CODE_FOLDERS) {
      for (const file of codeFiles(folder)) {
        for (const { line, text } of commentsOf(file, readFileSync(join(root, file), "utf8"))) {
          for (const problem of citationProblems(text)) broken.push(`${file}:${line}: ${problem}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("are read as the citation rule means", () => {
    expect(citationProblems('the rule (docs/architecture.md "Layers")')).toEqual([]);
    expect(citationProblems("docs/architecture.md#layers")).toEqual([]);
    expect(citationProblems('docs/architecture.md "Layers" and "Where state lives"')).toEqual([]);
    expect(citationProblems('docs/architecture.md "Layer"')).toEqual(['docs/architecture.md "Layer": no such heading']);
    expect(citationProblems('docs/architecture.md "Layers" and "Nowhere"')).toEqual([
      'docs/architecture.md "Nowhere": no such heading',
    ]);
    expect(citationProblems("docs/architecture.md#nowhere")).toEqual(["docs/architecture.md#nowhere: no such heading"]);
    expect(citationProblems("see docs/nowhere.md")).toEqual(["docs/nowhere.md: no such file in the repository"]);
    expect(citationProblems("../docs/api.md")).toEqual(["../docs/api.md leaves the repository"]);
    expect(citationProblems('API.md "Names"')).toEqual([
      "cites API.md, which is not in the repository",
      "API.md: no such file in the repository",
    ]);
    expect(citationProblems("the contract, ARCHITECTURE.md")[0]).toBe(
      "cites ARCHITECTURE.md, which is not in the repository",
    );
    expect(citationProblems("PLATFORM-NOTES says so")).toEqual([
      "cites PLATFORM-NOTES, which is not in the repository",
    ]);
  });

  it("are the comments TypeScript sees, a citation wrapped over lines included", () => {
    const text = [
      'const url = "http://example.com/API.md"; // see docs/architecture.md "Where state',
      '// lives"',
      "const re = /\\/\\/ API.md/;",
      "/**",
      ' * docs/architecture.md "How a',
      ' * request flows"',
      " */",
      "const view = <p>// API.md</p>;",
    ].join("\n");
    expect(commentsOf("x.tsx", text)).toEqual([
      { line: 1, text: 'see docs/architecture.md "Where state lives"' },
      { line: 4, text: 'docs/architecture.md "How a request flows"' },
    ]);
  });
});
