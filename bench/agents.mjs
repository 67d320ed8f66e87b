// Real `mreg agent` processes for the benches (bench/fleet.mjs, bench/rollout.mjs): started
// from the built CLI, each in its own folder, and all killed when the bench exits.
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "./lib.mjs";

/** Every agent started, so a bench stopped early takes them down too. */
const allAgents = [];
process.on("exit", () => allAgents.forEach((child) => child.kill("SIGKILL")));

/** `count` agents following `uri` (keys `agent-<i>`), each in `<dir>/node` with its log in `<dir>.log`. */
export function startAgents(base, token, count, uri) {
  const procs = [];
  for (let i = 0; i < count; i++) {
    const dir = mkdtempSync(join(tmpdir(), "mreg-bench-agent-"));
    // Its log goes to a file: a pipe nobody reads would fill and stall the agent.
    const log = openSync(`${dir}.log`, "w");
    const child = spawn(
      process.execPath,
      [
        join(root, "dist", "mreg.mjs"),
        "agent",
        uri,
        "--dir",
        join(dir, "node"),
        "--key",
        `agent-${i}`,
        "--listen",
        "off",
      ],
      { env: { ...process.env, MREG_URL: base, MREG_TOKEN: token }, stdio: ["ignore", log, log] },
    );
    closeSync(log);
    allAgents.push(child);
    procs.push({ child, dir });
  }
  return procs;
}

/** The version an agent's `current` points at, or null before it has one. */
export const versionOf = (dir) => {
  try {
    return Number(/v(\d+)$/.exec(readlinkSync(join(dir, "node", "current")))?.[1]);
  } catch {
    return null;
  }
};
