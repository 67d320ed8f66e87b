/**
 * A small Markdown renderer for model cards (a `README.md` among a version's files). It
 * builds JSX, never HTML strings, so every character of the source is escaped by Hono's
 * renderer: raw HTML in the Markdown shows as text, as on the Hugging Face Hub. Links keep
 * only http(s), mailto and relative targets (no `javascript:`). Covers what model cards use:
 * ATX headings, paragraphs, lists, block quotes, fenced code, rules, tables are shown as
 * text, and inline code, emphasis, strong and links.
 */
import type { Child } from "hono/jsx";

const SAFE_URL = /^(https?:\/\/|mailto:|\/(?!\/)|\.{0,2}\/|#)|^[^:]*$/i;

/** Inline spans: `code`, **strong**, *em* / _em_, [text](url). Anything else is text. */
export function inline(text: string): Child[] {
  const out: Child[] = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\b_([^_]+)_\b|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(<code>{m[1]}</code>);
    else if (m[2] !== undefined) out.push(<strong>{inline(m[2])}</strong>);
    else if (m[3] !== undefined) out.push(<em>{inline(m[3])}</em>);
    else if (m[4] !== undefined) out.push(<em>{inline(m[4])}</em>);
    else if (m[5] !== undefined && m[6] !== undefined) {
      out.push(SAFE_URL.test(m[6]) ? <a href={m[6]} rel="nofollow noopener">{inline(m[5])}</a> : m[0]);
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

type Block =
  | { kind: "heading"; level: number; text: string }
  | { kind: "para"; text: string }
  | { kind: "code"; lang: string; text: string }
  | { kind: "list"; ordered: boolean; items: string[] }
  | { kind: "quote"; lines: string[] }
  | { kind: "rule" };

const LIST_ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;

export function parseBlocks(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length > 0) blocks.push({ kind: "para", text: para.join(" ") });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence[1]!); i++) body.push(lines[i]!);
      blocks.push({ kind: "code", lang: fence[2] ?? "", text: body.join("\n") });
      continue;
    }
    const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      flush();
      blocks.push({ kind: "heading", level: heading[1]!.length, text: heading[2]! });
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      blocks.push({ kind: "rule" });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      flush();
      const ordered = /\d/.test(item[1]!);
      const items = [item[2]!];
      while (i + 1 < lines.length) {
        const next = LIST_ITEM.exec(lines[i + 1]!);
        if (next && /\d/.test(next[1]!) === ordered) items.push(next[2]!);
        else if (/^\s{2,}\S/.test(lines[i + 1]!) && items.length > 0) items[items.length - 1] += ` ${lines[i + 1]!.trim()}`;
        else break;
        i++;
      }
      blocks.push({ kind: "list", ordered, items });
      continue;
    }
    if (/^\s{0,3}>/.test(line)) {
      flush();
      const quoted = [line.replace(/^\s{0,3}>\s?/, "")];
      while (i + 1 < lines.length && /^\s{0,3}>/.test(lines[i + 1]!)) quoted.push(lines[++i]!.replace(/^\s{0,3}>\s?/, ""));
      blocks.push({ kind: "quote", lines: quoted });
      continue;
    }
    if (line.trim() === "") flush();
    else para.push(line.trim());
  }
  flush();
  return blocks;
}

function renderBlock(block: Block): Child {
  switch (block.kind) {
    case "heading": {
      // A card's own h1 sits under the page's h1 and h2s: shift it down two levels.
      const level = Math.min(6, block.level + 2);
      const content = inline(block.text);
      if (level === 3) return <h3>{content}</h3>;
      if (level === 4) return <h4>{content}</h4>;
      if (level === 5) return <h5>{content}</h5>;
      return <h6>{content}</h6>;
    }
    case "para":
      return <p>{inline(block.text)}</p>;
    case "code":
      return (
        <pre>
          <code data-lang={block.lang || undefined}>{block.text}</code>
        </pre>
      );
    case "list": {
      const items = block.items.map((text) => <li>{inline(text)}</li>);
      return block.ordered ? <ol>{items}</ol> : <ul>{items}</ul>;
    }
    case "quote":
      return <blockquote>{parseBlocks(block.lines.join("\n")).map(renderBlock)}</blockquote>;
    case "rule":
      return <hr />;
  }
}

export function Markdown({ source }: { source: string }) {
  return <div class="markdown">{parseBlocks(source).map(renderBlock)}</div>;
}
