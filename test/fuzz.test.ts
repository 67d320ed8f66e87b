/**
 * The hostile-input fuzz run of CI (issue 19): every route the served OpenAPI document lists,
 * valid requests and mutations of them, through the Worker's own fetch inside workerd.
 * Seeded and replayable: FUZZ_SEED, FUZZ_REQUESTS and FUZZ_BUDGET_S (environment of vitest;
 * defaults 19, 10,000 and 25 s: the run stops sending at the budget, on a loaded machine
 * before the count, and says where; never before every route has had a request and
 * MIN_REQUESTS were sent, so what it covers depends on the seed, not on the machine's speed).
 * `npm run fuzz` runs the same fuzzer against a server.
 */
import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { runFuzz } from "./fuzz/fuzzer";
import type { Reply, Wire } from "./fuzz/wire";
import { hsToken } from "./helpers";

const SEED = Number(env.FUZZ_SEED);
const REQUESTS = Number(env.FUZZ_REQUESTS);
const BUDGET_MS = Number(env.FUZZ_BUDGET_S) * 1000;
const MIN_REQUESTS = Math.min(REQUESTS, 500);

async function send(wire: Wire): Promise<Reply> {
  const res = await exports.default.fetch(
    new Request(`http://mreg.test${wire.target}`, {
      method: wire.method,
      headers: wire.headers,
      ...(wire.body ? { body: wire.body } : {}),
    }),
  );
  // Bytes as bytes (a download is not text); the oracle reads error bodies only.
  return { status: res.status, headers: res.headers, body: new TextDecoder().decode(await res.arrayBuffer()) };
}

it(`answers hostile requests (seed ${SEED}, up to ${REQUESTS}) with no 5xx, every error in its protocol's format`, async () => {
  const report = await runFuzz({
    send,
    admin: await hsToken(),
    secret: env.JWT_SECRET,
    seed: SEED,
    requests: REQUESTS,
    budgetMs: BUDGET_MS,
    minRequests: MIN_REQUESTS,
    log: (line) => console.log(line),
  });
  const perRequest = (report.elapsedMs / Math.max(1, report.requests)).toFixed(1);
  console.log(
    `fuzz seed ${SEED}: ${report.requests} requests (+${report.setupRequests} set-up, ${report.unsendable} unsendable) in ${report.elapsedMs} ms (${perRequest} ms each) over ${Object.keys(report.routes).length} routes` +
      `${report.stoppedAt !== undefined ? `; budget reached at request #${report.stoppedAt}` : ""}; statuses ${JSON.stringify(report.statuses)}`,
  );
  expect(report.findings, JSON.stringify(report.findings, null, 2)).toEqual([]);
  // Every route the document lists got requests, and the run was a real one, however slow.
  expect(Object.keys(report.routes).length).toBe(report.routeCount);
  expect(report.requests + report.unsendable).toBeGreaterThanOrEqual(MIN_REQUESTS);
});
