/** Models and versions: `models ls|create|show|update|delete`, `versions ls|show|update|stage|delete`. */
import type { Model, ModelKind, Stage, Version, VersionStatus } from "../../client/types";
import { flag, int, numberPairs, str, strs, tagPairOf, tagPairs, toInt, type Command, type Input } from "../command";
import { UsageError } from "../exit";
import { modelNameProblem } from "../names";
import { targetOf } from "../not-found";
import { ago, bytes, fields, kv, table } from "../output";
import { more } from "./promote";

const KINDS = ["model", "prompt", "config"];
const STAGES = ["none", "staging", "production", "archived"];
const STATUSES = ["pending", "ready", "failed"];

function oneOf<T extends string>(input: Input, name: string, allowed: string[]): T | undefined {
  const v = str(input, name);
  if (v !== undefined && !allowed.includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}`);
  return v as T | undefined;
}

/** `--tag` filters, checked here so a typo is a usage error (exit 2) rather than the server's 400. */
function tagFilter(input: Input): string[] {
  const filters = strs(input, "tag");
  for (const text of filters) tagPairOf(text, "tag");
  return filters;
}

const page = { limit: { type: "string" }, cursor: { type: "string" } } as const;
const pageHelp = "--limit N, --cursor C   Paging (1..200, default 50)";
const pageQuery = (input: Input) => ({ limit: int(input, "limit", { max: 200 }), cursor: str(input, "cursor") });

function showModel(m: Model): string {
  return fields([
    ["name", m.name],
    ["kind", m.kind],
    ["description", m.description],
    ["tags", kv(m.tags)],
    ["latest version", m.latest_version],
    ["aliases", kv(m.aliases)],
    ["created", `${m.created_at} by ${m.created_by}`],
    ["updated", m.updated_at],
  ]);
}

export const modelsLs: Command = {
  name: "models ls",
  summary: "List models",
  options: { prefix: { type: "string" }, kind: { type: "string" }, tag: { type: "string", multiple: true }, ...page },
  help: [
    "--prefix P      Names starting with P",
    "--kind K        model, prompt or config",
    "--tag k=v       Carrying this model tag, k=v or k:v (repeatable; all must match)",
    pageHelp,
  ],
  examples: ["mreg models ls --prefix fraud- --tag team=risk"],
  async run(ctx, input) {
    const result = await ctx.client.models.list({
      prefix: str(input, "prefix"),
      kind: oneOf<ModelKind>(input, "kind", KINDS),
      tag: tagFilter(input),
      ...pageQuery(input),
    });
    ctx.out.result(
      result,
      () =>
        table(
          ["name", "kind", "latest", "aliases", "model tags", "updated"],
          result.items.map((m) => [m.name, m.kind, m.latest_version, kv(m.aliases), kv(m.tags), ago(m.updated_at)]),
        ) + more(result.next_cursor),
    );
  },
};

export const modelsCreate: Command = {
  name: "models create",
  args: "<name>",
  summary: "Register a model",
  options: { kind: { type: "string" }, description: { type: "string" }, tag: { type: "string", multiple: true } },
  help: ["--kind K          model (default), prompt or config", "--description TEXT", "--tag k=v         (repeatable)"],
  examples: ["mreg models create payment-fraud --tag team=risk --description 'card fraud scorer'"],
  async run(ctx, input) {
    const problem = modelNameProblem(input.positionals[0]!);
    if (problem) throw new UsageError(problem, "models create");
    const model = await ctx.client.models.create({
      name: input.positionals[0]!,
      kind: oneOf<ModelKind>(input, "kind", KINDS),
      description: str(input, "description"),
      tags: tagPairs(input, "tag"),
    });
    ctx.out.result(model, () => `created ${model.name}`);
  },
};

export const modelsShow: Command = {
  name: "models show",
  args: "<name>",
  summary: "A model's details",
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const model = await ctx.client.models.get(input.positionals[0]!);
    ctx.out.result(model, () => showModel(model));
  },
};

export const modelsUpdate: Command = {
  name: "models update",
  args: "<name>",
  summary: "Change a model's description or tags",
  options: {
    description: { type: "string" },
    tag: { type: "string", multiple: true },
    "rm-tag": { type: "string", multiple: true },
  },
  help: ["--description TEXT", "--tag k=v       Set a tag (repeatable)", "--rm-tag k       Remove a tag (repeatable)"],
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const tags: Record<string, string | null> = { ...tagPairs(input, "tag") };
    for (const k of strs(input, "rm-tag")) tags[k] = null;
    const model = await ctx.client.models.update(input.positionals[0]!, {
      ...(str(input, "description") !== undefined ? { description: str(input, "description") } : {}),
      ...(Object.keys(tags).length ? { tags } : {}),
    });
    ctx.out.result(model, () => showModel(model));
  },
};

export const modelsDelete: Command = {
  name: "models delete",
  args: "<name>",
  summary: "Delete a model (admin; refused while an alias is set)",
  options: { yes: { type: "boolean", short: "y" } },
  help: ["-y, --yes   Delete without asking (needed when stdin is not a terminal)"],
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const name = input.positionals[0]!;
    await ctx.confirm(flag(input, "yes"), `Deleting model '${name}'`, name, "models delete");
    await ctx.client.models.delete(name);
    ctx.out.result({ name, deleted: true }, () => `deleted ${name}`);
  },
};

export function showVersion(v: Version): string {
  const head = fields([
    ["model", v.model],
    ["version", v.version],
    ["uri", `registry://${v.model}/${v.version}`],
    ["status", v.status],
    ["stage", v.stage],
    ["aliases", v.aliases.join(", ")],
    ["digest", v.digest],
    ["description", v.description],
    ["metrics", kv(v.metrics)],
    ["tags", kv(v.tags)],
    ["lineage", Object.keys(v.lineage).length ? JSON.stringify(v.lineage) : ""],
    ["created", `${v.created_at} by ${v.created_by}`],
    ["ready", v.ready_at],
  ]);
  const files = v.files.length
    ? "\n\n" +
      table(
        ["path", "size", "sha256"],
        v.files.map((f) => [f.path, bytes(f.size), f.sha256]),
      )
    : "";
  return head + files;
}

const versionArg = (input: Input) => toInt(input.positionals[1]!, "version");

export const versionsLs: Command = {
  name: "versions ls",
  args: "<model>",
  summary: "A model's versions, newest first",
  options: { status: { type: "string" }, stage: { type: "string" }, tag: { type: "string", multiple: true }, ...page },
  help: [
    "--status S      pending, ready or failed",
    "--stage S       none, staging, production or archived",
    "--tag k=v       Carrying this version tag, k=v or k:v (repeatable; all must match)",
    pageHelp,
  ],
  examples: ["mreg versions ls payment-fraud --tag team=nlp"],
  target: (i) => targetOf(i.positionals[0]),
  async run(ctx, input) {
    const result = await ctx.client.versions.list(input.positionals[0]!, {
      status: oneOf<VersionStatus>(input, "status", STATUSES),
      stage: oneOf<Stage>(input, "stage", STAGES),
      tag: tagFilter(input),
      ...pageQuery(input),
    });
    ctx.out.result(
      result,
      () =>
        table(
          ["version", "status", "stage", "aliases", "metrics", "tags", "created", "by"],
          result.items.map((v) => [
            v.version,
            v.status,
            v.stage,
            v.aliases.join(","),
            kv(v.metrics),
            kv(v.tags),
            ago(v.created_at),
            v.created_by,
          ]),
        ) + more(result.next_cursor),
    );
  },
};

export const versionsShow: Command = {
  name: "versions show",
  args: "<model> <version>",
  summary: "A version's details and files",
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[1] }),
  async run(ctx, input) {
    const v = await ctx.client.versions.get(input.positionals[0]!, versionArg(input));
    ctx.out.result(v, () => showVersion(v));
  },
};

export const versionsUpdate: Command = {
  name: "versions update",
  args: "<model> <version>",
  summary: "Record metrics (also after ready), tags or the description",
  options: {
    metric: { type: "string", multiple: true },
    tag: { type: "string", multiple: true },
    "rm-tag": { type: "string", multiple: true },
    description: { type: "string" },
  },
  help: [
    "--metric k=v    (repeatable; numbers)",
    "--tag k=v       (repeatable)",
    "--rm-tag k      (repeatable)",
    "--description TEXT",
  ],
  examples: ["mreg versions update payment-fraud 3 --metric auc=0.95 --tag validation=passed"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[1] }),
  async run(ctx, input) {
    const tags: Record<string, string | null> = { ...tagPairs(input, "tag") };
    for (const k of strs(input, "rm-tag")) tags[k] = null;
    const metrics = numberPairs(input, "metric");
    const v = await ctx.client.versions.update(input.positionals[0]!, versionArg(input), {
      ...(Object.keys(metrics).length ? { metrics } : {}),
      ...(Object.keys(tags).length ? { tags } : {}),
      ...(str(input, "description") !== undefined ? { description: str(input, "description") } : {}),
    });
    ctx.out.result(v, () => showVersion(v));
  },
};

export const versionsStage: Command = {
  name: "versions stage",
  args: "<model> <version> <stage>",
  summary: "Move a version to a stage (none, staging, production, archived); gates apply",
  options: { "archive-existing": { type: "boolean" }, reason: { type: "string" } },
  help: ["--archive-existing   Move the versions now in that stage to archived", "--reason TEXT"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[1] }),
  async run(ctx, input) {
    const stage = input.positionals[2]!;
    if (!STAGES.includes(stage)) throw new UsageError(`stage must be one of ${STAGES.join(", ")}`, "versions stage");
    const v = await ctx.client.versions.setStage(input.positionals[0]!, versionArg(input), {
      stage: stage as Stage,
      archive_existing: flag(input, "archive-existing"),
      reason: str(input, "reason"),
    });
    ctx.out.result(v, () => `${v.model} version ${v.version} is in stage ${v.stage}`);
  },
};

export const versionsDelete: Command = {
  name: "versions delete",
  args: "<model> <version>",
  summary: "Delete a version (admin; refused while an alias or production holds it)",
  options: { yes: { type: "boolean", short: "y" } },
  help: ["-y, --yes   Delete without asking (needed when stdin is not a terminal)"],
  target: (i) => targetOf(i.positionals[0], { version: i.positionals[1] }),
  async run(ctx, input) {
    const [model] = input.positionals as [string];
    const version = versionArg(input);
    await ctx.confirm(
      flag(input, "yes"),
      `Deleting version ${version} of '${model}'`,
      `${model}/${version}`,
      "versions delete",
    );
    await ctx.client.versions.delete(model, version);
    ctx.out.result({ model, version, deleted: true }, () => `deleted ${model} version ${version}`);
  },
};
