/**
 * The Model page's danger zone: deleting an alias, kept apart from the rollback buttons (a
 * delete makes every `registry://model@alias` lookup fail until the alias is set again).
 */
import { hasScope } from "../auth/principal";
import type { Alias, Gate } from "../client/types";
import { Csrf, modelHref, type PageContext } from "./components";

export function DangerZone({
  page,
  model,
  aliases,
  gates,
}: {
  page: PageContext;
  model: string;
  aliases: Alias[];
  gates: Gate[];
}) {
  const csrf = page.csrf;
  if (!csrf || !hasScope(page.principal, "promote") || aliases.length === 0) return null;
  // A gated alias is deleted by admins only (its gate then compares with the last holder).
  const admin = hasScope(page.principal, "admin");
  const gated = (a: Alias) => gates.some((g) => g.target === a.alias);
  return (
    <section class="danger-zone" aria-labelledby="danger-zone">
      <h2 id="danger-zone">Danger zone</h2>
      <p class="muted">
        Deleting an alias makes everything that resolves it fail until it is set again. To go back to an earlier
        version, roll back instead.
      </p>
      {aliases.map((a) =>
        gated(a) && !admin ? (
          <p class="muted">{`${a.alias} is gated: only an admin may delete it.`}</p>
        ) : (
          <form
            method="post"
            action={`${modelHref(model)}/aliases/${encodeURIComponent(a.alias)}/delete`}
            class="inline"
            aria-label={`Delete alias ${a.alias}`}
          >
            <Csrf token={csrf} />
            <label class="check">
              <input type="checkbox" name="confirm" value="yes" required /> confirm
            </label>
            <button type="submit" class="danger">{`Delete alias ${a.alias}`}</button>
          </form>
        ),
      )}
    </section>
  );
}
