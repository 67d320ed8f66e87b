/**
 * The real server for end-to-end tests: `npm start` (migrations + wrangler dev) on a free
 * port with its own state directory, in its own process group so stopping it stops wrangler
 * and workerd too (started by ./npm-start.mjs, which the chaos campaign and the benchmarks
 * share); and development tokens minted the way docs/api.md says.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, npmStartArgs, root, spawnGroup, waitForHealth } from "./npm-start.mjs";

export { freePort, root };

export interface Server {
  base: string;
  output: () => string;
  /** SIGTERM to the whole process group; removes the state directory unless the caller gave it. */
  stop: () => void;
  /** SIGKILL to the whole process group (npm, wrangler, workerd): a crash. The state stays. */
  kill: () => void;
}

/**
 * Starts `npm start -- --port <free> --persist-to <tmp> ...extra` and waits for /healthz.
 * `port` and `state` start it where a killed one was, on the same data. A free port found
 * here can still be taken by another process before wrangler binds it: without `port`, that
 * start is retried on another.
 */
export async function startServer(extra: string[] = [], at: { port?: number; state?: string } = {}): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(extra, { ...at, port: at.port ?? (await freePort()) });
    } catch (err) {
      if (at.port !== undefined || attempt >= 3 || !(err instanceof PortTaken)) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(extra: string[], at: { port: number; state?: string }): Promise<Server> {
  const { port } = at;
  const state = at.state ?? mkdtempSync(join(tmpdir(), "mreg-e2e-"));
  const group = spawnGroup("npm", npmStartArgs(port, state, extra));
  const base = `http://127.0.0.1:${port}`;
  const stop = () => {
    group.signal("SIGTERM");
    if (!at.state) rmSync(state, { recursive: true, force: true });
  };
  const kill = () => group.signal("SIGKILL");
  if ((await waitForHealth(group, `${base}/healthz`)) === "up") return { base, output: group.output, stop, kill };
  stop();
  const message = `npm start did not come up:\n${group.output()}`;
  throw /address already in use/i.test(group.output()) ? new PortTaken(message) : new Error(message);
}

/** A development token, as `npm run token` mints it; `models`: the globs it is limited to. */
export function token(sub: string, scope: string, models?: string, aliases?: string): string {
  const limit = [
    ...(models === undefined ? [] : ["--models", models]),
    ...(aliases === undefined ? [] : ["--aliases", aliases]),
  ];
  return execFileSync("npm", ["run", "-s", "token", "--", "--sub", sub, "--scope", scope, ...limit], {
    cwd: root,
    encoding: "utf8",
  }).trim();
}

/**
 * A ready version of `model`, made through /v1 at `base` as a training job makes one: created
 * with `body` by `bearer`, each of `files` (path → bytes or text) uploaded in one PUT, then
 * finalized. Answers its number.
 */
export async function publishVersion(
  base: string,
  bearer: string,
  model: string,
  files: Record<string, Uint8Array | string>,
  body: unknown = {},
): Promise<number> {
  const authorization = `Bearer ${bearer}`;
  const call = async (method: string, path: string, expected: number, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(`${base}/v1/models/${model}/versions${path}`, {
      ...init,
      method,
      headers: { authorization, ...init.headers },
    });
    if (res.status !== expected)
      throw new Error(`${method} ${model} versions${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const created = await call("POST", "", 201, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const { version } = (await created.json()) as { version: number };
  for (const [path, content] of Object.entries(files)) {
    await call("PUT", `/${version}/files/${path}`, 201, {
      body: typeof content === "string" ? content : new Uint8Array(content),
    });
  }
  await call("POST", `/${version}/finalize`, 200);
  return version;
}
