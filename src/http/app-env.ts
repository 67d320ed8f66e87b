/**
 * The Hono environment every route and middleware shares: the bindings, and what a request
 * carries from middleware to handler. A leaf: it imports only types of lower layers.
 */
import type { Context } from "hono";
import type { RequestSession } from "../db/session";
import type { Env } from "../env";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** The request's D1 session, opened on first use as the route declared (src/db/session.ts). */
    session: RequestSession;
  };
}

export type AppContext = Context<AppEnv>;
