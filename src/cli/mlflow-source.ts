/**
 * An MLflow tracking server as `mreg import mlflow` reads it: its REST API (GET fields in the
 * query string, as the Python client sends them) and its artifact proxy (`mlflow-artifacts`).
 * Nothing it says is trusted beyond a bound (docs/mlflow.md, "What the import trusts"):
 *
 * - every request has a deadline, `timeoutMs` (`--timeout`), for its answer to start and
 *   again between any two chunks of its body, so a server that stops never hangs the import;
 * - a JSON answer is read up to MAX_ANSWER_BYTES; a file up to the `file_size` its listing
 *   gave (else its Content-Length), and a byte past that refuses it before it reaches the disk;
 * - a listing is followed for `maxPages` pages (`--max-pages`), and a `next_page_token` that
 *   comes back ends it; an artifact folder is walked MAX_ARTIFACT_DEPTH folders deep and
 *   MAX_ARTIFACT_ENTRIES entries wide, each entry one name, none listed twice;
 * - the credentials (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD) go to
 *   the `--from` origin and to hosts `--allow-host` names, and no request goes anywhere else;
 *   redirects are not followed (one could lead the credentials anywhere).
 *
 * What breaks a bound about one thing (a model's versions, a version's files) is a `Refusal`:
 * the command refuses that thing and goes on. A server that cannot be reached, answers an
 * error or stalls is a `CliError`: the import stops there, and a run again goes on from it.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { TagEntry } from "../domain/mlflow";
import { CliError } from "./exit";

/** The largest JSON answer read (a page of 1000 versions with their tags is well under 1 MiB). */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** How many folders deep a version's artifact listing is walked. */
export const MAX_ARTIFACT_DEPTH = 32;
/** How many files and folders one version's artifact listing may hold. */
export const MAX_ARTIFACT_ENTRIES = 100_000;
/** How much of an error answer is read, to quote it. */
const MAX_ERROR_TEXT = 4096;

/** The source broke a bound, or said something mreg cannot take, about one model, version or file. */
export class Refusal extends Error {
  constructor(
    message: string,
    /** The file it concerns, when one. */
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface SourceLimits {
  /** How long the server may stay silent: before its answer starts, and between two chunks of it. */
  timeoutMs: number;
  /** How many pages of one listing are read. */
  maxPages: number;
  /** Hosts (`host[:port]`) besides `--from`'s that may be read from, and so sent the credentials. */
  allowHosts: string[];
}

export interface MlflowVersion {
  name: string;
  version: string;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  run_link?: string;
  status?: string;
  tags?: TagEntry[];
}

export interface MlflowModel {
  name: string;
  description?: string;
  tags?: TagEntry[];
  aliases?: { alias: string; version: string }[];
}

export interface ArtifactFile {
  /** `/`-separated, under the version's artifact root. */
  path: string;
  /** `file_size` as listed, when it was. */
  size: number | undefined;
}

/** A timer the server must beat: armed while an answer is awaited, disarmed while the import works on what came. */
class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(private readonly ms: number) {
    this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort();
    }, this.ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
  }

  /** Ends the request: its connection is closed. */
  abort(): void {
    this.disarm();
    this.controller.abort();
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function objectOf(v: unknown, what: string): Json {
  if (!isObject(v)) throw new Refusal(`${what}: not a JSON object`);
  return v;
}

function listOf(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Refusal(`${what}: not a list`);
  return v;
}

/** The string fields of `v` among `keys` (others dropped): what the import reads of a message. */
function strings<K extends string>(v: Json, keys: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const k of keys) if (typeof v[k] === "string") out[k] = v[k];
  return out;
}

function tagsOf(v: unknown, what: string): TagEntry[] {
  return listOf(v, what).flatMap((t) =>
    isObject(t) && typeof t.key === "string" && typeof t.value === "string" ? [{ key: t.key, value: t.value }] : [],
  );
}

function modelOf(v: unknown): MlflowModel {
  const m = objectOf(v, "a registered model");
  if (typeof m.name !== "string") throw new Refusal("a registered model without a name");
  const aliases = listOf(m.aliases, `${m.name}: aliases`).flatMap((a) =>
    isObject(a) && typeof a.alias === "string" && (typeof a.version === "string" || typeof a.version === "number")
      ? [{ alias: a.alias, version: String(a.version) }]
      : [],
  );
  return { ...strings(m, ["description"]), name: m.name, tags: tagsOf(m.tags, `${m.name}: tags`), aliases };
}

function versionOf(v: unknown): MlflowVersion {
  const m = objectOf(v, "a model version");
  if (typeof m.name !== "string" || (typeof m.version !== "string" && typeof m.version !== "number"))
    throw new Refusal("a model version without a name or number");
  return {
    ...strings(m, ["current_stage", "description", "source", "run_id", "run_link", "status"]),
    name: m.name,
    version: String(m.version),
    tags: tagsOf(m.tags, `${m.name} ${m.version}: tags`),
  };
}

/** A size as MLflow writes an int64 (a number, or a string of digits), or undefined when absent or not one. */
function sizeOf(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && /^[0-9]{1,16}$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export class MlflowSource {
  private readonly auth: string | undefined;
  private readonly origin: string;
  private readonly allowHosts: Set<string>;

  constructor(
    /** `--from`: an origin, with the path MLflow is served under if any. */
    readonly base: string,
    private readonly limits: SourceLimits,
  ) {
    const token = process.env.MLFLOW_TRACKING_TOKEN;
    const user = process.env.MLFLOW_TRACKING_USERNAME;
    const password = process.env.MLFLOW_TRACKING_PASSWORD;
    this.auth =
      user && password
        ? `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
        : token
          ? `Bearer ${token}`
          : undefined;
    const from = new URL(base);
    this.origin = from.origin;
    this.allowHosts = new Set(limits.allowHosts.map((h) => new URL(`${from.protocol}//${h}`).host));
  }

  /** Whether the import may read from `origin` (and so send it the credentials): `--from`'s own, or a host `--allow-host` names. */
  mayRead(origin: string): boolean {
    const url = new URL(origin);
    return (
      url.origin === this.origin || (url.protocol === new URL(this.origin).protocol && this.allowHosts.has(url.host))
    );
  }

  /** The answer's head, within the deadline; a redirect or an error status stops the import with what the server said. */
  private async request(
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ res: Response; deadline: Deadline; what: string }> {
    const what = url.startsWith(this.base) ? url.slice(this.base.length).replace(/^\/api\/2\.0\/mlflow\//, "") : url;
    // Every request passes here: no other host ever hears from the import, with or without the credentials.
    if (!this.mayRead(url))
      throw new CliError(
        `MLflow server: refusing to read ${url}: only --from's origin and --allow-host hosts are read`,
      );
    const deadline = new Deadline(this.limits.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { accept: "application/json", ...headers, ...(this.auth ? { authorization: this.auth } : {}) },
        redirect: "manual",
        signal: deadline.signal,
      });
    } catch (err) {
      deadline.disarm();
      if (deadline.fired)
        throw new CliError(
          `MLflow server: GET ${what} did not answer within ${this.limits.timeoutMs / 1000} s (--timeout)`,
        );
      throw new CliError(
        `MLflow server: GET ${what} failed: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`,
      );
    }
    if (res.status >= 300 && res.status < 400) {
      deadline.abort();
      throw new CliError(
        `MLflow server: GET ${what} answered ${res.status}, a redirect to ${res.headers.get("location") ?? "nowhere"}: not followed (the credentials go to --from and --allow-host hosts only); give the URL it leads to as --from`,
      );
    }
    if (!res.ok) {
      // The start of the answer, to quote: reading stops (and the connection closes) at MAX_ERROR_TEXT.
      let text = "";
      const enough = new Refusal("enough to quote");
      await this.body(res, deadline, what, (chunk) => {
        text += Buffer.from(chunk).toString("utf8");
        if (text.length >= MAX_ERROR_TEXT) throw enough;
      }).catch((err: unknown) => {
        if (err !== enough) throw err;
      });
      let detail = text.slice(0, 300);
      try {
        const body = JSON.parse(text) as { error_code?: string; message?: string };
        if (body.error_code) detail = `${body.error_code}: ${body.message ?? ""}`;
      } catch {
        // not JSON (or cut short): the text says it
      }
      throw new CliError(`MLflow server: GET ${what} answered ${res.status}: ${detail}`);
    }
    return { res, deadline, what };
  }

  /**
   * Reads a body chunk by chunk, each within the deadline; `take` sees every chunk before
   * anything keeps it and throws to stop (a bound broken). Any early end closes the connection.
   */
  private async body(
    res: Response,
    deadline: Deadline,
    what: string,
    take: (chunk: Uint8Array) => void | Promise<void>,
  ): Promise<void> {
    if (!res.body) return deadline.disarm();
    const reader = res.body.getReader();
    try {
      for (;;) {
        deadline.arm();
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (err) {
          if (deadline.fired)
            throw new CliError(
              `MLflow server: GET ${what} sent nothing for ${this.limits.timeoutMs / 1000} s (--timeout)`,
            );
          throw new CliError(`MLflow server: GET ${what} broke off: ${(err as Error).message}`);
        }
        deadline.disarm();
        if (next.done) return;
        await take(next.value);
      }
    } catch (err) {
      deadline.abort();
      reader.cancel().catch(() => {});
      throw err;
    }
  }

  private async getJson(url: string): Promise<Json> {
    const { res, deadline, what } = await this.request(url);
    const chunks: Uint8Array[] = [];
    let size = 0;
    await this.body(res, deadline, what, (chunk) => {
      size += chunk.byteLength;
      if (size > MAX_ANSWER_BYTES)
        throw new Refusal(`${what}: an answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
      chunks.push(chunk);
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      throw new Refusal(`${what}: the answer is not JSON`);
    }
    return objectOf(parsed, what);
  }

  /** `GET /api/2.0/mlflow/<path>` of the `--from` server. */
  private get(path: string, params: Record<string, string | undefined>): Promise<Json> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
    return this.getJson(`${this.base}/api/2.0/mlflow/${path}?${query}`);
  }

  /** Every item of a paged search, following `next_page_token` for at most `maxPages` pages. */
  private async *pages<T>(
    path: string,
    params: Record<string, string>,
    field: string,
    read: (item: unknown) => T,
  ): AsyncGenerator<T> {
    const seen = new Set<string>();
    let token: string | undefined;
    for (let page = 1; ; page++) {
      const body = await this.get(path, { ...params, page_token: token });
      for (const item of listOf(body[field], `${path}: ${field}`)) yield read(item);
      const next = body.next_page_token;
      if (next === undefined || next === null || next === "") return;
      if (typeof next !== "string") throw new Refusal(`${path}: next_page_token is not a string`);
      if (seen.has(next))
        throw new Refusal(
          `${path}: next_page_token '${next.slice(0, 64)}' came back after ${page} pages, a listing that would never end`,
        );
      if (page >= this.limits.maxPages)
        throw new Refusal(`${path}: a listing of more than ${this.limits.maxPages} pages (--max-pages)`);
      seen.add(next);
      token = next;
    }
  }

  async *models(only: string[]): AsyncGenerator<MlflowModel> {
    if (only.length > 0) {
      for (const name of only) yield modelOf((await this.get("registered-models/get", { name })).registered_model);
      return;
    }
    yield* this.pages("registered-models/search", { max_results: "100" }, "registered_models", modelOf);
  }

  /** Every version of `name`, as listed (their numbers unchecked). */
  async versions(name: string): Promise<MlflowVersion[]> {
    // sqlparse reads "…" as an identifier, which MLflow unquotes too: the form for a name with a single quote.
    const filter = name.includes("'") ? `name = "${name}"` : `name = '${name}'`;
    const out: MlflowVersion[] = [];
    for await (const v of this.pages(
      "model-versions/search",
      { filter, max_results: "1000" },
      "model_versions",
      versionOf,
    ))
      out.push(v);
    return out;
  }

  /**
   * Where a version's files can be read, when the server proxies them: `mlflow-artifacts:`
   * URIs resolve as MlflowArtifactsRepository resolves them (this server, or the URI's host).
   */
  async artifactRoot(name: string, version: string): Promise<{ origin: string; root: string } | { uri: string }> {
    const uri = (await this.get("model-versions/get-download-uri", { name, version })).artifact_uri;
    if (typeof uri !== "string") throw new Refusal("get-download-uri: no artifact_uri");
    if (!uri.startsWith("mlflow-artifacts:")) return { uri };
    let parsed: URL;
    try {
      parsed = new URL(uri);
    } catch {
      throw new Refusal(`get-download-uri: '${uri.slice(0, 200)}' is not a URI`);
    }
    const origin = parsed.host ? `${new URL(this.base).protocol}//${parsed.host}` : this.base;
    return { origin, root: decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, "") };
  }

  /**
   * The files under `root`, every folder listed (names relative to the listed path, as
   * MLflow's proxy answers), all of it before a byte is downloaded: MAX_ARTIFACT_DEPTH
   * folders deep, MAX_ARTIFACT_ENTRIES entries, each entry one name, no path twice.
   */
  async listArtifacts(origin: string, root: string): Promise<ArtifactFile[]> {
    const files: ArtifactFile[] = [];
    const seen = new Set<string>();
    const list = async (dir: string, depth: number): Promise<void> => {
      const listed = dir ? `${root}/${dir}` : root;
      const body = await this.getJson(
        `${origin}/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path: listed })}`,
      );
      for (const item of listOf(body.files, `the listing of ${listed}`)) {
        const entry = objectOf(item, `the listing of ${listed}`);
        const name = entry.path;
        if (typeof name !== "string" || name === "" || name === "." || name === ".." || /[/\\]/.test(name)) {
          const shown = typeof name === "string" ? name.slice(0, 200) : String(JSON.stringify(name)).slice(0, 200);
          throw new Refusal(
            `the listing of ${listed}: '${shown}' is not a name (a listing gives each entry by its own name)`,
          );
        }
        const path = dir ? `${dir}/${name}` : name;
        if (seen.has(path)) throw new Refusal(`${path} is listed twice`);
        seen.add(path);
        if (seen.size > MAX_ARTIFACT_ENTRIES)
          throw new Refusal(`more than ${MAX_ARTIFACT_ENTRIES} files and folders listed`);
        if (entry.is_dir === true) {
          if (depth + 1 > MAX_ARTIFACT_DEPTH)
            throw new Refusal(`folders nested deeper than ${MAX_ARTIFACT_DEPTH} (${path.slice(0, 200)})`);
          await list(path, depth + 1);
        } else files.push({ path, size: sizeOf(entry.file_size) });
      }
    };
    await list("", 0);
    return files;
  }

  /**
   * Downloads one file to `local` (a new file), hashing it on the way. It is held to its
   * listed size (or, unlisted, its Content-Length): a byte past it refuses the file before
   * it is written, so the file on disk never grows past that size; fewer bytes refuse it too.
   */
  async download(
    origin: string,
    root: string,
    file: ArtifactFile,
    local: string,
  ): Promise<{ size: number; sha256: string }> {
    const url = `${origin}/api/2.0/mlflow-artifacts/artifacts/${[...root.split("/"), ...file.path.split("/")].map(encodeURIComponent).join("/")}`;
    const out = await open(local, "wx", 0o600);
    try {
      // identity: the sizes compared are the file's bytes, not a compressed body's.
      const { res, deadline, what } = await this.request(url, { "accept-encoding": "identity" });
      const encoded = (res.headers.get("content-encoding") ?? "identity") !== "identity";
      const sent = encoded ? undefined : sizeOf(res.headers.get("content-length") ?? undefined);
      const refuse = (message: string) => {
        deadline.abort();
        res.body?.cancel().catch(() => {});
        return new Refusal(message, file.path);
      };
      const limit = file.size ?? sent;
      if (limit === undefined)
        throw refuse("listed without a file_size and sent without a Content-Length: no size to hold it to");
      if (sent !== undefined && sent !== limit)
        throw refuse(`listed with ${limit} bytes, but its answer says ${sent} (Content-Length)`);
      const declared = file.size !== undefined ? "listed" : "of its Content-Length";
      const hash = createHash("sha256");
      let size = 0;
      await this.body(res, deadline, what, async (chunk) => {
        if (size + chunk.byteLength > limit)
          throw new Refusal(`more than the ${limit} bytes ${declared} arrived`, file.path);
        hash.update(chunk);
        size += chunk.byteLength;
        await out.write(chunk);
      });
      if (size !== limit) throw new Refusal(`${size} of the ${limit} bytes ${declared} arrived`, file.path);
      return { size, sha256: hash.digest("hex") };
    } finally {
      await out.close();
    }
  }
}
