/**
 * The web UI's routes: plain Hono routes outside `/v1`, so the API's 404 for unknown `/v1`
 * paths stands. Pages read through the typed client in process (./api.ts); forms post
 * with a CSRF token and redirect (post/redirect/get), so every page works without script.
 */
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ANONYMOUS, hasScope, type Scope } from "../auth/principal";
import type { MregClient } from "../client/client";
import { MregError } from "../client/errors";
import type { GateResult, HistoryEntry, Page } from "../client/types";
import { config } from "../env";
import type { AppEnv } from "../http/app-env";
import { MULTI_SEGMENT } from "../http/api";
import { apiFor, bookmarkCookie } from "./api";
import { SCRIPT } from "./assets";
import { Layout, Notice, type PageContext, type PageNotice } from "./components";
import { aliasDone, HISTORY_LOOKUP, leaveFlash, takeFlash } from "./flash";
import { FormError, mergePatch, parseMetrics, parsePairs } from "./forms";
import { AUDIT_FILTERS, AuditPage, type AuditFilters } from "./pages/audit";
import { DiffPage } from "./pages/diff";
import { ModelPage, type ModelView } from "./pages/model";
import { ModelsPage } from "./pages/models";
import { PromotePage } from "./pages/promote";
import { SignInPage } from "./pages/sign-in";
import { metricNames } from "./plot";
import { MAX_CARD_BYTES } from "./model-card";
import { VersionPage, type VersionView } from "./pages/version";
import { csrfToken, csrfValid, currentSession, endedSession, signIn, signOut, type Session } from "./session";

type Ctx = Context<AppEnv>;

const HISTORY_SHOWN = 20;
/** Refused nodes an alias's fleet names on the Model page (the rest are counted). */
const REFUSED_SHOWN = 5;

/** A same-site path to return to after signing in; anything else goes home. */
const safeNext = (next: unknown) => (typeof next === "string" && /^\/(?!\/)[^\\\s]*$/.test(next) ? next : "/");

interface Caller {
  page: PageContext;
  api: MregClient;
  /** Null for an anonymous public reader. */
  session: Session | null;
}

/** A form post's caller: always signed in. */
interface Poster extends Caller {
  session: Session;
}

/**
 * Defence in depth behind the escaping: the only script that may run is the UI's own (by its
 * hash), so markup that slipped through could not execute. Styles stay inline-allowed for the
 * split bars' widths.
 */
let scriptHash: Promise<string> | undefined;
const csp = async () => {
  scriptHash ??= crypto.subtle
    .digest("SHA-256", new TextEncoder().encode(SCRIPT))
    .then((d) => btoa(String.fromCharCode(...new Uint8Array(d))));
  return `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${await scriptHash}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
};

const KINDS = ["model", "prompt", "config"] as const;

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

export function registerUi(app: Hono<AppEnv>): void {
  app.use("*", async (c, next) => {
    await next();
    if (c.res.headers.get("content-type")?.startsWith("text/html")) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
      c.res.headers.set("content-security-policy", await csp());
    }
  });

  /** The caller, or a redirect to sign in. Anonymous public reads get pages without forms. */
  async function caller(c: Ctx): Promise<Caller | Response> {
    const session = await currentSession(c);
    if (session) {
      const page = {
        principal: session.principal,
        csrf: await csrfToken(session),
        canSignOut: session.via === "token",
      };
      return { page, api: apiFor(app, c, session.principal), session };
    }
    if (config(c.env).PUBLIC_READ && c.req.method === "GET") {
      return {
        page: { principal: ANONYMOUS, csrf: null, canSignOut: false },
        api: apiFor(app, c, ANONYMOUS),
        session: null,
      };
    }
    const url = new URL(c.req.url);
    return c.redirect(`/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
  }

  /** A form post: the session and its CSRF token, or a refusal page (these refusals mean a stale or forged form). */
  async function poster(c: Ctx): Promise<{ caller: Poster; form: Record<string, string> } | Response> {
    if (!sameOrigin(c)) return errorPage(c, 403, "Forms are accepted only from this registry's own pages.", null);
    const session = await currentSession(c);
    if (!session) return errorPage(c, 401, "Sign in first.", null);
    const body = await c.req.parseBody();
    const form: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === "string") form[k] = v;
    const page = { principal: session.principal, csrf: await csrfToken(session), canSignOut: session.via === "token" };
    if (!(await csrfValid(session, form.csrf)))
      return errorPage(c, 403, "The form's CSRF token is missing or wrong; reload the page and try again.", page);
    return { caller: { page, api: apiFor(app, c, session.principal), session }, form };
  }

  /** Runs a page; the API's refusals become pages with the same status. */
  const page =
    (render: (c: Ctx, who: Caller) => Promise<Response>) =>
    async (c: Ctx): Promise<Response> => {
      const who = await caller(c);
      if (who instanceof Response) return who;
      try {
        return await render(c, who);
      } catch (err) {
        if (err instanceof MregError && err.status >= 400 && err.status < 500)
          return errorPage(c, err.status, err.detail, who.page);
        throw err;
      }
    };

  app.get("/sign-in", async (c) => {
    // Sent back here by a session that ended: say why, and drop the dead cookie.
    const ended = await endedSession(c);
    if (ended) signOut(c);
    return c.html(<SignInPage next={safeNext(c.req.query("next"))} {...(ended && { ended })} />);
  });
  app.post("/sign-in", async (c) => {
    // No session yet, so no CSRF token: the Origin check keeps another site from signing the browser in as someone else.
    if (!sameOrigin(c)) return errorPage(c, 403, "Sign in from this registry's own page.", null);
    const body = await c.req.parseBody();
    const token = typeof body.token === "string" ? body.token.trim() : "";
    const next = safeNext(body.next);
    const result = await signIn(c, token);
    if (!result.ok)
      return c.html(<SignInPage error={`That token was not accepted: ${result.reason}.`} next={next} />, 401);
    return c.redirect(next, 303);
  });
  app.post("/sign-out", async (c) => {
    if (!sameOrigin(c)) return errorPage(c, 403, "Forms are accepted only from this registry's own pages.", null);
    const session = await currentSession(c);
    const body = await c.req.parseBody();
    if (session && !(await csrfValid(session, body.csrf)))
      return errorPage(c, 403, "The form's CSRF token is missing or wrong.", null);
    signOut(c);
    return c.redirect("/sign-in", 303);
  });

  app.get(
    "/",
    page(async (c, { page, api }) => {
      const query = {
        prefix: c.req.query("prefix") ?? "",
        kind: c.req.query("kind") ?? "",
        tag: c.req.query("tag") ?? "",
        cursor: c.req.query("cursor") ?? "",
      };
      const models = await api.models.list({
        limit: 50,
        ...(query.prefix && { prefix: query.prefix }),
        ...(query.kind && { kind: KINDS.find((k) => k === query.kind) ?? "model" }),
        ...(query.tag && { tag: query.tag }),
        ...(query.cursor && { cursor: query.cursor }),
      });
      return c.html(<ModelsPage page={page} query={query} models={models} />);
    }),
  );

  /** The Model page, with what to say at its top (a refusal, or the record of this session's post that redirected here). */
  async function renderModel(
    c: Ctx,
    { page, api, session }: Caller,
    extra: { notice?: PageNotice; status?: number; edit?: ModelView["edit"] } = {},
  ): Promise<Response> {
    const name = param(c, "model");
    const [model, aliases, versions, gates] = await Promise.all([
      api.models.get(name),
      api.aliases.list(name),
      api.versions.list(name, { limit: 100 }),
      api.gates.list(name),
    ]);
    const perAlias = await Promise.all(
      aliases.map(async (a) => {
        const [history, guard, rollout, fleet] = await Promise.all([
          api.aliases.history(name, a.alias, { limit: HISTORY_SHOWN }),
          api.guards.get(name, a.alias).catch(noneWhenNotFound),
          api.rollouts.get(name, a.alias).catch(noneWhenNotFound),
          api.fleet.get(name, a.alias),
        ]);
        const refused =
          fleet.refused > 0
            ? (await api.fleet.nodes(name, a.alias, { state: "refused", stale: false, limit: REFUSED_SHOWN })).items
            : [];
        return { alias: a.alias, history: history.items, guard, rollout, fleet: { fleet, refused } };
      }),
    );
    const signed: ModelView["signed"] = {};
    for (const s of await api.signatures.ofVersions(
      name,
      versions.items.map((v) => v.version),
    )) {
      const entry = (signed[s.version] ??= { signatures: 0, trusted: 0 });
      entry.signatures += 1;
      if (s.trusted_by.length > 0) entry.trusted += 1;
    }
    const history: Record<string, HistoryEntry[]> = Object.fromEntries(perAlias.map((p) => [p.alias, p.history]));
    const fleets = Object.fromEntries(perAlias.map((p) => [p.alias, p.fleet]));
    const guards = perAlias.flatMap((p) => (p.guard ? [p.guard] : []));
    const rollouts = perAlias.flatMap((p) => (p.rollout ? [p.rollout] : []));
    const names = metricNames(versions.items);
    const asked = c.req.queries("metric")?.filter((m) => names.includes(m)) ?? [];
    const metrics = asked.length > 0 ? asked : names;
    const notice = extra.notice ?? (await takeFlash(c, session, { model: name, version: null }));
    const view: ModelView = {
      model,
      aliases,
      history,
      fleets,
      versions: versions.items,
      signed,
      gates,
      guards,
      rollouts,
      metrics,
      notice,
      ...(extra.edit && { edit: extra.edit }),
    };
    return c.html(<ModelPage page={page} view={view} />, extra.status === undefined ? 200 : httpStatus(extra.status));
  }

  app.get(
    "/m/:model",
    page((c, who) => renderModel(c, who)),
  );

  /** The Version page, with what to say at its top (a refusal, or the record of this session's post that redirected here). */
  async function renderVersion(
    c: Ctx,
    { page, api, session }: Caller,
    extra: { notice?: PageNotice; status?: number; edit?: VersionView["edit"] } = {},
  ): Promise<Response> {
    const name = param(c, "model");
    const number = versionNumber(param(c, "version"));
    const [version, lineage, approvals, gates, signatures] = await Promise.all([
      api.versions.get(name, number),
      api.lineage.graph(name, number),
      api.approvals.list(name, number),
      api.gates.list(name),
      api.signatures.list(name, number),
    ]);
    const keyNames = signatures.some((s) => s.trusted_by.length > 0) ? await signingKeyNames(api) : {};
    const results: { target: string; result: GateResult }[] = [];
    for (const g of gates) results.push({ target: g.target, result: await api.gates.check(name, g.target, number) });
    let card: VersionView["card"] = null;
    const readme = version.files.find((f) => f.path.toLowerCase() === "readme.md");
    if (readme) {
      card = { path: readme.path, size: readme.size, source: readme.size === 0 ? "" : null };
      if (readme.size > 0 && readme.size <= MAX_CARD_BYTES) {
        // A range, so no more than the cap is read whatever the stored object holds.
        // Read as a preview: showing the card is not a download of it.
        const preview = apiFor(app, c, page.principal, { preview: true });
        const download = await preview.files.download(name, number, readme.path, {
          range: { start: 0, end: readme.size - 1 },
        });
        card.source = download.body ? await new Response(download.body).text() : null;
      }
    }
    const notice = extra.notice ?? (await takeFlash(c, session, { model: name, version: number }));
    const view: VersionView = {
      version,
      lineage,
      approvals,
      signatures,
      keyNames,
      gates: results,
      card,
      notice,
      ...(extra.edit && { edit: extra.edit }),
    };
    return c.html(<VersionPage page={page} view={view} />, extra.status === undefined ? 200 : httpStatus(extra.status));
  }

  app.get(
    "/m/:model/v/:version",
    page((c, who) => renderVersion(c, who)),
  );

  // Downloads through the session: the API's file route wants a bearer header a link cannot send.
  app.get(
    `/m/:model/v/:version/files/:path${MULTI_SEGMENT}`,
    page(async (c, { api }) => {
      const name = param(c, "model");
      const number = versionNumber(param(c, "version"));
      const path = param(c, "path");
      const download = await api.files.download(name, number, path);
      const base = path.split("/").pop() ?? "file";
      return new Response(download.body, {
        headers: {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(base)}`,
          ...(download.size !== null && { "content-length": String(download.size) }),
          ...(download.sha256 && { "x-mreg-sha256": download.sha256 }),
          "x-content-type-options": "nosniff",
        },
      });
    }),
  );

  // A signature's bundle through the session, as `model.sig` (the API's route wants a bearer header).
  app.get(
    "/m/:model/v/:version/signatures/:id",
    page(async (c, { api }) => {
      const bundle = await api.signatures.bundle(param(c, "model"), versionNumber(param(c, "version")), param(c, "id"));
      return new Response(bundle, {
        headers: {
          "content-type": "application/vnd.dev.sigstore.bundle.v0.3+json",
          "content-disposition": "attachment; filename=model.sig",
          "x-content-type-options": "nosniff",
        },
      });
    }),
  );

  app.get(
    "/m/:model/diff",
    page(async (c, { page, api }) => {
      const diff = await api.lineage.diff(
        param(c, "model"),
        versionNumber(c.req.query("a")),
        versionNumber(c.req.query("b")),
      );
      return c.html(<DiffPage page={page} diff={diff} />);
    }),
  );

  app.get(
    "/audit",
    page(async (c, { page, api }) => {
      const filters = Object.fromEntries(AUDIT_FILTERS.map((f) => [f, c.req.query(f)?.trim() ?? ""])) as AuditFilters;
      const given = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ""));
      const cursor = c.req.query("cursor");
      const events = await api.audit.list({ ...given, limit: 50, ...(cursor && { cursor }) });
      return c.html(<AuditPage page={page} filters={filters} events={events} />);
    }),
  );

  app.get(
    "/m/:model/promote",
    page(async (c, { page, api }) => {
      const name = param(c, "model");
      const alias = c.req.query("alias") ?? "";
      const number = versionNumber(c.req.query("version"));
      const [version, dryRun] = await Promise.all([
        api.versions.get(name, number),
        dryRunFor(api, name, alias, number),
      ]);
      return c.html(<PromotePage page={page} view={{ model: name, alias, version, dryRun }} />);
    }),
  );

  /**
   * A form post behind `scope`. A refusal (the scope, the API's 4xx, a form that does not
   * parse) is answered by `refused` on the page the form came from, with why and what to do;
   * without `refused`, by an error page.
   */
  const post =
    (
      scope: Scope,
      handle: (c: Ctx, who: Poster, form: Record<string, string>) => Promise<Response>,
      refused?: Refused,
    ) =>
    async (c: Ctx): Promise<Response> => {
      const got = await poster(c);
      if (got instanceof Response) return got;
      const { caller: who, form } = got;
      const refuse = async (problem: Problem): Promise<Response> => {
        if (refused) {
          try {
            return await refused(c, who, form, problem);
          } catch (err) {
            // The page itself cannot be shown (the model is gone): say so plainly.
            if (!(err instanceof MregError) || err.status >= 500) throw err;
          }
        }
        return errorPage(c, problem.status, `${problem.text} ${problem.advice}`, who.page);
      };
      if (!hasScope(who.page.principal, scope)) {
        const held = [...who.page.principal.scopes].join(", ") || "none";
        return refuse({
          status: 403,
          text: `This needs the '${scope}' scope; your session has ${held}.`,
          advice: `Sign in with a token that has '${scope}' (an admin mints one through POST /v1/tokens).`,
        });
      }
      try {
        const res = await handle(c, who, form);
        const cookie = res.status === 303 ? bookmarkCookie(who.api.bookmark) : undefined;
        if (cookie) res.headers.append("set-cookie", cookie);
        return res;
      } catch (err) {
        if (err instanceof FormError)
          return refuse({ status: 400, text: err.message, advice: "Correct the form and send it again." });
        if (err instanceof MregError && err.status >= 400 && err.status < 500)
          return refuse({ status: err.status, text: err.detail, advice: adviceFor(err.code, scope) });
        throw err;
      }
    };

  /** Refusals of the Model page's forms, on the Model page. */
  const onModelPage: Refused = (c, who, form, problem) =>
    renderModel(c, who, {
      notice: { kind: "bad", text: problem.text, advice: problem.advice },
      status: problem.status,
      ...(form.tags !== undefined && { edit: { description: form.description ?? "", tags: form.tags } }),
    });

  const onVersionPage: Refused = (c, who, form, problem) =>
    renderVersion(c, who, {
      notice: { kind: "bad", text: problem.text, advice: problem.advice },
      status: problem.status,
      ...(form.metrics !== undefined && {
        edit: { description: form.description ?? "", tags: form.tags ?? "", metrics: form.metrics },
      }),
    });

  app.post(
    "/m/:model/promote",
    post("promote", async (c, who, form) => {
      const name = param(c, "model");
      const alias = form.alias ?? "";
      const number = versionNumber(form.version);
      try {
        const set = await who.api.aliases.set(name, alias, {
          version: number,
          ...(form.reason && { reason: form.reason }),
        });
        const done = aliasDone("set", set, await historyAfter(who.api, name, set.alias), form.reason);
        return c.redirect(await leaveFlash(c, who.session, { model: name, version: null }, done), 303);
      } catch (err) {
        if (!(err instanceof MregError) || err.status >= 500) throw err;
        // The refusal is shown on the dry-run page, with the checks that failed.
        const [version, dryRun] = await Promise.all([
          who.api.versions.get(name, number),
          dryRunFor(who.api, name, alias, number),
        ]);
        const refused = { detail: err.detail, checks: err.checks };
        return c.html(
          <PromotePage page={who.page} view={{ model: name, alias, version, dryRun, refused }} />,
          httpStatus(err.status),
        );
      }
    }),
  );

  app.post(
    "/m/:model/aliases/:alias/rollback",
    post(
      "promote",
      async (c, who, form) => {
        const name = param(c, "model");
        const alias = param(c, "alias");
        if (form.confirm !== "yes") throw new FormError(`Tick 'confirm' to roll back ${alias}.`);
        const to = form.to_version ? versionNumber(form.to_version) : undefined;
        const rolled = await who.api.aliases.rollback(name, alias, {
          ...(to !== undefined && { to_version: to }),
          ...(form.reason && { reason: form.reason }),
        });
        const done = aliasDone("rollback", rolled, await historyAfter(who.api, name, rolled.alias), form.reason);
        return c.redirect(await leaveFlash(c, who.session, { model: name, version: null }, done), 303);
      },
      onModelPage,
    ),
  );

  app.post(
    "/m/:model/aliases/:alias/delete",
    post(
      "promote",
      async (c, who, form) => {
        const name = param(c, "model");
        const alias = param(c, "alias");
        if (form.confirm !== "yes") throw new FormError(`Tick 'confirm' to delete the alias ${alias}.`);
        await who.api.aliases.delete(name, alias, { reason: "deleted from the web UI" });
        // Alias names are case-insensitive, and stored (and listed) in lower case.
        return c.redirect(
          await leaveFlash(
            c,
            who.session,
            { model: name, version: null },
            { what: "alias-deleted", alias: alias.toLowerCase() },
          ),
          303,
        );
      },
      onModelPage,
    ),
  );

  // A rollout's buttons on the model page: the same scope and alias grant as the API's routes.
  for (const action of ["pause", "resume", "abort"] as const) {
    app.post(
      `/m/:model/aliases/:alias/rollout/${action}`,
      post(
        "promote",
        async (c, who, form) => {
          const name = param(c, "model");
          const alias = param(c, "alias");
          if (action === "abort" && form.confirm !== "yes")
            throw new FormError(`Tick 'confirm' to abort the rollout of ${alias}.`);
          const r = await who.api.rollouts[action](name, alias, form.reason ? { reason: form.reason } : {});
          const done = {
            what: "rollout" as const,
            action,
            alias: r.alias,
            step: r.step,
            of: r.steps.length,
            from: r.from,
            to: r.to,
          };
          return c.redirect(await leaveFlash(c, who.session, { model: name, version: null }, done), 303);
        },
        onModelPage,
      ),
    );
  }

  app.post(
    "/m/:model/edit",
    post(
      "write",
      async (c, who, form) => {
        const name = param(c, "model");
        const tags = parsePairs(form.tags ?? "", "Tags");
        const current = await who.api.models.get(name);
        const description = (form.description ?? "").trim();
        const tagPatch = mergePatch(current.tags, tags);
        const patch = {
          ...(description !== (current.description ?? "") && { description: description === "" ? null : description }),
          ...(Object.keys(tagPatch).length > 0 && { tags: tagPatch }),
        };
        // Nothing changed: no write, and no audit event saying so.
        const changed = Object.keys(patch).length > 0;
        if (changed) await who.api.models.update(name, patch);
        return c.redirect(
          await leaveFlash(c, who.session, { model: name, version: null }, { what: "saved", changed }),
          303,
        );
      },
      onModelPage,
    ),
  );

  app.post(
    "/m/:model/v/:version/edit",
    post(
      "write",
      async (c, who, form) => {
        const name = param(c, "model");
        const number = versionNumber(param(c, "version"));
        const tags = parsePairs(form.tags ?? "", "Tags");
        const metrics = parseMetrics(form.metrics ?? "");
        const current = await who.api.versions.get(name, number);
        const description = (form.description ?? "").trim();
        const tagPatch = mergePatch(current.tags, tags);
        const metricPatch = mergePatch(current.metrics, metrics);
        const patch = {
          ...(description !== (current.description ?? "") && { description: description === "" ? null : description }),
          ...(Object.keys(tagPatch).length > 0 && { tags: tagPatch }),
          ...(Object.keys(metricPatch).length > 0 && { metrics: metricPatch }),
        };
        const changed = Object.keys(patch).length > 0;
        if (changed) await who.api.versions.update(name, number, patch);
        return c.redirect(
          await leaveFlash(c, who.session, { model: name, version: number }, { what: "saved", changed }),
          303,
        );
      },
      onVersionPage,
    ),
  );

  app.post(
    "/m/:model/v/:version/approve",
    post(
      "approve",
      async (c, who, form) => {
        const name = param(c, "model");
        const number = versionNumber(param(c, "version"));
        const target = form.target ?? "";
        const approval = await who.api.approvals.add(name, number, {
          target,
          ...(form.comment && { comment: form.comment }),
        });
        return c.redirect(
          await leaveFlash(
            c,
            who.session,
            { model: name, version: number },
            { what: "approved", target: approval.target },
          ),
          303,
        );
      },
      onVersionPage,
    ),
  );
}

interface Problem {
  status: number;
  text: string;
  /** What to do about it. */
  advice: string;
}

type Refused = (c: Ctx, who: Caller, form: Record<string, string>, problem: Problem) => Promise<Response>;

/** What to do about a refusal, by the API's stable code. */
function adviceFor(code: string, scope: Scope): string {
  switch (code) {
    case "forbidden":
      return `Your token may not do this here (its scopes, or its model and alias grants). Sign in with a token that may — an admin mints one with '${scope}' through POST /v1/tokens.`;
    case "unauthenticated":
      return "Your session ended: sign in again.";
    case "gate_failed":
      return "Open the gate's dry run (Promote…) to see which checks fail; meet them (metrics, tags, approvals) or ask an admin about the gate.";
    case "conflict":
      return "Someone changed it meanwhile, or it cannot go there: this page now shows the current state; check it and try again.";
    case "version_not_ready":
      return "Only ready versions can be served: finalize the version first.";
    case "not_found":
      return "It may have been deleted meanwhile: the page shows what exists now.";
    case "in_use":
      return "Free it first (move or delete the aliases that hold it), then try again.";
    case "validation_failed":
      return "Correct the form and send it again.";
    default:
      return "Check the page as it is now and try again.";
  }
}

/**
 * An alias's latest history, read right after this session moved it, for the banner's "before".
 * The write is done whatever this read meets: a refusal or outage only leaves "before" out.
 */
async function historyAfter(api: MregClient, model: string, alias: string): Promise<Page<HistoryEntry> | null> {
  try {
    return await api.aliases.history(model, alias, { limit: HISTORY_LOOKUP });
  } catch (err) {
    if (err instanceof MregError) return null;
    throw err;
  }
}

/** The dry run of the gate covering `alias`, or null when none does. */
async function dryRunFor(api: MregClient, model: string, alias: string, version: number): Promise<GateResult | null> {
  const gates = await api.gates.list(model);
  return gates.some((g) => g.target === alias) ? api.gates.check(model, alias, version) : null;
}

/**
 * A post from another origin is refused before anything else: browsers send `Origin` on
 * form posts, so this stops cross-site posts even where SameSite and the CSRF token would.
 * A client that sends no Origin (curl) is judged by the CSRF token alone.
 */
function sameOrigin(c: Ctx): boolean {
  const origin = c.req.header("origin");
  return origin === undefined || origin === new URL(c.req.url).origin;
}

/** A status the API answered (4xx), in Hono's type for an answer with a body. */
const httpStatus = (status: number): ContentfulStatusCode =>
  status >= 400 && status < 600 ? (status as ContentfulStatusCode) : 500;

/** Null for a 404 (the alias has no guard, or never had a rollout); any other error stands. */
function noneWhenNotFound(err: unknown): null {
  if (err instanceof MregError && err.code === "not_found") return null;
  throw err;
}

/** A path parameter of the route that matched (always present there). */
function param(c: Ctx, name: string): string {
  const value = c.req.param(name);
  if (value === undefined) throw new MregError({ status: 404, code: "not_found", detail: `No ${name} in the path` });
  return value;
}

function versionNumber(raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new MregError({ status: 400, code: "validation_failed", detail: `'${raw ?? ""}' is not a version number` });
  return n;
}

function errorPage(c: Ctx, status: number, message: string, page: PageContext | null): Response | Promise<Response> {
  return c.html(
    <Layout title="Error" page={page}>
      <h1>{status === 404 ? "Not found" : status === 403 ? "Not allowed" : "Refused"}</h1>
      <Notice kind="bad">{message}</Notice>
      <p>
        <a href="/">← models</a>
      </p>
    </Layout>,
    httpStatus(status),
  );
}

/** Every registered signing key's name by id (a registry holds tens of keys: a few pages at most). */
async function signingKeyNames(api: MregClient): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  let cursor: string | undefined;
  do {
    const page = await api.signingKeys.list({ limit: 200, ...(cursor && { cursor }) });
    for (const k of page.items) names[k.id] = k.name;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return names;
}
