/**
 * Unified diffs of text files (prompts, configs), as `diff -u` and git print them: `---`/`+++`
 * headers, hunks with three lines of context, `\ No newline at end of file` where a side
 * ends without one. Pure and bounded: the common head and tail are set aside first, Myers'
 * O(ND) search runs on what is left, and past MAX_EDIT_DISTANCE edits it gives up on a
 * minimal script and replaces the middle whole (still a correct diff, just not the shortest).
 */

/** Edits Myers may explore before the diff settles for "replace the middle". */
export const MAX_EDIT_DISTANCE = 1_000;

const CONTEXT = 3;

type Op = { kind: " " | "-" | "+"; line: string };

/**
 * Splits text into lines that keep their terminator, so that a last line with and without
 * a newline differ (as they do for `diff`).
 */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n", start);
    if (end < 0) break;
    lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** The edit script turning `a` into `b`: a shortest one when it is within the bound. */
export function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const middle = myers(midA, midB) ?? [
    ...midA.map((line) => ({ kind: "-" as const, line })),
    ...midB.map((line) => ({ kind: "+" as const, line })),
  ];
  return [
    ...a.slice(0, head).map((line) => ({ kind: " " as const, line })),
    ...middle,
    ...a.slice(a.length - tail).map((line) => ({ kind: " " as const, line })),
  ];
}

/**
 * Myers' greedy search for the furthest-reaching D-paths. Before each round it keeps the
 * part of the frontier that round reads (diagonals -d-1..d+1), to trace the path back:
 * O(D²) memory at most, about 4 MB at the bound. Null when the distance passes the bound.
 */
function myers(a: readonly string[], b: readonly string[]): Op[] | null {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0)
    return [...a.map((line) => ({ kind: "-" as const, line })), ...b.map((line) => ({ kind: "+" as const, line }))];
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  const offset = max + 1;
  // v[offset + k]: the furthest x reached on diagonal k (k = x - y).
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!);
      let x = down ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(a, b, trace, d, k);
    }
  }
  return null;
}

/** Walks the kept frontiers back from (n, m) to (0, 0), collecting the edit script. */
function backtrack(a: readonly string[], b: readonly string[], trace: Int32Array[], dEnd: number, kEnd: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  const same = (untilX: number) => {
    while (x > untilX) {
      x--;
      y--;
      ops.push({ kind: " ", line: a[x]! });
    }
  };
  let k = kEnd;
  for (let d = dEnd; d > 0; d--) {
    // trace[d] is the frontier after round d - 1, diagonal k at index k + d + 1.
    const at = (diagonal: number) => trace[d]![diagonal + d + 1]!;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    // The snake ran diagonally from the point just after this round's one edit.
    same(down ? prevX : prevX + 1);
    if (down) ops.push({ kind: "+", line: b[--y]! });
    else ops.push({ kind: "-", line: a[--x]! });
    k = prevK;
  }
  same(0);
  return ops.reverse();
}

/** `start,count` as diff prints it: `,1` left out; an empty range names the line before it. */
function range(start: number, count: number): string {
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

function printLine(op: Op): string {
  return op.line.endsWith("\n") ? `${op.kind}${op.line}` : `${op.kind}${op.line}\n\\ No newline at end of file\n`;
}

/** The unified diff of two texts; "" when they are equal. */
export function unifiedDiff(from: string, to: string, labels: { from: string; to: string }): string {
  const ops = diffLines(splitLines(from), splitLines(to));
  const changed = ops.map((op, i) => (op.kind === " " ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return "";
  let out = `--- ${labels.from}\n+++ ${labels.to}\n`;
  // Line numbers before each op, on both sides.
  const lineA: number[] = [];
  const lineB: number[] = [];
  let la = 1;
  let lb = 1;
  for (const op of ops) {
    lineA.push(la);
    lineB.push(lb);
    if (op.kind !== "+") la++;
    if (op.kind !== "-") lb++;
  }
  let i = 0;
  while (i < changed.length) {
    // A hunk spans changes whose context windows touch (at most 2 × CONTEXT equal lines apart).
    let j = i;
    while (j + 1 < changed.length && changed[j + 1]! - changed[j]! <= 2 * CONTEXT + 1) j++;
    const start = Math.max(0, changed[i]! - CONTEXT);
    const end = Math.min(ops.length, changed[j]! + CONTEXT + 1);
    const hunk = ops.slice(start, end);
    const countA = hunk.filter((op) => op.kind !== "+").length;
    const countB = hunk.filter((op) => op.kind !== "-").length;
    out += `@@ -${range(lineA[start]!, countA)} +${range(lineB[start]!, countB)} @@\n`;
    out += hunk.map(printLine).join("");
    i = j + 1;
  }
  return out;
}
