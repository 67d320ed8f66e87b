/**
 * What makes `mreg push` resumable. A push writes a state file, keyed by the registry, the
 * model and every file's path, size and sha256, before each step that creates something on
 * the server (the version's Idempotency-Key before the version, each upload id as soon as it
 * exists). Run the same command again after a crash and it finds the same version and
 * uploads, and the server's list of received parts says what is left to send.
 *
 * A hash cache keyed by (path, size, mtime, inode) spares a resumed push re-reading a huge
 * file to find its key.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { removeFile, stateDir, writePrivate } from "./config";
import type { LocalFile } from "./files";

export interface PushState {
  url: string;
  model: string;
  files: { path: string; size: number; sha256: string }[];
  idempotency_key: string;
  version: number | null;
  /** Upload id per file path, for multipart uploads under way. */
  uploads: Record<string, string>;
  started_at: string;
}

export class PushStateFile {
  readonly file: string;
  state: PushState;

  private constructor(file: string, state: PushState) {
    this.file = file;
    this.state = state;
  }

  /** The state of an earlier run of this push, or a fresh one (not yet written). */
  static open(
    url: string,
    model: string,
    files: PushState["files"],
    options: { idempotencyKey?: string; fresh?: boolean } = {},
  ): { push: PushStateFile; resumed: boolean } {
    const { idempotencyKey } = options;
    const key = createHash("sha256")
      .update(JSON.stringify([url, model, files.map((f) => [f.path, f.size, f.sha256])]))
      .digest("hex")
      .slice(0, 32);
    const file = join(stateDir(), "push", `${key}.json`);
    if (existsSync(file) && !options.fresh) {
      try {
        const state = JSON.parse(readFileSync(file, "utf8")) as PushState;
        // A different --idempotency-key asks for a different version: start afresh.
        if (idempotencyKey === undefined || idempotencyKey === state.idempotency_key)
          return { push: new PushStateFile(file, state), resumed: true };
      } catch {
        // An unreadable state file (a crash mid-write cannot make one: writes are renames) starts afresh.
      }
    }
    const state: PushState = {
      url,
      model,
      files,
      idempotency_key: idempotencyKey ?? `mreg-push-${randomUUID()}`,
      version: null,
      uploads: {},
      started_at: new Date().toISOString(),
    };
    return { push: new PushStateFile(file, state), resumed: false };
  }

  save(): void {
    writePrivate(this.file, JSON.stringify(this.state, null, 2) + "\n");
  }

  remove(): void {
    removeFile(this.file);
  }
}

interface HashEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

const MAX_HASHES = 2000;

/** sha256 by file identity; an entry counts only while size, mtime and inode are unchanged. */
export class HashCache {
  private readonly file = join(stateDir(), "hashes.json");
  private entries: Record<string, HashEntry & { at: number }>;

  constructor() {
    try {
      this.entries = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, "utf8")) as typeof this.entries) : {};
    } catch {
      this.entries = {};
    }
  }

  get(f: LocalFile): string | undefined {
    const e = this.entries[f.local];
    return e && e.size === f.size && e.mtimeMs === f.stats.mtimeMs && e.ino === f.stats.ino ? e.sha256 : undefined;
  }

  set(f: LocalFile, sha256: string): void {
    this.entries[f.local] = { size: f.size, mtimeMs: f.stats.mtimeMs, ino: f.stats.ino, sha256, at: Date.now() };
    const keys = Object.keys(this.entries);
    if (keys.length > MAX_HASHES) {
      keys.sort((a, b) => this.entries[a]!.at - this.entries[b]!.at);
      for (const k of keys.slice(0, keys.length - MAX_HASHES)) delete this.entries[k];
    }
    writePrivate(this.file, JSON.stringify(this.entries));
  }
}
