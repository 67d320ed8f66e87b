/** The shape of `ACCESS_GRANTS`; apart from ./access.ts so src/env.ts can parse it without an import cycle. */
import { z } from "zod";

/** One grant: everyone whose email matches the glob, or who is in the group, gets the scopes. */
export const AccessGrants = z.array(
  z.union([
    z.object({ email: z.string().min(1), scopes: z.string().min(1) }).strict(),
    z.object({ group: z.string().min(1), scopes: z.string().min(1) }).strict(),
  ]),
);
export type AccessGrant = z.infer<typeof AccessGrants>[number];

