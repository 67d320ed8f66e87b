/**
 * D1 through the Sessions API: deployed, D1 answers reads from a replica near the caller, and
 * a session's bookmark keeps them sequentially consistent. Every request gets one session
 * (`RequestSession`), opened on its first query:
 *
 * - A client that sends `x-mreg-bookmark` (the header of an earlier answer) is served from a
 *   copy at least that fresh, so it reads its own writes.
 * - Otherwise a read takes whichever copy is nearest (`first-unconstrained`).
 * - A write's reads always start at the primary (`first-primary`), whatever bookmark came:
 *   what a write checks (a parent exists) or reads back must not be older than the primary.
 * - Read or write is what the route declares (`access` on its spec, src/http/api.ts), not
 *   what its HTTP method suggests: a read-only POST reads like a GET.
 * - Every answer carries the newest bookmark the request saw. A write's changes reach D1
 *   through its model's Durable Object (the outbox flush, before the RPC returns), not
 *   through this session, so a write request ends by asking the primary for a bookmark that
 *   covers them (src/http/d1-session.ts).
 *
 * Locally there is one copy and the same API, so the header round trip behaves the same.
 */
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";

export const BOOKMARK_HEADER = "x-mreg-bookmark";

/**
 * D1's bookmarks are hex groups joined by `-` (`00000000-0000000a-00000000-000…`). Checked
 * loosely (their exact widths are D1's business): anything else is refused before D1 sees it.
 */
export const BOOKMARK = /^[0-9a-f]{1,64}(-[0-9a-f]{1,64}){1,7}$/;

/** What reads and writes of the query side take: the request's session, or a session of its own. */
export type D1Handle = D1Database | D1DatabaseSession;

/** Whether a request only reads, or writes (whose reads then start at the primary). */
export type Access = "read" | "write";

/** Drizzle over a session: the driver calls only `prepare` and `batch`, which sessions have. */
export function orm(d1: D1Handle): DrizzleD1Database {
  // reason: drizzle's type names D1Database, but a D1DatabaseSession offers every method it uses.
  return drizzle(d1 as D1Database);
}

/** Bookmarks are fixed-width hex, so the later of two is the greater string. */
export const laterBookmark = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** One request's D1 session: its access is settled before its first query opens it. */
export class RequestSession {
  private opened: D1DatabaseSession | null = null;
  /** False when a write request changes nothing in D1 (no fresh bookmark needed). */
  writesD1 = true;

  constructor(
    private readonly d1: D1Database,
    /** The bookmark the client sent, if any (already checked). */
    readonly sent: string | null,
    public access: Access,
  ) {}

  get db(): D1DatabaseSession {
    this.opened ??= this.d1.withSession(
      this.access === "write" ? "first-primary" : (this.sent ?? "first-unconstrained"),
    );
    return this.opened;
  }

  /** The newest bookmark this request has seen (the client's, or its session's). */
  bookmark(): string | null {
    return laterBookmark(this.sent, this.opened?.getBookmark() ?? null);
  }
}

/** The request's D1 session. */
export function queryDb(c: { var: { session: RequestSession } }): D1DatabaseSession {
  return c.var.session.db;
}

/**
 * Marks a write request whose change never reaches D1 (a part of an upload, a guard signal):
 * it skips the primary round trip for a fresh bookmark.
 */
export function skipWriteBookmark(c: { var: { session: RequestSession } }): void {
  c.var.session.writesD1 = false;
}
