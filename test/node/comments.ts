/**
 * The comments of a source file, as TypeScript's parser sees them (strings, templates, regular
 * expressions and JSX text are not comments, however many slashes they hold), each as the prose
 * it says: comment markers and the leading `*` of block lines removed, line breaks and indents
 * folded to one space, and a run of `//` lines with nothing between them read as one comment,
 * so a citation may wrap from one line to the next.
 */
import ts from "typescript";

export interface Comment {
  /** 1-based line of the comment's first character. */
  line: number;
  text: string;
}

function scriptKind(file: string): ts.ScriptKind {
  if (file.endsWith(".tsx")) return ts.ScriptKind.TSX;
  if (/\.[cm]?js$/.test(file)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** Where each comment is: every range of trivia before every token, once. */
function commentRanges(source: ts.SourceFile): ts.CommentRange[] {
  const text = source.text;
  const found = new Map<number, ts.CommentRange>();
  const collect = (pos: number) => {
    for (const range of [
      ...(ts.getTrailingCommentRanges(text, pos) ?? []),
      ...(ts.getLeadingCommentRanges(text, pos) ?? []),
    ])
      found.set(range.pos, range);
  };
  const visit = (node: ts.Node) => {
    // JSX text is text: `//` in it is no comment, and trivia is not scanned inside it.
    if (node.kind === ts.SyntaxKind.JsxText) return;
    const children = node.getChildren(source);
    if (children.length === 0) collect(node.pos);
    else children.forEach(visit);
  };
  visit(source);
  collect(source.endOfFileToken.pos);
  return [...found.values()].sort((a, b) => a.pos - b.pos);
}

function prose(raw: string): string {
  const body = raw.startsWith("//")
    ? raw.slice(2)
    : raw
        .replace(/^\/\*+/, "")
        .replace(/\*+\/$/, "")
        .split("\n")
        .map((line) => line.replace(/^\s*\*(?!\/)/, ""))
        .join("\n");
  return body.replace(/\s+/g, " ").trim();
}

export function commentsOf(file: string, text: string): Comment[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const out: Comment[] = [];
  let previous: { range: ts.CommentRange; comment: Comment } | null = null;
  for (const range of commentRanges(source)) {
    const raw = text.slice(range.pos, range.end);
    const line = source.getLineAndCharacterOfPosition(range.pos).line + 1;
    const joinsPrevious =
      previous !== null &&
      range.kind === ts.SyntaxKind.SingleLineCommentTrivia &&
      previous.range.kind === ts.SyntaxKind.SingleLineCommentTrivia &&
      /^[ \t]*\r?\n[ \t]*$/.test(text.slice(previous.range.end, range.pos));
    if (joinsPrevious && previous) {
      previous.comment.text = `${previous.comment.text} ${prose(raw)}`.trim();
      previous.range = range;
      continue;
    }
    const comment = { line, text: prose(raw) };
    out.push(comment);
    previous = { range, comment };
  }
  return out;
}
