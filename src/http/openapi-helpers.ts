/** Small schema builders shared by route declarations. */
import { z } from "zod";

/** The list envelope of docs/reference.md "Conventions". */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}

export function itemsOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item) });
}
