/**
 * Who the token is, creating a repo, and listing the repos it sees (docs/reference.md "Hugging Face Hub
 * (write)"), as `huggingface_hub` (`hf_api.py` `whoami`, `create_repo`, `list_models`) and
 * `@huggingface/hub` (`lib/who-am-i.ts`, `lib/create-repo.ts`, `lib/list-models.ts`, `hfjs
 * models list`) call them. A repo is a model: `<HF_NAMESPACE>/<model>`.
 */
import { visibilityOf } from "../../auth/principal";
import { queryDb } from "../../db/session";
import { sha256Hex } from "../../domain/ids";
import { ModelName } from "../../domain/names";
import { config } from "../../env";
import type { AppContext } from "../../http/app-env";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { parseWith, readJsonBody } from "../../http/validation";
import { ModelStore } from "../../models/model-store";
import { createModel } from "../../models/service";
import { allowedModel, authenticated, caller } from "../caller";
import { HUB_WORDING, HubError } from "./errors";
import { z } from "zod";

/** `GET /api/whoami-v2`: the token's `sub` as a user of the namespace's organisation, its role `write` when it may write. */
export async function whoami(c: AppContext): Promise<Response> {
  // A token is needed even when reads are public: "who am I" has no anonymous answer.
  const principal = await authenticated(c, "read", "write");
  const ns = config(c.env).HF_NAMESPACE;
  const mayWrite = principal.scopes.has("write") || principal.scopes.has("admin");
  return Response.json({
    type: "user",
    id: principal.sub,
    name: principal.sub,
    fullname: principal.sub,
    email: null,
    emailVerified: false,
    isPro: false,
    canPay: false,
    avatarUrl: "",
    periodEnd: null,
    orgs: [{ type: "org", id: ns, name: ns, fullname: ns, email: null, canPay: false, avatarUrl: "", periodEnd: null }],
    auth: {
      type: "access_token",
      accessToken: { displayName: principal.tokenId ?? principal.sub, role: mayWrite ? "write" : "read" },
      ...(principal.expiresAt !== undefined ? { expiresAt: new Date(principal.expiresAt).toISOString() } : {}),
    },
  });
}

const CreateRepoBody = z.object({
  name: z.string().min(1).max(256),
  organization: z.string().max(256).nullish(),
  type: z.string().max(32).nullish(),
});

/** `POST /api/repos/create`: creates the model (409 when it exists, which the clients' `exist_ok` accepts). */
export async function createRepo(c: AppContext): Promise<Response> {
  const principal = await caller(c, HUB_WORDING, { scope: "write", access: "write" });
  const body = parseWith(CreateRepoBody, await readJsonBody(c.req.raw), "create request");
  const ns = config(c.env).HF_NAMESPACE;
  if (body.type && body.type !== "model") throw new HubError(400, `This registry holds models only, not ${body.type}s`);
  if (body.organization && body.organization !== ns)
    throw new HubError(400, `This registry's namespace is '${ns}': create '${ns}/${body.name}'`);
  const name = ModelName.safeParse(body.name);
  if (!name.success)
    throw new HubError(400, `'${body.name}' is not a model name: lower case letters, digits, '.', '_' and '-'`);
  const model = allowedModel(
    principal,
    name.data,
    (m) => new HubError(403, `This token may not create a model named '${m}'`, "AccessDenied"),
  );
  await createModel({ env: c.env, principal, model }, { kind: "model", description: null, tags: {} });
  const id = `${ns}/${model}`;
  return Response.json({ url: `${new URL(c.req.url).origin}/${id}`, name: id, id });
}

const ListQuery = z.object({
  search: z.string().max(128).optional(),
  author: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: z.string().min(1).max(512).optional(),
});
const ListCursor = z.object({ after: z.string() });

/**
 * `GET /api/models`: the models the token sees (`search`: names containing it; `author`: the
 * namespace), by name, paged with an absolute `Link`. Other parameters (`sort`, `filter`,
 * `expand`) are accepted and change nothing.
 */
export async function listModels(c: AppContext): Promise<Response> {
  const principal = await authenticated(c, "read", "read");
  const url = new URL(c.req.url);
  // A repeated parameter (`expand`) counts once: its last value.
  const query = parseWith(ListQuery, Object.fromEntries(url.searchParams), "query parameters");
  const cfg = config(c.env);
  if (query.author !== undefined && query.author !== cfg.HF_NAMESPACE) return Response.json([]);
  const after = query.cursor ? decodeCursor(query.cursor, ListCursor).after : undefined;
  const rows = await new ModelStore(queryDb(c)).list({
    ...(query.search ? { contains: query.search.toLowerCase() } : {}),
    tags: [],
    visibility: visibilityOf(principal),
    ...(after !== undefined ? { after } : {}),
    limit: query.limit,
  });
  const page = rows.slice(0, query.limit);
  const headers = new Headers();
  if (rows.length > query.limit) {
    url.searchParams.set("cursor", encodeCursor({ after: page[page.length - 1]!.name }));
    headers.set("link", `<${url.toString()}>; rel="next"`);
  }
  const items = await Promise.all(
    page.map(async (m) => {
      const id = `${cfg.HF_NAMESPACE}/${m.name}`;
      return {
        _id: (await sha256Hex(m.name)).slice(0, 24),
        id,
        modelId: id,
        author: cfg.HF_NAMESPACE,
        private: !cfg.PUBLIC_READ,
        gated: false,
        disabled: false,
        downloads: 0,
        likes: 0,
        lastModified: m.updatedAt,
        createdAt: m.createdAt,
        tags: [],
      };
    }),
  );
  return Response.json(items, { headers });
}
