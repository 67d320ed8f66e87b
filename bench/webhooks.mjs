#!/usr/bin/env node
// bench/webhooks: delivery is off the write path. Under `npm start`, `--changes` alias
// changes (PUT alias, one at a time) with no webhook, then with 3 webhooks subscribed to
// every event (local receivers answering 200 at once), in alternating rounds so that load
// from elsewhere on the machine falls on both alike. Reports the p50/p99 of PUT alias in
// each mode and their ratio, and checks that every change of the webhook rounds reached
// all three receivers.
//   npx node bench/webhooks.mjs [--changes 1000] [--rounds 4]
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bytesSource } from "../dist/client.mjs";
import { apiClient, freePort, mintToken, startServer } from "./lib.mjs";

const { values } = parseArgs({
  options: { changes: { type: "string", default: "1000" }, rounds: { type: "string", default: "4" } },
});
const CHANGES = Number(values.changes);
const ROUNDS = Number(values.rounds);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function receivers(n) {
  const got = Array.from({ length: n }, () => new Set());
  const servers = [];
  for (let i = 0; i < n; i++) {
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        got[i].add(req.headers["webhook-id"]);
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
  }
  return {
    got,
    urls: servers.map((s) => `http://127.0.0.1:${s.address().port}/hook`),
    close: () => servers.forEach((s) => s.close()),
  };
}

async function main() {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-bench-webhooks-"));
  const server = await startServer("npm", ["start", "--", "--port", String(port), "--persist-to", state], { port });
  const client = apiClient(`http://127.0.0.1:${port}`, mintToken("read write promote admin"));
  const sinks = await receivers(3);
  try {
    await client.models.create({ name: "bench-hooks" });
    for (const v of [1, 2]) {
      await client.versions.create("bench-hooks");
      const bytes = new TextEncoder().encode(`w${v}`);
      await client.upload("bench-hooks", v, "w.bin", bytesSource(bytes), {
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
      await client.versions.finalize("bench-hooks", v);
    }
    let flip = 0;
    const change = async () => {
      const t0 = performance.now();
      await client.aliases.set("bench-hooks", "production", { version: (flip++ % 2) + 1 });
      return performance.now() - t0;
    };
    for (let i = 0; i < 50; i++) await change(); // warm-up
    const times = { none: [], hooked: [] };
    const perRound = Math.ceil(CHANGES / ROUNDS);
    let hookIds = [];
    for (let round = 0; round < ROUNDS * 2; round++) {
      const hooked = round % 2 === Math.floor(round / 2) % 2;
      if (hooked)
        hookIds = await Promise.all(sinks.urls.map(async (url) => (await client.webhooks.create({ url })).id));
      for (let i = 0; i < perRound; i++) times[hooked ? "hooked" : "none"].push(await change());
      if (hooked) {
        // Let the round's last dispatches find the webhooks before they go.
        await new Promise((r) => setTimeout(r, 2000));
        for (const id of hookIds) await client.webhooks.delete(id);
      }
    }
    // Every alias change made while subscribed reached every receiver.
    const audit = [];
    let cursor = null;
    do {
      const page = await client.audit.list({
        model: "bench-hooks",
        action: "alias.set",
        limit: 200,
        ...(cursor ? { cursor } : {}),
      });
      audit.push(...page.items.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    const delivered = sinks.got.map((s) => audit.filter((id) => s.has(id)).length);
    const report = {};
    for (const mode of ["none", "hooked"]) {
      const sorted = [...times[mode]].sort((a, b) => a - b);
      report[mode] = { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    }
    console.log(`PUT alias, ${CHANGES} changes per mode in ${ROUNDS} alternating rounds each`);
    console.log(`  no webhooks: p50 ${report.none.p50.toFixed(1)} ms, p99 ${report.none.p99.toFixed(1)} ms`);
    console.log(`  3 webhooks:  p50 ${report.hooked.p50.toFixed(1)} ms, p99 ${report.hooked.p99.toFixed(1)} ms`);
    console.log(
      `  p99 ratio ${(report.hooked.p99 / report.none.p99).toFixed(2)}x, p50 ratio ${(report.hooked.p50 / report.none.p50).toFixed(2)}x`,
    );
    console.log(
      `  alias.set events delivered per receiver (of ${report.hooked.n} made while subscribed): ${delivered.join(", ")}`,
    );
  } finally {
    sinks.close();
    await server.stop();
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
