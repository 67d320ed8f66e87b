/**
 * Opaque keyset cursors: base64url of a small JSON object holding the last row's sort key.
 * A cursor that does not decode to the expected shape is a 400, never a 500.
 */
import { z } from "zod";
import { parseWith, validationFailed } from "./validation";

export function encodeCursor(key: Record<string, string | number>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw validationFailed("Invalid cursor", [{ path: "cursor", message: "not a cursor this API issued" }]);
  }
  return parseWith(schema, value, "cursor");
}

/** The shared list query parameters: `limit` (1..200, default 50) and `cursor`. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(512).optional(),
});

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only says whether there is more.
 */
export function toPage<Row, T>(
  rows: Row[],
  limit: number,
  cursorKey: (row: Row) => Record<string, string | number>,
  shape: (row: Row) => T,
): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.map(shape),
    next_cursor: more && last !== undefined ? encodeCursor(cursorKey(last)) : null,
  };
}
