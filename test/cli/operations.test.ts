/**
 * Operating the registry from the CLI: webhooks added, pinged, listed with their deliveries,
 * redelivered, rotated and removed, against a real local receiver; retention policies set,
 * shown and previewed.
 */
import { createServer, type Server } from "node:http";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mreg, mregJson, sandbox, token, waitFor } from "./helpers";

const { env, dir } = sandbox();
let receiver: Server;
let url = "";
const got: { id: string; type: string }[] = [];

beforeAll(async () => {
  env.MREG_TOKEN = token(env, "platform", "read write promote admin");
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      got.push({ id: String(req.headers["webhook-id"]), type: (JSON.parse(body) as { type: string }).type });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
});

afterAll(() => {
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("mreg webhooks", () => {
  it("adds, pings, lists deliveries, redelivers, rotates and removes a webhook", async () => {
    const added = mregJson(env, [
      "webhooks",
      "add",
      url,
      "--event",
      "ping",
      "--event",
      "alias.*",
      "--model",
      "cli-ops-*",
      "--description",
      "ops test",
    ]);
    expect(added.secret).toMatch(/^whsec_/);
    expect(added).toMatchObject({ url, events: ["ping", "alias.*"], models: ["cli-ops-*"], active: true });
    const human = mreg(env, ["webhooks", "ls"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(added.id);
    expect(human.stdout).not.toContain(added.secret);

    const ping = mregJson(env, ["webhooks", "ping", added.id]);
    await waitFor(() => got.some((g) => g.id === ping.event_id), "the ping", 30_000);
    const deliveries = mregJson(env, ["webhooks", "deliveries", added.id, "--status", "delivered"]);
    expect(deliveries.items[0]).toMatchObject({ id: ping.delivery_id, type: "ping", status: "delivered", attempts: 1 });

    expect(mreg(env, ["webhooks", "redeliver", added.id, ping.delivery_id]).code).toBe(0);
    await waitFor(() => got.filter((g) => g.id === ping.event_id).length === 2, "the redelivery", 30_000);

    const rotated = mregJson(env, ["webhooks", "rotate", added.id]);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(added.secret);
    expect(mregJson(env, ["webhooks", "enable", added.id, "--off"]).active).toBe(false);
    expect(mregJson(env, ["webhooks", "enable", added.id]).active).toBe(true);

    expect(mreg(env, ["webhooks", "deliveries", added.id, "--status", "lost"]).code).toBe(2);
    expect(mreg(env, ["webhooks", "rm", added.id]).code).toBe(0);
    expect(mreg(env, ["webhooks", "rm", added.id]).code).toBe(5);
  });

  it("needs admin: a writer's token exits 1 with the server's reason", () => {
    const writer = { ...env, MREG_TOKEN: token(env, "ci", "read write") };
    const r = mreg(writer, ["webhooks", "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("admin");
    expect(r.stderr).not.toMatch(/at .+\.m?js:\d+/);
  });
});

describe("mreg retention", () => {
  it("sets, shows and previews a model's policy, and the registry default", () => {
    const model = "cli-ops-retention";
    for (const n of [1, 2, 3]) {
      const file = join(dir, `r${n}.json`);
      writeFileSync(file, JSON.stringify({ n }));
      expect(mreg(env, ["push", model, file, "-q"]).code).toBe(0);
    }
    expect(mregJson(env, ["retention", "show", model])).toMatchObject({ inherited: true });
    expect(mregJson(env, ["retention", "set", model, "--policy", '{"keep_last": 1}'])).toMatchObject({
      policy: { keep_last: 1 },
      inherited: false,
    });
    const preview = mregJson(env, ["retention", "preview", model]);
    expect(preview.delete.map((d: { version: number }) => d.version).sort()).toEqual([1, 2]);
    expect(preview.keep.map((k: { version: number }) => k.version)).toEqual([3]);
    const human = mreg(env, ["retention", "preview", model, "--policy", '{"keep_last": 2}']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("1 to delete, 2 to keep");
    expect(mreg(env, ["retention", "set", model, "--policy", "{not json"]).code).toBe(2);
    expect(mreg(env, ["retention", "set", model, "--policy", '{"keep_last": -1}']).code).toBe(1);
    expect(mreg(env, ["retention", "rm", model]).code).toBe(0);
    expect(mregJson(env, ["retention", "show", model])).toMatchObject({ inherited: true });
    expect(mregJson(env, ["retention", "show"])).toEqual({});
  });
});
