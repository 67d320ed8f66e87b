/** Builds the Hono app: request ids, the error handler, and every route. */
import { Hono } from "hono";
import { aliasRoutes } from "./aliases/routes";
import { artifactRoutes } from "./artifacts/routes";
import { auditRoutes } from "./audit/routes";
import { d1Session } from "./http/d1-session";
import { hubBridge } from "./bridges/hf/routes";
import { mlflowBridge } from "./bridges/mlflow/routes";
import { ociBridge } from "./bridges/oci/routes";
import { gateRoutes } from "./gates/routes";
import { fleetRoutes } from "./fleet/routes";
import { webhookRoutes } from "./events/routes";
import { guardRoutes } from "./guards/routes";
import { lineageRoutes } from "./lineage/routes";
import { register, type AnyRouteSpec } from "./http/api";
import type { AppEnv } from "./http/app-env";
import { ProblemError } from "./domain/problem";
import { problemResponse } from "./http/problem";
import { metaRoutes } from "./meta-routes";
import { modelRoutes } from "./models/model-routes";
import { resolveRoutes } from "./resolve/routes";
import { retentionRoutes } from "./retention/routes";
import { signatureRoutes } from "./signing/routes";
import { signingKeyRoutes } from "./signing/keys-routes";
import { rolloutRoutes } from "./rollouts/routes";
import { tokenRoutes } from "./tokens/routes";
import { registerUi } from "./ui/routes";
import { versionRoutes } from "./models/version-routes";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const routes: AnyRouteSpec[] = [];
  routes.push(
    ...metaRoutes(() => routes),
    ...modelRoutes,
    ...versionRoutes,
    ...artifactRoutes,
    ...aliasRoutes,
    ...gateRoutes,
    ...guardRoutes,
    ...rolloutRoutes,
    ...resolveRoutes,
    ...fleetRoutes,
    ...lineageRoutes,
    ...retentionRoutes,
    ...auditRoutes,
    ...webhookRoutes,
    ...tokenRoutes,
    ...signingKeyRoutes,
    ...signatureRoutes,
  );

  app.use(async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    c.res.headers.set("x-request-id", requestId);
  });
  app.use(d1Session());

  for (const route of routes) register(app, route);
  // The web UI lives outside /v1, so an unknown /v1 path still answers the API's problem+json 404.
  registerUi(app);
  // MLflow's Model Registry REST API and artifact proxy, under /api/2.0/ (before the Hub's one-segment repo paths).
  app.route("/", mlflowBridge());
  // The OCI distribution protocol's pull side, under /v2.
  app.route("/", ociBridge());
  // The Hugging Face Hub's read protocol, at the paths its clients fix; after /v1 and the UI, whose paths win.
  app.route("/", hubBridge());

  app.notFound((c) => problemResponse("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`));

  app.onError((err, c) => {
    if (err instanceof ProblemError) return problemResponse(err.code, err.detail, err.extra, err.headers);
    // The body says nothing of the cause (no stack, no SQL); the log keeps it, by request id.
    console.error(`request ${c.get("requestId")} failed`, err);
    return problemResponse("internal", `Internal error; quote request id ${c.get("requestId") ?? "unknown"}`);
  });

  return app;
}
