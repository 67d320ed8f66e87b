/**
 * `--jq PATH`: the fields a script wants from a command's JSON, without jq installed. A
 * small, safe subset of jq's paths (no shelling out, no evaluation): `.`, `.name`,
 * `.a.b`, `.["odd key"]`, `.items[0]`, `.items[-1]`, `.items[]` (each element), and several
 * paths separated by commas (`.name, .version`). Results print one per line, strings raw and
 * everything else as compact JSON, as `gh --jq` does. Parsing is one left-to-right pass.
 */
import { UsageError } from "./exit";

type Step = { kind: "key"; key: string } | { kind: "index"; index: number } | { kind: "each" };
export type Selector = Step[][];

const MAX_EXPRESSION = 1000;

export function parseSelector(text: string): Selector {
  const fail = (why: string, at: number): never => {
    throw new UsageError(
      `--jq '${text}': ${why} at character ${at + 1}. Paths look like .version, .items[].name, .a, .b`,
    );
  };
  if (text.length > MAX_EXPRESSION) throw new UsageError(`--jq: the path is longer than ${MAX_EXPRESSION} characters`);
  const paths: Selector = [];
  let i = 0;
  const skipSpace = () => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] !== ".") fail("expected a path starting with '.'", i);
    const steps: Step[] = [];
    let first = true;
    while (i < text.length && text[i] !== "," && text[i] !== " " && text[i] !== "\t") {
      if (text[i] === ".") {
        i++;
        if (/[A-Za-z_]/.test(text[i] ?? "")) {
          const start = i;
          while (/[A-Za-z0-9_-]/.test(text[i] ?? "")) i++;
          steps.push({ kind: "key", key: text.slice(start, i) });
        } else if (text[i] !== "[" && !(first && (i === text.length || text[i] === "," || text[i] === " ")))
          fail("expected a field name after '.'", i);
      } else if (text[i] === "[") {
        i++;
        if (text[i] === "]") {
          steps.push({ kind: "each" });
          i++;
        } else if (text[i] === '"') {
          const end = text.indexOf('"', i + 1);
          if (end < 0) fail("an unclosed string", i);
          steps.push({ kind: "key", key: text.slice(i + 1, end) });
          i = end + 1;
          if (text[i] !== "]") fail("expected ']'", i);
          i++;
        } else {
          const start = i;
          if (text[i] === "-") i++;
          while (/[0-9]/.test(text[i] ?? "")) i++;
          if (i === start || text[i] !== "]") fail('expected a number, a "key" or nothing inside [ ]', i);
          steps.push({ kind: "index", index: Number(text.slice(start, i)) });
          i++;
        }
      } else fail(`unexpected '${text[i]}'`, i);
      first = false;
    }
    paths.push(steps);
    skipSpace();
    if (i >= text.length) break;
    if (text[i] !== ",") fail(`unexpected '${text[i]}'`, i);
    i++;
  }
  return paths;
}

/** Every value the selector picks out of `value`, in order. */
export function select(selector: Selector, value: unknown): unknown[] {
  const out: unknown[] = [];
  for (const steps of selector) {
    let current: unknown[] = [value];
    for (const step of steps) {
      const next: unknown[] = [];
      for (const v of current) {
        if (step.kind === "key")
          next.push(
            v !== null && typeof v === "object" && !Array.isArray(v)
              ? ((v as Record<string, unknown>)[step.key] ?? null)
              : null,
          );
        else if (step.kind === "index") next.push(Array.isArray(v) ? (v.at(step.index) ?? null) : null);
        else if (Array.isArray(v)) next.push(...v);
        else if (v !== null && typeof v === "object") next.push(...Object.values(v));
      }
      current = next;
    }
    out.push(...current);
  }
  return out;
}

/** The lines `--jq` prints. */
export function formatSelected(values: unknown[]): string {
  return values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join("\n");
}
