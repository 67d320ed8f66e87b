/**
 * `npm start` as a new user meets it: quiet (no migration tables, no wrangler banners), one
 * closing block with the address, the web UI and a token command that works as printed;
 * `--verbose` shows everything; and SIGTERM to npm's own pid (not its process group, as a
 * supervisor or `kill <pid>` sends it) leaves no wrangler, workerd or esbuild behind.
 */
import { execSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../until";
import { freePort, npmStartArgs, root, spawnGroup, waitForHealth, type Group } from "./npm-start.mjs";

interface Started {
  child: ChildProcess;
  group: Group;
  port: number;
  state: string;
  output: () => string;
}
const started: Started[] = [];

/** Spawns `npm start` in its own process group (so cleanup can reach all of it), waits for /healthz and its closing block. */
async function npmStart(extra: string[] = []): Promise<Started> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "mreg-start-"));
  const group = spawnGroup("npm", npmStartArgs(port, state, extra));
  const run = { child: group.child, group, port, state, output: group.output };
  started.push(run);
  if ((await waitForHealth(group, `http://127.0.0.1:${port}/healthz`)) !== "up")
    throw new Error(`npm start did not come up:\n${group.output()}`);
  // The block follows the first answer to /healthz.
  await until(
    () => group.output().includes("stop: Ctrl-C"),
    () => `the closing block:\n${group.output()}`,
  );
  return run;
}

afterEach(() => {
  for (const { group, state } of started.splice(0)) {
    group.signal("SIGKILL");
    rmSync(state, { recursive: true, force: true });
  }
});

/** Every live descendant of `pid`, read from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we read
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** A process still running (a zombie waiting for its reaper has stopped). */
function running(pid: number): string | null {
  if (!existsSync(`/proc/${pid}/stat`)) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    if (stat[close + 2] === "Z") return null;
    return stat.slice(stat.indexOf("(") + 1, close);
  } catch {
    return null;
  }
}

describe("npm start", () => {
  it("is quiet and ends with one block: the address, the web UI and a token command that works", async () => {
    const { port, output } = await npmStart();
    const text = output();
    const base = `http://127.0.0.1:${port}`;
    expect(text).not.toContain("Migrations to be applied");
    expect(text).not.toContain("┌");
    expect(text).not.toContain("Your Worker has access to the following bindings");
    expect(text).not.toContain("[wrangler:info]");
    // npm's two banner lines, perhaps the .dev.vars note, then the block.
    const lines = text.trimEnd().split("\n");
    expect(lines.length, text).toBeLessThanOrEqual(14);
    const block = text.slice(text.indexOf("mreg is running on"));
    expect(block).toContain(`mreg is running on ${base}`);
    expect(block).toContain(`web UI    ${base}/`);
    expect(block).toContain(`${base}/docs`);

    // The token command, run exactly as printed, gives a token the registry takes.
    const command = /a token\s+(npx mreg token [^\n]*?)\s{2,}\(/.exec(block)?.[1];
    expect(command, block).toBeDefined();
    const token = execSync(command!, { cwd: root, encoding: "utf8" }).trim();
    const res = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect((await fetch(`${base}/`)).status).toBeLessThan(400);
  });

  it("--verbose shows wrangler's output: the migrations and the request log", async () => {
    const { port, output } = await npmStart(["--verbose"]);
    await fetch(`http://127.0.0.1:${port}/healthz`);
    await until(
      () => /GET \/healthz/.test(output()),
      () => `the request log:\n${output()}`,
    );
    expect(output()).toContain("Migrations to be applied");
    expect(output()).toContain("[wrangler:info] Ready on");
    expect(output()).toContain("mreg is running on");
  });

  it("stops everything it started on SIGTERM to npm's own pid", async () => {
    const { child, port } = await npmStart();
    const tree = descendants(child.pid!);
    const names = tree.map(running);
    expect(names).toContain("workerd");
    process.kill(child.pid!, "SIGTERM");
    const alive = () => tree.filter((p) => running(p) !== null);
    await until(
      () => alive().length === 0,
      () =>
        `every process to stop; running: ${alive()
          .map((p) => `${p} ${running(p)}`)
          .join(", ")}`,
      { intervalMs: 250 },
    );
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
