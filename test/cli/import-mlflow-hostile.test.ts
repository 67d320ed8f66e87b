/**
 * Issue 27, item 11: `mreg import mlflow` against MLflow servers that lie or stall, served
 * from this test process (Node `http`) while the real bundle imports from them:
 * - a body past its listed `file_size`: that file is refused, the scratch file never grows
 *   past the size listed, and nothing is left behind (a SIGKILLed run's scratch folder is
 *   swept by the next run; SIGTERM cleans at once);
 * - a server that never answers, or stops mid-body: `--timeout`;
 * - an endless or repeated `next_page_token`: `--max-pages`;
 * - a folder listing itself, `.` entries, an entry listed twice: depth limit, visited set;
 * - a version numbered 999999999 (or not a number): refused before any placeholder;
 * - an artifact URI (or a redirect) to another host: the MLflow token is not sent there
 *   unless `--allow-host` names it.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mregSpawn, sandbox, token, waitFor } from "./helpers";

const SOURCE_TOKEN = "hostile-source-secret";
const base = inject("mregUrl");
const { env, dir } = sandbox();
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

interface Fake {
  url: string;
  host: string;
  requests: { path: string; query: URLSearchParams; auth: string | undefined }[];
  close(): Promise<void>;
}
const servers: Fake[] = [];

async function fake(handle: (url: URL, req: IncomingMessage, res: ServerResponse) => void): Promise<Fake> {
  const requests: Fake["requests"] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://fake");
    requests.push({ path: url.pathname, query: url.searchParams, auth: req.headers.authorization });
    handle(url, req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const f: Fake = {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  servers.push(f);
  return f;
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/** A body that never ends: 64 KiB chunks, with backpressure, until the client goes away. */
function endless(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/octet-stream" });
  const chunk = Buffer.alloc(64 * 1024, 120);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", pump);
  };
  pump();
}

interface ModelSpec {
  versions: string[];
  /** The artifact URI of each version (default `mlflow-artifacts:/<name>/<version>`). */
  uri?: (version: string) => string;
  /** Files by path under the version's root, or a listing answer of its own. */
  files?: Record<string, string>;
  list?: (path: string) => unknown;
  /** The answer to a file GET, when not the file's text. */
  body?: (path: string, res: ServerResponse) => void;
  /** The versions search, when not one page of `versions`. */
  search?: (pageToken: string | null) => unknown;
}

/** An MLflow server for `--model NAME` imports of these models. */
function mlflowOf(models: Record<string, ModelSpec>) {
  return (url: URL, req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${SOURCE_TOKEN}`)
      return send(res, 401, { error_code: "UNAUTHENTICATED", message: "no" });
    const q = url.searchParams;
    const nameInFilter = /^name = '(.*)'$/.exec(q.get("filter") ?? "")?.[1];
    switch (url.pathname) {
      case "/api/2.0/mlflow/registered-models/get": {
        const name = q.get("name")!;
        return models[name]
          ? send(res, 200, { registered_model: { name } })
          : send(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: name });
      }
      case "/api/2.0/mlflow/model-versions/search": {
        const spec = models[nameInFilter!]!;
        if (spec.search) return send(res, 200, spec.search(q.get("page_token")));
        return send(res, 200, {
          model_versions: spec.versions.map((version) => ({
            name: nameInFilter,
            version,
            status: "READY",
            current_stage: "None",
          })),
        });
      }
      case "/api/2.0/mlflow/model-versions/get-download-uri": {
        const spec = models[q.get("name")!]!;
        return send(res, 200, {
          artifact_uri: spec.uri?.(q.get("version")!) ?? `mlflow-artifacts:/${q.get("name")}/${q.get("version")}`,
        });
      }
      case "/api/2.0/mlflow-artifacts/artifacts": {
        const path = q.get("path")!;
        const [name, , ...rest] = path.split("/");
        const spec = models[name!]!;
        if (spec.list) return send(res, 200, spec.list(rest.join("/")));
        return send(res, 200, {
          files: Object.entries(spec.files ?? {}).map(([p, text]) => ({
            path: p,
            is_dir: false,
            file_size: Buffer.byteLength(text),
          })),
        });
      }
    }
    const file = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/([^/]+)\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const spec = models[decodeURIComponent(file[1]!)]!;
      const path = decodeURIComponent(file[3]!);
      if (spec.body) return spec.body(path, res);
      res.writeHead(200, { "content-type": "application/octet-stream" });
      return res.end(spec.files?.[path]);
    }
    send(res, 404, { error_code: "ENDPOINT_NOT_FOUND", message: url.pathname });
  };
}

/** The sizes of every file in the import's scratch folders under `tmp`. */
function scratchFiles(tmp: string): { dir: string; sizes: number[] }[] {
  return readdirSync(tmp)
    .filter((d) => d.startsWith("mreg-import-"))
    .map((d) => {
      const sizes: number[] = [];
      try {
        for (const f of readdirSync(join(tmp, d))) sizes.push(statSync(join(tmp, d, f)).size);
      } catch {
        // removed while looked at
      }
      return { dir: d, sizes };
    });
}

/**
 * Runs `mreg import mlflow args…` with its own temp folder, watching its scratch files.
 * `stopIf` ends the run early (SIGKILL) once it holds: the bound it checks is already broken.
 */
async function importRun(args: string[], options: { tmp?: string; stopIf?: (largest: number) => boolean } = {}) {
  const tmp = options.tmp ?? mkdtempSync(join(dir, "tmp-"));
  const run = mregSpawn({ ...env, TMPDIR: tmp }, ["import", "mlflow", ...args]);
  let largest = 0;
  const watch = setInterval(() => {
    for (const s of scratchFiles(tmp)) largest = Math.max(largest, ...s.sizes);
    if (options.stopIf?.(largest)) run.child.kill("SIGKILL");
  }, 2);
  // A safety net for a run that never ends (the bug under test), not a speed limit.
  const deadline = setTimeout(() => run.child.kill("SIGKILL"), 150_000);
  const code = await run.exited;
  clearInterval(watch);
  clearTimeout(deadline);
  return { code, stdout: run.out.stdout, stderr: run.out.stderr, largest, tmp, pid: run.child.pid! };
}

/** The first JSON document on stdout (a run with refusals prints its report, then the error). */
const report = (stdout: string) => JSON.parse(stdout.slice(0, stdout.indexOf("\n}\n") + 2)) as Record<string, any>; // reason: the report is checked field by field

const v1 = async (path: string) => {
  const res = await fetch(`${base}/v1${path}`, { headers: { authorization: `Bearer ${env.MREG_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // reason: /v1 answers are checked field by field
};

beforeAll(() => {
  env.MREG_TOKEN = token(env, "hostile-importer", "admin");
  env.MLFLOW_TRACKING_TOKEN = SOURCE_TOKEN;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe("import mlflow: bodies past their size, scratch files (issue 27, item 11)", () => {
  it("refuses a file whose body runs past its listed file_size; the scratch file never grows past it and nothing is left", async () => {
    let closed = false;
    const src = await fake(
      mlflowOf({
        "hostile-body": {
          versions: ["1"],
          list: () => ({
            files: [
              { path: "MLmodel", is_dir: false, file_size: 5 },
              { path: "model.pkl", is_dir: false, file_size: 10 },
            ],
          }),
          body: (path, res) => {
            if (path === "MLmodel") return res.end("flavr");
            res.on("close", () => (closed = true));
            endless(res);
          },
        },
      }),
    );
    const run = await importRun(["--from", src.url, "--model", "hostile-body", "--json"], {
      stopIf: (largest) => largest > 10,
    });
    expect(run.largest).toBeLessThanOrEqual(10);
    expect(run.code, run.stderr).toBe(1);
    const out = report(run.stdout);
    expect(out.refused).toEqual([
      {
        model: "hostile-body",
        version: "1",
        path: "model.pkl",
        reason: expect.stringContaining("more than the 10 bytes listed"),
      },
    ]);
    expect(run.stderr).toContain("model.pkl");
    expect(scratchFiles(run.tmp)).toEqual([]);
    await waitFor(() => closed, "the endless body's connection to be closed");
    // The version stays pending, without the refused file (it never finalizes with a part of its files).
    const v = (await v1("/models/hostile-body/versions/1")).body;
    expect(v.status).toBe("pending");
    expect(v.files.map((f: { path: string }) => f.path)).not.toContain("model.pkl");
  });

  it("removes its scratch folder on SIGTERM, and a run after a SIGKILL sweeps what the killed one left", async () => {
    const stalled = {
      "hostile-stall": {
        versions: ["1"],
        files: { "big.bin": "x".repeat(1024 * 1024) },
        body: (_: string, res: ServerResponse) => (res.writeHead(200), res.write("x".repeat(100))),
      },
    };
    const src = await fake(mlflowOf(stalled));
    const tmp = mkdtempSync(join(dir, "tmp-kill-"));
    // A scratch folder of a process still running (this one) is never touched.
    const alive = join(tmp, `mreg-import-${process.pid}-keep`);
    mkdirSync(alive);
    // Nor is a link named like a dead run's folder followed: what it points to stays.
    const precious = join(dir, "precious");
    mkdirSync(precious, { recursive: true });
    writeFileSync(join(precious, "keep.txt"), "mine");
    symlinkSync(precious, join(tmp, "mreg-import-999999999-link"));

    const killed = mregSpawn({ ...env, TMPDIR: tmp }, [
      "import",
      "mlflow",
      "--from",
      src.url,
      "--model",
      "hostile-stall",
    ]);
    await waitFor(
      () =>
        scratchFiles(tmp).some(
          (s) => s.dir.startsWith(`mreg-import-${killed.child.pid}-`) && s.sizes.some((n) => n > 0),
        ),
      "a scratch file with bytes",
      120_000,
    );
    killed.child.kill("SIGKILL");
    await killed.exited;
    expect(scratchFiles(tmp).map((s) => s.dir)).toContainEqual(
      expect.stringMatching(new RegExp(`^mreg-import-${killed.child.pid}-`)),
    );

    const termed = mregSpawn({ ...env, TMPDIR: tmp }, [
      "import",
      "mlflow",
      "--from",
      src.url,
      "--model",
      "hostile-stall",
    ]);
    await waitFor(
      () =>
        scratchFiles(tmp).some(
          (s) => s.dir.startsWith(`mreg-import-${termed.child.pid}-`) && s.sizes.some((n) => n > 0),
        ),
      "a scratch file with bytes",
      120_000,
    );
    // The run started after the kill has swept the killed run's folder before reading anything.
    expect(
      scratchFiles(tmp)
        .map((s) => s.dir)
        .filter((d) => d.startsWith(`mreg-import-${killed.child.pid}-`)),
    ).toEqual([]);
    termed.child.kill("SIGTERM");
    expect(await termed.exited).toBe(143);
    expect(termed.out.stderr).toContain("interrupted");
    expect(
      scratchFiles(tmp)
        .map((s) => s.dir)
        .sort(),
    ).toEqual([`mreg-import-${process.pid}-keep`, "mreg-import-999999999-link"]);
    expect(existsSync(alive)).toBe(true);
    expect(readFileSync(join(precious, "keep.txt"), "utf8")).toBe("mine");
  });
});

describe("import mlflow: time limits (issue 27, item 11)", () => {
  it("gives up on a server that never answers after --timeout seconds, and on a body that stops", async () => {
    const silent = await fake(() => {
      // holds every request, answers nothing
    });
    const run = await importRun(["--from", silent.url, "--model", "anything", "--timeout", "2"]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/did not answer within 2 s \(--timeout\)/);

    const src = await fake(
      mlflowOf({
        "hostile-stop": {
          versions: ["1"],
          files: { "w.bin": "x".repeat(1000) },
          body: (_, res) => (res.writeHead(200), res.write("x".repeat(100))),
        },
      }),
    );
    const stopped = await importRun(["--from", src.url, "--model", "hostile-stop", "--timeout", "2"]);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toMatch(/w\.bin.*sent nothing for 2 s \(--timeout\)/);
    expect(scratchFiles(stopped.tmp)).toEqual([]);
    await expect(mregSpawn(env, ["import", "mlflow", "--from", src.url, "--timeout", "0"]).exited).resolves.toBe(2);
  });
});

describe("import mlflow: listings without end (issue 27, item 11)", () => {
  it("stops following next_page_token after --max-pages pages, or when a token comes back, before writing anything", async () => {
    const endlessModels = await fake((url, _req, res) => {
      const at = Number(url.searchParams.get("page_token") ?? 0);
      send(res, 200, { registered_models: [{ name: `hostile-page-${at}` }], next_page_token: String(at + 1) });
    });
    const run = await importRun(["--from", endlessModels.url, "--max-pages", "25"]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/registered-models\/search.*more than 25 pages \(--max-pages\)/);
    expect(endlessModels.requests.length).toBe(25);
    expect((await v1("/models/hostile-page-0")).status).toBe(404);

    const repeating = await fake((_url, _req, res) =>
      send(res, 200, { registered_models: [{ name: "hostile-repeat" }], next_page_token: "same" }),
    );
    const again = await importRun(["--from", repeating.url]);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stderr).toMatch(/next_page_token 'same' came back/);
    expect(repeating.requests.length).toBe(2);
  });

  it("refuses one model whose versions never end, and imports the others", async () => {
    const src = await fake(
      mlflowOf({
        "hostile-endless-versions": {
          versions: [],
          search: (t) => ({ model_versions: [], next_page_token: `t${Number((t ?? "t0").slice(1)) + 1}` }),
        },
        "hostile-fine": { versions: ["1"], files: { "w.bin": "fine" } },
      }),
    );
    const run = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-endless-versions",
      "--model",
      "hostile-fine",
      "--max-pages",
      "30",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(1);
    const out = report(run.stdout);
    expect(out.refused).toEqual([
      {
        model: "hostile-endless-versions",
        reason: expect.stringMatching(/model-versions\/search.*more than 30 pages/),
      },
    ]);
    expect(out.models.map((m: { name: string }) => m.name)).toEqual(["hostile-fine"]);
    expect((await v1("/models/hostile-fine/versions/1")).body).toMatchObject({
      status: "ready",
      files: [{ path: "w.bin", sha256: sha("fine") }],
    });
    expect(src.requests.filter((r) => r.path.endsWith("model-versions/search")).length).toBe(31); // 30 for one, 1 for the other
  });

  it("refuses a version whose folder lists itself, holds '.', or lists an entry twice; its other files are not copied", async () => {
    const src = await fake(
      mlflowOf({
        "hostile-deep": { versions: ["1"], list: () => ({ files: [{ path: "model", is_dir: true }] }) },
        "hostile-dot": {
          versions: ["1"],
          list: () => ({
            files: [
              { path: "w.bin", is_dir: false, file_size: 1 },
              { path: ".", is_dir: true },
            ],
          }),
        },
        "hostile-twice": {
          versions: ["1"],
          list: () => ({
            files: [
              { path: "w.bin", is_dir: false, file_size: 1 },
              { path: "w.bin", is_dir: false, file_size: 1 },
            ],
          }),
          body: (_, res) => res.end("w"),
        },
      }),
    );
    const run = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-deep",
      "--model",
      "hostile-dot",
      "--model",
      "hostile-twice",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(1);
    const refused = Object.fromEntries(
      report(run.stdout).refused.map((r: { model: string; reason: string }) => [r.model, r.reason]),
    );
    expect(refused).toEqual({
      "hostile-deep": expect.stringMatching(/folders nested deeper than 32/),
      "hostile-dot": expect.stringMatching(/'\.' is not a name/),
      "hostile-twice": expect.stringMatching(/w\.bin is listed twice/),
    });
    expect(src.requests.filter((r) => r.query.get("path")?.startsWith("hostile-deep/")).length).toBe(33);
    // Nothing of a refused listing was downloaded.
    expect(src.requests.filter((r) => /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/./.test(r.path))).toEqual([]);
    for (const m of ["hostile-deep", "hostile-dot", "hostile-twice"])
      expect((await v1(`/models/${m}/versions/1`)).body).toMatchObject({ status: "pending", files: [] });
  });
});

describe("import mlflow: version numbers (issue 27, item 11)", () => {
  it("refuses a version past --max-version-gap, or not a number, before any placeholder; keeps smaller gaps", async () => {
    const src = await fake(
      mlflowOf({
        "hostile-gap": { versions: ["1", "abc", "999999999"], files: { "w.bin": "w" } },
        "hostile-gap-small": { versions: ["1", "4"], files: { "w.bin": "w" } },
        "hostile-gap-flag": { versions: ["1", "10"], files: { "w.bin": "w" } },
      }),
    );
    const run = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-gap",
      "--model",
      "hostile-gap-small",
      "--json",
    ]);
    expect(run.code, run.stderr).toBe(1);
    const out = report(run.stdout);
    expect(out.refused).toEqual([
      { model: "hostile-gap", version: "abc", reason: expect.stringContaining("not a version number") },
      {
        model: "hostile-gap",
        version: "999999999",
        reason: expect.stringMatching(/999999997 placeholder versions.*--max-version-gap \(1000\)/),
      },
    ]);
    expect(
      ((await v1("/models/hostile-gap/versions")).body.items as { version: number }[]).map((v) => v.version),
    ).toEqual([1]);
    expect((await v1("/audit?model=hostile-gap&action=version.delete")).body.items).toEqual([]);
    expect(
      ((await v1("/models/hostile-gap-small/versions")).body.items as { version: number }[]).map((v) => v.version),
    ).toEqual([4, 1]);

    const tight = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-gap-flag",
      "--max-version-gap",
      "5",
      "--json",
    ]);
    expect(tight.code, tight.stderr).toBe(1);
    expect(report(tight.stdout).refused).toEqual([
      {
        model: "hostile-gap-flag",
        version: "10",
        reason: expect.stringMatching(/8 placeholder versions.*--max-version-gap \(5\)/),
      },
    ]);
    const loose = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-gap-flag",
      "--max-version-gap",
      "8",
      "--json",
    ]);
    expect(loose.code, loose.stderr).toBe(0);
    expect(
      ((await v1("/models/hostile-gap-flag/versions")).body.items as { version: number }[]).map((v) => v.version),
    ).toEqual([10, 1]);
  });
});

describe("import mlflow: credentials stay with --from (issue 27, item 11)", () => {
  it("sends the MLflow token to another artifact host only when --allow-host names it, and follows no redirect", async () => {
    const elsewhere = await fake(
      mlflowOf({ "hostile-elsewhere": { versions: ["1"], files: { "w.bin": "far away" } } }),
    );
    const src = await fake(
      mlflowOf({
        "hostile-elsewhere": {
          versions: ["1"],
          uri: (v) => `mlflow-artifacts://${elsewhere.host}/hostile-elsewhere/${v}`,
        },
        "hostile-redirect": {
          versions: ["1"],
          files: { "w.bin": "x" },
          body: (path, res) => {
            res.writeHead(302, {
              location: `${elsewhere.url}/api/2.0/mlflow-artifacts/artifacts/hostile-elsewhere/1/${path}`,
            });
            res.end();
          },
        },
      }),
    );
    const refused = await importRun(["--from", src.url, "--model", "hostile-elsewhere", "--json"]);
    expect(refused.code, refused.stderr).toBe(0);
    expect(report(refused.stdout).warnings).toEqual([expect.stringContaining(`--allow-host ${elsewhere.host}`)]);
    expect(elsewhere.requests).toEqual([]);
    expect((await v1("/models/hostile-elsewhere/versions/1")).body.status).toBe("pending");

    const redirected = await importRun(["--from", src.url, "--model", "hostile-redirect"]);
    expect(redirected.code, redirected.stderr).toBe(1);
    expect(redirected.stderr).toContain(`answered 302, a redirect to ${elsewhere.url}`);
    expect(elsewhere.requests).toEqual([]);

    const allowed = await importRun([
      "--from",
      src.url,
      "--model",
      "hostile-elsewhere",
      "--allow-host",
      elsewhere.host,
      "--json",
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(elsewhere.requests.length).toBeGreaterThan(0);
    expect(elsewhere.requests.every((r) => r.auth === `Bearer ${SOURCE_TOKEN}`)).toBe(true);
    expect((await v1("/models/hostile-elsewhere/versions/1")).body).toMatchObject({
      status: "ready",
      files: [{ path: "w.bin", sha256: sha("far away") }],
    });
  });
});
