/**
 * `mreg pull <uri> <dir>`: resolve, then download each file in ranges (several in flight),
 * resumably, checking its sha256 before it lands under its name (../download.ts). The client
 * has checked the resolution (the model and version asked for, every path, size and sha256);
 * a version whose files cannot all be written to one folder is refused before anything is
 * (../local-paths.ts), and the default folder is named from the model asked for. With
 * `--verify`, the version's signatures are checked with the node's own trust before any byte
 * is fetched (../verify-version.ts): the sha256s the downloads are held to are then the ones
 * a trusted signer signed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseModelUri } from "../../client/aliases";
import { flag, int, size, str, type Command } from "../command";
import { DEFAULT_CHUNK, DEFAULT_STALL_MS, downloadFile, type Fetched } from "../download";
import { CliError, UsageError } from "../exit";
import { PARTIAL, pullFolderName, unwritable } from "../local-paths";
import type { Target } from "../not-found";
import { progress } from "../progress";
import { trustHelp, TRUST_OPTIONS, trustFromFlags, verifyVersion, type Accepted } from "../verify-version";

/** `registry://m@a`, `registry://m/3`, or the same without the scheme. */
export function normalizeUri(arg: string): string {
  const uri = arg.startsWith("registry://") ? arg : `registry://${arg}`;
  try {
    parseModelUri(uri);
  } catch (err) {
    // A malformed URI is a mistake in the command line: exit 2, before any request.
    throw new UsageError((err as Error).message);
  }
  return uri;
}

/** What a URI names, for explaining a 404 (../not-found.ts). */
export function uriTarget(arg: string | undefined): Target {
  if (arg === undefined) return {};
  try {
    const u = parseModelUri(arg.startsWith("registry://") ? arg : `registry://${arg}`);
    return u.version !== undefined ? { model: u.model, version: u.version } : { model: u.model, alias: u.alias };
  } catch {
    return {};
  }
}

/**
 * What `pull` wrote into a folder: read by the next pull, so files of an earlier version
 * that this one does not hold are known to be ours to remove.
 */
const MANIFEST = ".mreg-pull.json";

interface Manifest {
  uri: string;
  model: string;
  version: number;
  digest: string | null;
  files: string[];
  pulled_at: string;
}

/** Every file under `dir` (relative, `/`-separated), without the manifest. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (rel !== MANIFEST) out.push(rel);
  }
  return out.sort();
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

/** Removes `file` under `dir`, then each folder above it that is left empty. */
async function removeWithEmptyParents(dir: string, file: string): Promise<void> {
  await rm(join(dir, ...file.split("/")), { force: true });
  const parts = file.split("/").slice(0, -1);
  for (let i = parts.length; i > 0; i--) {
    const folder = join(dir, ...parts.slice(0, i));
    try {
      if ((await readdir(folder)).length > 0) return;
      await rmdir(folder);
    } catch {
      return;
    }
  }
}

export const pull: Command = {
  name: "pull",
  args: "<uri> [dir]",
  summary:
    "Download a version's files by URI (ranged, resumable, sha256-verified); the folder ends up holding that version only",
  options: {
    key: { type: "string" },
    parallel: { type: "string" },
    "chunk-size": { type: "string" },
    "stall-timeout": { type: "string" },
    "keep-extra": { type: "boolean" },
    verify: { type: "boolean" },
    ...TRUST_OPTIONS,
  },
  help: [
    "--key KEY          Routing key, for an alias that is a split",
    "--parallel N       Ranges in flight per file (default 4)",
    "--chunk-size SIZE  Range size (default 32MiB)",
    "--stall-timeout S  Give up on a download that receives nothing for S seconds (default 60; rerun to resume)",
    "--keep-extra       Leave files the version does not hold in the folder (default: remove them)",
    "--verify           Check the version's signatures with the --trust-* settings below before downloading",
    "                   (one valid signature over exactly its files, by a signer trusted here; else nothing is fetched)",
    ...trustHelp(19),
    "dir defaults to ./<model>-<version>. Files of an earlier pull that this version does not hold",
    "are removed and listed. A folder holding files mreg did not pull is refused unless --keep-extra.",
    "Serving from the folder while it changes? `mreg agent` switches versions atomically.",
  ],
  examples: [
    "mreg pull registry://payment-fraud@production ./model",
    "mreg pull payment-fraud/3 --json",
    "mreg pull payment-fraud@production ./model --keep-extra",
    "mreg pull payment-fraud@production ./model --verify --trust-key release-2026.pub.pem",
  ],
  target: (input) => uriTarget(input.positionals[0]),
  async run(ctx, input) {
    const uri = normalizeUri(input.positionals[0]!);
    const parallel = int(input, "parallel", { min: 1, max: 32 }) ?? 4;
    const chunkSize = size(input, "chunk-size") ?? DEFAULT_CHUNK;
    if (chunkSize < 64 * 1024) throw new UsageError("--chunk-size must be at least 64KiB", "pull");
    const stallMs = (int(input, "stall-timeout", { min: 1, max: 86_400 }) ?? DEFAULT_STALL_MS / 1000) * 1000;
    const keepExtra = flag(input, "keep-extra");
    const key = str(input, "key");
    const trust = await trustFromFlags(input, "pull");
    if (flag(input, "verify") && !trust)
      throw new UsageError("--verify needs whom to trust: --trust-key, --trust-ca or --trust-identity", "pull");
    if (trust && !flag(input, "verify"))
      throw new UsageError("--trust-key, --trust-ca and --trust-identity take effect with --verify", "pull");
    const asked = parseModelUri(uri);
    const resolution = await ctx.client.resolve(uri, key ? { key } : {});
    const refused = unwritable(resolution.files, [MANIFEST]);
    if (refused) throw new CliError(`refusing version ${resolution.version} of '${asked.model}': ${refused}`);
    let signatures: Accepted[] | undefined;
    if (trust) {
      const verdict = await verifyVersion(ctx.client, resolution.model, resolution.version, resolution.files, trust);
      if (!verdict.ok)
        throw new CliError(`refusing version ${resolution.version} of '${asked.model}': ${verdict.reason}`);
      signatures = verdict.accepted;
      for (const s of signatures)
        ctx.out.note(
          `${s.id}: signed by ${s.signer.subject ?? s.signer.fingerprint}, trusted by ${s.trusted_by.join(", ")}`,
        );
    }
    const dir = resolve(input.positionals[1] ?? pullFolderName(asked.model, resolution.version));
    const holds = new Set(resolution.files.map((f) => f.path));
    // Ours to remove: what an earlier pull listed, and downloads it left unfinished.
    const ours = new Set(readManifest(dir)?.files ?? []);
    const isOurs = (f: string) => ours.has(f) || f.endsWith(PARTIAL) || f.endsWith(`${PARTIAL}.json`);
    const before = await listFiles(dir);
    const foreign = before.filter((f) => !holds.has(f) && !isOurs(f));
    if (foreign.length > 0 && !keepExtra) {
      const shown = foreign.slice(0, 10).join(", ") + (foreign.length > 10 ? ` … (${foreign.length - 10} more)` : "");
      throw new UsageError(
        `${dir} holds files that ${uri} does not and that mreg did not pull there: ${shown}. ` +
          "Pull into an empty folder, or add --keep-extra to leave them beside the version's files",
        "pull",
      );
    }
    ctx.out.note(`${uri} → registry://${resolution.model}/${resolution.version} (${resolution.files.length} files)`);
    await mkdir(dir, { recursive: true });
    const pulled: Fetched[] = [];
    const options = {
      parallel,
      chunkSize,
      stallMs,
      note: (m: string) => ctx.out.note(m),
      progress: (label: string, total: number, start: number) => progress(ctx.out, label, total, start),
    };
    for (const file of resolution.files) pulled.push(await downloadFile(ctx.client, resolution, file, dir, options));

    // The folder now holds the version; what it does not hold goes (or stays, and is said).
    const extra = (await listFiles(dir)).filter((f) => !holds.has(f));
    const removed: string[] = [];
    if (!keepExtra) {
      for (const f of extra) {
        await removeWithEmptyParents(dir, f);
        removed.push(f);
      }
      if (removed.length)
        ctx.out.note(
          `removed ${removed.length} file${removed.length === 1 ? "" : "s"} that version ${resolution.version} does not hold: ${removed.join(", ")}`,
        );
    } else if (extra.length) {
      ctx.out.note(
        `kept ${extra.length} file${extra.length === 1 ? "" : "s"} that version ${resolution.version} does not hold (--keep-extra): ${extra.join(", ")}`,
      );
    }
    const manifest: Manifest = {
      uri,
      model: resolution.model,
      version: resolution.version,
      digest: resolution.digest,
      files: [...holds, ...extra.filter(isOurs)].sort(),
      pulled_at: new Date().toISOString(),
    };
    writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
    const summary = {
      uri,
      model: resolution.model,
      version: resolution.version,
      digest: resolution.digest,
      dir,
      bytes_received: pulled.reduce((s, f) => s + f.bytes_received, 0),
      files: pulled,
      removed,
      kept_extra: keepExtra ? extra : [],
      ...(signatures ? { signatures } : {}),
    };
    ctx.out.result(summary, () => dir);
  },
};
