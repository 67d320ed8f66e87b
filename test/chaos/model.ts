/**
 * What the workload believes the registry holds, built only from acknowledged answers.
 * Each model is owned by one client, so its expected state follows from that client's
 * sequence of answers; an unacknowledged write (the connection died) leaves the thing it
 * touched uncertain ("?"): either outcome is allowed, half of one is not. The server's own
 * changes (a guard's rollback, retention's deletions) are read back from the audit log.
 */

/** true, false, or "?": the write that would decide it was not acknowledged. */
export type Tri = true | false | "?";

export interface Sure<T> {
  value: T;
  sure: boolean;
}

export interface VersionExp {
  n: number;
  ready: Tri;
  deleted: Tri;
  runId: string;
  /** path → bytes expected there; `sure: false` when the upload's answer was lost. */
  files: Map<string, Sure<{ sha256: string; size: number }>>;
  /** Unique keys per patch, so every acknowledged patch must stay visible. */
  tags: Map<string, Sure<string>>;
  stage: Sure<string>;
}

export interface AliasOp {
  alias: string;
  action: "set" | "delete" | "rollback" | "swap";
  /** Known from the answer; null for deletes (204) and for unacknowledged changes. */
  generation: number | null;
  ack: boolean;
  seq: number;
}

export interface ModelExp {
  name: string;
  owner: string;
  exists: Tri;
  versions: Map<number, VersionExp>;
  /** Every version number an acknowledged create returned, with the idempotency key that made it. */
  numbers: Map<number, string>;
  maxVersion: number;
  /** The newest generation an acknowledged alias change returned. */
  lastGeneration: number;
  aliasOps: AliasOp[];
  tags: Map<string, Sure<string>>;
  /** A version create whose answer was lost: retried with the same key and body. */
  pendingCreate: { key: string; runId: string; body: unknown } | null;
  /** The model was deleted at least once (alias history may restart its listing). */
  deletions: number;
  /** Version creates whose answer was lost (the version may exist, unnamed to the workload). */
  lostCreates: number;
}

export interface RevokedToken {
  id: string;
  token: string;
  ack: boolean;
  at: number;
}

export class World {
  readonly models = new Map<string, ModelExp>();
  readonly revoked: RevokedToken[] = [];
  /** Invariant 2, checked live as answers arrive: reused numbers, generations going back. */
  readonly liveViolations: string[] = [];

  model(name: string, owner: string): ModelExp {
    let m = this.models.get(name);
    if (!m) {
      m = {
        name,
        owner,
        exists: false,
        versions: new Map(),
        numbers: new Map(),
        maxVersion: 0,
        lastGeneration: 0,
        aliasOps: [],
        tags: new Map(),
        pendingCreate: null,
        deletions: 0,
        lostCreates: 0,
      };
      this.models.set(name, m);
    }
    return m;
  }
}

/**
 * The manifest digest (docs/reference.md "Versions"): sha256 of sorted
 * `<path>\t<size>\t<sha256>\n` lines.
 */
export async function manifestDigest(files: { path: string; size: number; sha256: string }[]): Promise<string> {
  const { createHash } = await import("node:crypto");
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`)
    .join("");
  return `sha256:${createHash("sha256").update(lines).digest("hex")}`;
}
