/**
 * Whether a minted token has been revoked, checked on every request without a D1 read per
 * request (API.md "Auth": refused within 10 s everywhere). Each isolate keeps a view of the
 * revoked ids, loaded by one small query (src/db/revoked-tokens.ts `revokedTokenIds`, from the
 * primary), per D1 binding:
 *
 * - younger than REFRESH_AFTER_MS: used as it is;
 * - older, up to MAX_AGE_MS: used, and one refresh starts in the background;
 * - older than that, or none yet: the request awaits a refresh (shared by every request
 *   that needs it).
 *
 * A view is stamped with the time its query *started*, so a revocation committed before that
 * is in it; every view in use is younger than MAX_AGE_MS, so a token revoked at T is refused
 * everywhere from T + MAX_AGE_MS on. The isolate that revokes knows at once (`noteRevoked`).
 *
 * When D1 cannot answer and the view is too old, the request fails closed: 503 `unavailable`
 * with Retry-After (the token may be fine; the registry just cannot tell). Only tokens with
 * a registry `jti` are affected; development and identity-provider tokens are never checked.
 */
import { REVOCATION_MARGIN_MS } from "../domain/token";
import { ProblemError } from "../domain/problem";
import { revokedTokenIds } from "../db/revoked-tokens";

export const REFRESH_AFTER_MS = 2_000;
export const MAX_AGE_MS = 8_000;
/** After a failed load, requests that need a fresh view get a 503 for this long before the next attempt. */
const RETRY_AFTER_FAILURE_MS = 1_000;
/** A load that takes longer counts as failed (a hung query must not hold requests). */
const LOAD_TIMEOUT_MS = 3_000;
/** Ids this isolate revoked itself: kept whatever a view says (a view may predate them). */
const MAX_NOTED = 10_000;

export type Freshness = "fresh" | "refresh" | "stale";

/** How a view loaded at `loadedAt` may be used at `now`. Pure, for the tests. */
export function viewFreshness(loadedAt: number | undefined, now: number): Freshness {
  if (loadedAt === undefined) return "stale";
  const age = now - loadedAt;
  if (age < REFRESH_AFTER_MS) return "fresh";
  return age < MAX_AGE_MS ? "refresh" : "stale";
}

interface View {
  ids: ReadonlySet<string>;
  loadedAt: number;
}

interface State {
  view?: View;
  loading?: Promise<View>;
  failedAt?: number;
}

const states = new WeakMap<D1Database, State>();
const noted = new Set<string>();

/** Records a revocation made by this isolate: refused here from now on, before any view has it. */
export function noteRevoked(id: string): void {
  noted.add(id);
  if (noted.size > MAX_NOTED) noted.delete(noted.values().next().value!);
}

/** Loads a view (one load at a time per binding: a caller while one runs shares it). */
function load(db: D1Database, state: State): Promise<View> {
  if (state.loading) return state.loading;
  const run = async (): Promise<View> => {
    const loadedAt = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the revoked token ids took over ${LOAD_TIMEOUT_MS} ms to load`)),
        LOAD_TIMEOUT_MS,
      );
    });
    try {
      const ids = await Promise.race([
        revokedTokenIds(db, new Date(loadedAt - REVOCATION_MARGIN_MS).toISOString()),
        timeout,
      ]);
      // Loads run one at a time, so this one is newer than any view already held.
      const view = { ids: new Set(ids), loadedAt };
      state.view = view;
      state.failedAt = undefined;
      return view;
    } catch (err) {
      state.failedAt = Date.now();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
  // Cleared a tick after it settles, whatever `run` did synchronously: never left behind.
  const loading: Promise<View> = run().finally(() => {
    if (state.loading === loading) state.loading = undefined;
  });
  state.loading = loading;
  return loading;
}

/**
 * Refuses a revoked token: throws ProblemError 401 (revoked) or 503 (cannot tell). `waitUntil`
 * keeps a load alive after the response (a background refresh, or one other requests joined);
 * without it a view is refreshed only when it must be awaited.
 */
export async function checkNotRevoked(
  db: D1Database,
  tokenId: string,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<void> {
  if (noted.has(tokenId)) throw revoked();
  let state = states.get(db);
  if (!state) {
    state = {};
    states.set(db, state);
  }
  const now = Date.now();
  let view = state.view;
  const freshness = viewFreshness(view?.loadedAt, now);
  if (freshness === "refresh" && waitUntil && !state.loading) {
    waitUntil(load(db, state).catch((err: unknown) => console.error("refreshing the revoked token ids failed", err)));
  }
  if (freshness === "stale") {
    if (state.failedAt !== undefined && now - state.failedAt < RETRY_AFTER_FAILURE_MS && !state.loading)
      throw unavailable();
    const loading = load(db, state);
    // Other requests may join this load: it must outlive this request if this one ends first.
    waitUntil?.(loading.catch(() => undefined));
    try {
      view = await loading;
    } catch (err) {
      console.error("loading the revoked token ids failed", err);
      throw unavailable();
    }
  }
  if (view!.ids.has(tokenId)) throw revoked();
}

const revoked = () => new ProblemError("unauthenticated", "token has been revoked");

const unavailable = () =>
  new ProblemError(
    "unavailable",
    "Cannot check whether this token has been revoked right now (the database does not answer); retry shortly",
    {},
    { "retry-after": "2" },
  );
