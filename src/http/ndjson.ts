/**
 * Newline-delimited JSON request bodies (`application/x-ndjson`), read a line at a time as
 * the bytes arrive, so a body is never held whole: memory is bounded by one line. A line past
 * `maxLineBytes` is 413 as soon as it is seen to be; more than `maxLines` lines, a line that
 * is not UTF-8 or not JSON, is 400. Blank lines are skipped.
 */
import { ProblemError } from "../domain/problem";
import { validationFailed } from "./validation";

export interface NdjsonLimits {
  maxLineBytes: number;
  maxLines: number;
}

const NEWLINE = 0x0a;

/** Each line's JSON value, with its 1-based line number, in order. */
export async function* ndjsonLines(
  body: ReadableStream<Uint8Array> | null,
  limits: NdjsonLimits,
): AsyncGenerator<{ line: number; value: unknown }> {
  if (!body) return;
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let line = 0;
  let done = false;
  const parse = (bytes: Uint8Array): { line: number; value: unknown } | null => {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw validationFailed(`Line ${line} is not valid UTF-8`, [{ path: `line ${line}`, message: "invalid UTF-8" }]);
    }
    if (text.trim() === "") return null;
    try {
      return { line, value: JSON.parse(text) as unknown };
    } catch {
      throw validationFailed(`Line ${line} is not valid JSON`, [{ path: `line ${line}`, message: "not JSON" }]);
    }
  };
  const take = (tail: Uint8Array): Uint8Array => {
    const all = new Uint8Array(pendingBytes + tail.byteLength);
    let at = 0;
    for (const chunk of pending) {
      all.set(chunk, at);
      at += chunk.byteLength;
    }
    all.set(tail, at);
    pending = [];
    pendingBytes = 0;
    return all;
  };
  const next = () => {
    line += 1;
    if (line > limits.maxLines)
      throw validationFailed(`A body holds at most ${limits.maxLines} lines`, [
        { path: `line ${line}`, message: "too many lines" },
      ]);
  };
  try {
    while (!done) {
      const read = await reader.read();
      if (read.done) {
        done = true;
        if (pendingBytes > 0) {
          next();
          const parsed = parse(take(new Uint8Array(0)));
          if (parsed) yield parsed;
        }
        break;
      }
      let chunk = read.value;
      for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE)) {
        if (pendingBytes + nl > limits.maxLineBytes) throw tooLong(line + 1, limits.maxLineBytes);
        next();
        const parsed = parse(take(chunk.subarray(0, nl)));
        chunk = chunk.subarray(nl + 1);
        if (parsed) yield parsed;
      }
      if (pendingBytes + chunk.byteLength > limits.maxLineBytes) throw tooLong(line + 1, limits.maxLineBytes);
      if (chunk.byteLength > 0) {
        // A copy: the reader may reuse its buffer.
        pending.push(chunk.slice());
        pendingBytes += chunk.byteLength;
      }
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
}

const tooLong = (line: number, max: number) =>
  new ProblemError("payload_too_large", `Line ${line} is longer than ${max} bytes`, { max_line_bytes: max });
