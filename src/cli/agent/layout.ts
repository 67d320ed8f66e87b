/**
 * The agent's directory, which the model server reads:
 *
 *   <dir>/current            → versions/v<n>   (a relative symlink, so the directory may be
 *                                              mounted anywhere: a shared emptyDir, say)
 *   <dir>/versions/v<n>/…    complete, sha256-verified versions, files read-only
 *   <dir>/.incoming/v<n>/…   a version being fetched; renamed into versions/ once complete
 *   <dir>/.agent/            what the agent knows: agent.json (the model this directory
 *                            holds) and v<n>.json per complete version (its files, digest,
 *                            when it was verified and last served). Written by the agent only.
 *   <dir>/.trash/            versions on their way out (renamed here, then removed)
 *
 * `current` is switched atomically: a new link is made beside it and renamed over it, so a
 * reader finds the old version or the new one, never none. A version is renamed into
 * versions/ only after its manifest is written, and only versions with a manifest count, so
 * nothing ever points at a partial one. Removing a version renames it out first: a reader
 * that resolved it sees it whole or not at all.
 *
 * Every name the layout builds from a version number is checked here, whoever calls: the
 * number is a version number (1 to 999,999,999, what a registry URI can name), and each path
 * made from it, and each path renamed away or removed, lies inside `dir`.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { chmod, mkdir, open, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FileEntry, WatchEvent } from "../../client/types";
import { isVersionNumber, MAX_VERSION } from "../../client/validate";
import { CliError } from "../exit";
import { insideDir } from "../local-paths";

export interface Manifest {
  model: string;
  version: number;
  digest: string | null;
  files: FileEntry[];
  /** The resolution the version was fetched for (watch messages and polls), for --notify after a switch back. */
  resolution: WatchEvent;
  verified_at: string;
  /** When it last became `current`; null if it never did. */
  served_at: string | null;
}

const VERSION_NAME = /^v([1-9][0-9]{0,8})$/;

export class Layout {
  readonly versions: string;
  readonly incomingRoot: string;
  readonly meta: string;
  readonly trash: string;
  readonly current: string;

  constructor(readonly dir: string) {
    this.versions = join(dir, "versions");
    this.incomingRoot = join(dir, ".incoming");
    this.meta = join(dir, ".agent");
    this.trash = join(dir, ".trash");
    this.current = join(dir, "current");
  }

  versionDir = (n: number) => this.inside(join(this.versions, versionName(n)));
  incoming = (n: number) => this.inside(join(this.incomingRoot, versionName(n)));
  private manifestFile = (n: number) => this.inside(join(this.meta, `${versionName(n)}.json`));

  /** `path`, once it is known to lie inside the directory: nothing the layout names is outside it. */
  private inside(path: string): string {
    if (!insideDir(this.dir, path)) throw new CliError(`refusing ${path}: it is not inside ${this.dir}`);
    return path;
  }

  /**
   * Makes the directories, refuses a directory that holds another model's versions (version
   * numbers are per model), and clears what an interrupted run left: a half-made link, a
   * half-removed version.
   */
  async init(model: string): Promise<void> {
    for (const d of [this.dir, this.versions, this.incomingRoot, this.meta]) await mkdir(d, { recursive: true });
    const owner = join(this.meta, "agent.json");
    if (existsSync(owner)) {
      const held = (JSON.parse(readFileSync(owner, "utf8")) as { model?: string }).model;
      if (held !== model)
        throw new CliError(`${this.dir} holds versions of '${held}', not '${model}': give each model its own --dir`);
    } else await writeAtomic(owner, JSON.stringify({ model }) + "\n");
    await this.lock();
    for (const name of await readdir(this.dir))
      if (name.startsWith(".current.")) await unlink(join(this.dir, name)).catch(() => undefined);
    await rm(this.trash, { recursive: true, force: true });
  }

  /**
   * One agent per directory: a second would race the first over `current`. The lock names
   * the holder's pid; a lock whose process is gone (or is this process: a container restarted
   * with the same pid) is taken over.
   */
  async lock(): Promise<void> {
    const file = join(this.meta, "lock");
    const holder = Number(existsSync(file) ? readFileSync(file, "utf8").trim() : NaN);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new CliError(`another agent (pid ${holder}) is keeping ${this.dir}: one agent per directory`);
    }
    await writeAtomic(file, `${process.pid}\n`);
  }

  /** Lets go of the lock, if it is still ours. */
  unlock(): void {
    const file = join(this.meta, "lock");
    try {
      if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file);
    } catch {
      // gone already
    }
  }

  /** The version `current` points at, if it is a complete one; null when there is no link yet. */
  async readCurrent(): Promise<number | null> {
    let target: string;
    try {
      target = await readlink(this.current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      if ((err as NodeJS.ErrnoException).code === "EINVAL")
        throw new CliError(`${this.current} is not a symlink: move it away, the agent manages it`);
      throw err;
    }
    const match = /^versions\/(v[0-9]+)$/.exec(target);
    const version = match ? Number(VERSION_NAME.exec(match[1]!)?.[1]) : NaN;
    if (!Number.isInteger(version) || !this.manifest(version) || !existsSync(this.versionDir(version))) {
      throw new CliError(
        `${this.current} points at '${target}', which is not a version this agent verified: move it away`,
      );
    }
    return version;
  }

  /** The manifest of version n; null when there is none, or it is not one this agent wrote for n. */
  manifest(n: number): Manifest | null {
    let m: Partial<Manifest>;
    try {
      m = JSON.parse(readFileSync(this.manifestFile(n), "utf8")) as Partial<Manifest>;
    } catch {
      return null;
    }
    return m.version === n && Array.isArray(m.files) ? (m as Manifest) : null;
  }

  async writeManifest(m: Manifest): Promise<void> {
    await writeAtomic(this.manifestFile(m.version), JSON.stringify(m) + "\n");
  }

  /** The complete versions: a manifest and a directory under versions/. */
  async held(): Promise<Manifest[]> {
    const out: Manifest[] = [];
    for (const name of await readdir(this.versions)) {
      const n = Number(VERSION_NAME.exec(name)?.[1]);
      const m = Number.isInteger(n) ? this.manifest(n) : null;
      if (m) out.push(m);
    }
    return out.sort((a, b) => a.version - b.version);
  }

  /** Partial versions under .incoming/, with when they were last written to. */
  async incomingVersions(): Promise<{ version: number; mtimeMs: number }[]> {
    const out: { version: number; mtimeMs: number }[] = [];
    for (const name of await readdir(this.incomingRoot)) {
      const n = Number(VERSION_NAME.exec(name)?.[1]);
      if (Number.isInteger(n)) out.push({ version: n, mtimeMs: (await stat(join(this.incomingRoot, name))).mtimeMs });
    }
    return out;
  }

  /**
   * Moves a complete, verified version from .incoming/ into versions/: files read-only (a
   * file may be linked into several versions, so a write through one would change them all),
   * the manifest first, then the rename.
   */
  async install(m: Manifest): Promise<void> {
    const from = this.incoming(m.version);
    await readOnly(from);
    await this.writeManifest(m);
    const to = this.versionDir(m.version);
    // A directory without a manifest (a run stopped between the two steps) is not trusted.
    if (existsSync(to)) await this.discard(to, `${versionName(m.version)}.stale`);
    await rename(from, to);
    await fsyncDir(this.versions);
  }

  /** Points `current` at version n: a new link renamed over the old one, in one step. */
  async switchTo(n: number): Promise<void> {
    const temp = join(this.dir, `.current.${process.pid}`);
    await unlink(temp).catch(() => undefined);
    await symlink(`versions/${versionName(n)}`, temp);
    await rename(temp, this.current);
    await fsyncDir(this.dir);
  }

  /** Removes a complete version (never the one `current` points at: the caller keeps it). */
  async remove(n: number): Promise<void> {
    await this.discard(this.versionDir(n), versionName(n));
    await rm(this.manifestFile(n), { force: true });
  }

  async removeIncoming(n: number): Promise<void> {
    await this.discard(this.incoming(n), `incoming-${versionName(n)}`);
  }

  /** Renames `path` (inside the directory) into .trash/ under `name`, then removes it there. */
  private async discard(path: string, name: string): Promise<void> {
    this.inside(path);
    if (!existsSync(path)) return;
    await mkdir(this.trash, { recursive: true });
    const parked = this.inside(join(this.trash, `${name}.${Date.now()}`));
    await rename(path, parked);
    await rm(parked, { recursive: true, force: true });
  }
}

/** `v<n>`, for a version number only: the one place a directory name is made from a number the registry sent. */
function versionName(n: number): string {
  if (!isVersionNumber(n))
    throw new CliError(`refusing version ${JSON.stringify(n)}: a version is an integer from 1 to ${MAX_VERSION}`);
  return `v${n}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, and belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes a file whole or not at all (temp file, then rename). */
async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

/** Every file under `dir` read-only (0444); directories stay as they are. */
async function readOnly(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await readOnly(path);
    else if (entry.isFile()) await chmod(path, 0o444);
  }
}

/** Makes a rename in `dir` durable; some platforms cannot open a directory, which is no worse than not syncing. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

/** Every regular file under `dir`, as `/`-separated paths relative to it. */
export async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}
