/**
 * The CI run of the crash-and-load campaign (./campaign.ts): 45 s or more of seeded mixed
 * workload against a real `npm start`, killed with SIGKILL at least three times and
 * restarted on its data, then every invariant of issue 19 checked. Operators run longer
 * campaigns with `npm run chaos -- --minutes N --seed S` (docs/chaos.md).
 */
import { expect, it } from "vitest";
import { runCampaign } from "./campaign";

it("keeps every invariant through a seeded run with three crashes", async () => {
  const lines: string[] = [];
  const result = await runCampaign({ minutes: 0.75, seed: 19, kills: 3, log: (line) => lines.push(line) });
  console.log([...lines, result.report].join("\n"));
  expect(result.kills).toBeGreaterThanOrEqual(3);
  expect(result.restarts).toBe(result.kills);
  expect(result.ops).toBeGreaterThan(20);
  for (const inv of ["1", "2", "3", "4", "5", "6", "7", "8"] as const)
    expect(result.tally.checked.get(inv), `invariant ${inv} checked`).toBeGreaterThan(0);
  // Every invariant must hold: any violation fails the run.
  expect(
    result.tally.violations.map((v) => `[${v.inv}] ${v.what}`),
    result.report,
  ).toEqual([]);
});
