/** Operating the registry: `webhooks ls|add|rm|deliveries|redeliver|ping|rotate|enable` and `retention show|set|preview` (admin). */
import { readFileSync } from "node:fs";
import type { Delivery, RetentionPolicy } from "../../client/types";
import { flag, int, str, strs, type Command } from "../command";
import { UsageError } from "../exit";
import { ago, fields, table } from "../output";

export const webhooksLs: Command = {
  name: "webhooks ls",
  summary: "The webhooks (admin)",
  options: { limit: { type: "string" }, cursor: { type: "string" } },
  help: ["--limit N, --cursor C   Paging (1..200, default 50)"],
  async run(ctx, input) {
    const limit = int(input, "limit", { min: 1, max: 200 });
    const cursor = str(input, "cursor");
    const page = await ctx.client.webhooks.list({ ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) });
    ctx.out.result(page, () =>
      table(
        ["id", "url", "events", "models", "active", "updated"],
        page.items.map((w) => [
          w.id,
          w.url,
          w.events.join(",") || "*",
          w.models.join(",") || "*",
          w.active ? "yes" : `no: ${w.disabled_reason ?? ""}`,
          ago(w.updated_at),
        ]),
      ),
    );
  },
};

export const webhooksAdd: Command = {
  name: "webhooks add",
  args: "<url>",
  summary: "Subscribe an endpoint to events; prints its signing secret once (admin)",
  options: {
    event: { type: "string", multiple: true },
    model: { type: "string", multiple: true },
    description: { type: "string" },
  },
  help: [
    "--event GLOB     Event types to send (audit actions: alias.*, rollback, version.finalize …; repeatable; default all)",
    "--model GLOB     Models whose events to send (repeatable; default all)",
    "--description TEXT",
  ],
  examples: [
    "mreg webhooks add https://hooks.slack.example/T0/B0 --event 'alias.*' --event rollback --model 'payment-*'",
  ],
  async run(ctx, input) {
    const description = str(input, "description");
    const hook = await ctx.client.webhooks.create({
      url: input.positionals[0]!,
      events: strs(input, "event"),
      models: strs(input, "model"),
      ...(description !== undefined ? { description } : {}),
    });
    ctx.out.result(hook, () =>
      fields([
        ["webhook", hook.id],
        ["url", hook.url],
        ["secret", `${hook.secret}   (shown only now: verify deliveries with it, Standard Webhooks)`],
      ]),
    );
  },
};

export const webhooksRm: Command = {
  name: "webhooks rm",
  args: "<id>",
  summary: "Remove a webhook and its delivery records (admin)",
  async run(ctx, input) {
    const id = input.positionals[0]!;
    await ctx.client.webhooks.delete(id);
    ctx.out.result({ id, deleted: true }, () => `removed webhook ${id}`);
  },
};

export const webhooksRotate: Command = {
  name: "webhooks rotate",
  args: "<id>",
  summary: "Rotate a webhook's secret; the old one keeps signing for 24 h (admin)",
  async run(ctx, input) {
    const hook = await ctx.client.webhooks.update(input.positionals[0]!, { rotate_secret: true });
    ctx.out.result(hook, () => `new secret for ${hook.id}: ${hook.secret}   (the old one also signs for 24 h)`);
  },
};

export const webhooksEnable: Command = {
  name: "webhooks enable",
  args: "<id>",
  summary: "Re-enable a disabled webhook (--off disables it) (admin)",
  options: { off: { type: "boolean" } },
  help: ["--off            Disable it instead"],
  async run(ctx, input) {
    const hook = await ctx.client.webhooks.update(input.positionals[0]!, { active: !flag(input, "off") });
    ctx.out.result(hook, () => `webhook ${hook.id} is ${hook.active ? "active" : "disabled"}`);
  },
};

export const webhooksDeliveries: Command = {
  name: "webhooks deliveries",
  args: "<id>",
  summary: "A webhook's deliveries, newest first (admin)",
  options: { status: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } },
  help: ["--status S       pending, delivered or failed", "--limit N, --cursor C   Paging (1..200, default 50)"],
  async run(ctx, input) {
    const status = str(input, "status");
    if (status !== undefined && !["pending", "delivered", "failed"].includes(status)) {
      throw new UsageError("--status is pending, delivered or failed", "webhooks deliveries");
    }
    const limit = int(input, "limit", { min: 1, max: 200 });
    const cursor = str(input, "cursor");
    const page = await ctx.client.webhooks.deliveries(input.positionals[0]!, {
      ...(status ? { status: status as Delivery["status"] } : {}),
      ...(limit ? { limit } : {}),
      ...(cursor ? { cursor } : {}),
    });
    ctx.out.result(page, () =>
      table(
        ["delivery", "type", "status", "attempts", "last", "next attempt"],
        page.items.map((d) => [
          d.id,
          d.type,
          d.status,
          d.attempts,
          d.last_status_code ?? d.last_error ?? "",
          d.next_attempt_at ?? "",
        ]),
      ),
    );
  },
};

export const webhooksRedeliver: Command = {
  name: "webhooks redeliver",
  args: "<id> <delivery>",
  summary: "Send a delivery again, same body and webhook-id (admin)",
  async run(ctx, input) {
    const [id, delivery] = input.positionals as [string, string];
    await ctx.client.webhooks.redeliver(id, delivery);
    ctx.out.result({ id, delivery, queued: true }, () => `queued ${delivery} again`);
  },
};

export const webhooksPing: Command = {
  name: "webhooks ping",
  args: "<id>",
  summary: "Send a test event of type ping (admin)",
  async run(ctx, input) {
    const sent = await ctx.client.webhooks.ping(input.positionals[0]!);
    ctx.out.result(sent, () => `queued ping ${sent.event_id}; see: mreg webhooks deliveries ${input.positionals[0]}`);
  },
};

/** A policy argument: inline JSON, a file, or `-` for stdin. */
function policyArg(text: string | undefined, command: string): RetentionPolicy | undefined {
  if (text === undefined) return undefined;
  let source = text;
  if (!text.trim().startsWith("{")) {
    try {
      source = readFileSync(text === "-" ? 0 : text, "utf8");
    } catch (err) {
      throw new UsageError(`--policy: cannot read ${text} (${(err as Error).message})`, command);
    }
  }
  try {
    return JSON.parse(source) as RetentionPolicy;
  } catch (err) {
    throw new UsageError(`--policy: not JSON (${(err as Error).message})`, command);
  }
}

const POLICY_HELP = [
  "--policy JSON|FILE|-   keep_last, max_age_days, keep_stages, keep_tags, pending_max_age_days, failed_max_age_days",
];

export const retentionShow: Command = {
  name: "retention show",
  args: "[model]",
  summary: "The retention policy of a model (and whether it is the default's), or the registry default",
  async run(ctx, input) {
    const model = input.positionals[0];
    if (model === undefined) {
      const policy = await ctx.client.retention.getDefault();
      ctx.out.result(policy, () => `registry default: ${JSON.stringify(policy)}`);
      return;
    }
    const r = await ctx.client.retention.get(model);
    ctx.out.result(r, () => `${model}: ${JSON.stringify(r.policy)}${r.inherited ? "   (the registry default)" : ""}`);
  },
};

export const retentionSet: Command = {
  name: "retention set",
  args: "[model]",
  summary: "Set a model's retention policy, or with no model the registry default (admin)",
  options: { policy: { type: "string" } },
  help: POLICY_HELP,
  examples: [
    `mreg retention set payment-fraud --policy '{"keep_last": 20, "max_age_days": 90, "keep_tags": {"keep": "true"}}'`,
  ],
  async run(ctx, input) {
    const policy = policyArg(str(input, "policy"), "retention set");
    if (!policy) throw new UsageError("--policy is required", "retention set");
    const model = input.positionals[0];
    const result =
      model === undefined
        ? await ctx.client.retention.setDefault(policy)
        : await ctx.client.retention.set(model, policy);
    ctx.out.result(result, () => `${model ?? "registry default"}: ${JSON.stringify(policy)}`);
  },
};

export const retentionRm: Command = {
  name: "retention rm",
  args: "<model>",
  summary: "Remove a model's own policy: the registry default applies again (admin)",
  async run(ctx, input) {
    const model = input.positionals[0]!;
    await ctx.client.retention.delete(model);
    ctx.out.result({ model, deleted: true }, () => `${model} follows the registry default again`);
  },
};

export const retentionPreview: Command = {
  name: "retention preview",
  args: "<model>",
  summary: "What the policy in force (or --policy) would delete now; changes nothing",
  options: { policy: { type: "string" } },
  help: POLICY_HELP,
  examples: [
    "mreg retention preview payment-fraud",
    `mreg retention preview payment-fraud --policy '{"keep_last": 5}'`,
  ],
  async run(ctx, input) {
    const model = input.positionals[0]!;
    const preview = await ctx.client.retention.preview(model, policyArg(str(input, "policy"), "retention preview"));
    ctx.out.result(preview, () =>
      [
        `${model}: ${preview.delete.length} to delete, ${preview.keep.length} to keep`,
        table(
          ["version", "decision", "why"],
          [
            ...preview.delete.map((d) => [d.version, "delete", d.rule]),
            ...preview.keep.map((k) => [k.version, "keep", k.reason]),
          ].sort((a, b) => Number(b[0]) - Number(a[0])),
        ),
      ].join("\n"),
    );
  },
};
