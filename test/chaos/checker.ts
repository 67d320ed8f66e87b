/**
 * The independent checker: reads the registry back over HTTP (D1's projection through the
 * query routes, ModelState through the alias, history and resolve routes), the webhook
 * receiver's log, the history of requests, and R2's persisted objects, and checks the
 * invariants of issue 19 against what the workload was told:
 *   1. every acknowledged write is visible; nothing unacknowledged half-exists;
 *   2. versions per model strictly increase with no reuse; alias generations too;
 *   3. D1's projection (lists, lineage queries, audit) equals what ModelState answers;
 *   4. every acknowledged alias change appears in the audit exactly once and in history;
 *   5. every audit event a webhook matches was delivered at least once, always with the
 *      same webhook-id and body;
 *   6. every file of every ready version downloads and hashes to its sha256; blobs nothing
 *      holds are gone after the grace period;
 *   7. no 5xx, other than connection failures while the server is down;
 *   8. rollouts never skip a step, never leave the alias at a weight their steps do not
 *      name, and resume after a restart (./rollouts.ts).
 */
import { createHash } from "node:crypto";
import {
  MregClient,
  MregError,
  paginate,
  type Alias,
  type AuditEvent,
  type HistoryEntry,
  type Model,
  type Version,
} from "../../src/client";
import type { History } from "./history";
import { manifestDigest, type ModelExp, type World } from "./model";
import type { Receiver } from "./receiver";
import { checkRollouts } from "./rollouts";
import { newVersion } from "./workload";

export const INVARIANTS = ["1", "2", "3", "4", "5", "6", "7", "8"] as const;
export type Invariant = (typeof INVARIANTS)[number];

export class Tally {
  readonly checked = new Map<Invariant, number>(INVARIANTS.map((i) => [i, 0]));
  readonly violations: { inv: Invariant; what: string; needle: string }[] = [];

  ok(inv: Invariant, n = 1): void {
    this.checked.set(inv, this.checked.get(inv)! + n);
  }

  /** Counts a check of `inv`; records a violation when `cond` is false. `needle` finds its history. */
  expect(inv: Invariant, cond: boolean, what: () => string, needle: string): boolean {
    this.ok(inv);
    if (!cond) this.violations.push({ inv, what: what(), needle });
    return cond;
  }

  violated(inv: Invariant): number {
    return this.violations.filter((v) => v.inv === inv).length;
  }
}

export interface CheckContext {
  api: MregClient;
  world: World;
  history: History;
  receiver: Receiver;
  /** Events at or after this audit time must reach the webhook. */
  hookSince: string;
  /** Only for the audit/delivery comparison: events strictly after the hook's own creation. */
  hookEventId: string;
  hookId: string;
  /** When the server was last killed (ms): an event older than that may have died in the local queue. */
  lastKillAt: number;
  /** Events the local queue lost (see deliveryReport), as of the last check. */
  queueLost: number;
  /** Unheld blobs kept only by a crashed writer's unexpired lease, at the end. */
  leasedBlobs: number;
}

export interface DeliveryReport {
  delivered: number;
  /** Events mreg had in hand (a delivery row, or published after the last kill) and did not deliver. */
  undelivered: { id: string; action: string; model: string; row: string | null }[];
  /**
   * Events with no delivery row that were published before the last kill: Miniflare keeps
   * queue messages in memory (its broker has no storage), so a message waiting in the
   * local queue dies with the process. Cloudflare Queues persist them; see docs/chaos.md.
   */
  queueLost: string[];
  /** event id → the distinct event payloads delivered for it. */
  bodies: Map<string, Set<string>>;
}

/** Every audit event since the webhook's creation, against the receiver's log and the delivery rows. */
export async function deliveryReport(ctx: CheckContext): Promise<DeliveryReport> {
  const events = await all((cursor) => ctx.api.audit.list({ since: ctx.hookSince, limit: 200, cursor }));
  const rows = new Map(
    (await all((cursor) => ctx.api.webhooks.deliveries(ctx.hookId, { limit: 200, cursor }))).map((d) => [
      d.event_id,
      d.status,
    ]),
  );
  const bodies = new Map<string, Set<string>>();
  const accepted = new Set<string>();
  for (const r of ctx.receiver.received) {
    if (!r.signatureOk) continue;
    if (r.accepted) accepted.add(r.webhookId);
    bodies.set(r.webhookId, (bodies.get(r.webhookId) ?? new Set<string>()).add(bodyIdentity(r.body)));
  }
  const out: DeliveryReport = { delivered: 0, undelivered: [], queueLost: [], bodies };
  for (const e of events) {
    if (e.id <= ctx.hookEventId) continue;
    if (accepted.has(e.id)) out.delivered += 1;
    else if (!rows.has(e.id) && Date.parse(e.at) < ctx.lastKillAt) out.queueLost.push(e.id);
    else out.undelivered.push({ id: e.id, action: e.action, model: e.model, row: rows.get(e.id) ?? null });
  }
  return out;
}

interface ModelRead {
  model: Model | null;
  versions: Version[];
  aliases: Alias[];
  histories: Map<string, HistoryEntry[]>;
  audit: AuditEvent[];
  /** version → the ModelState's answer for registry://m/n: a resolution, or the error code. */
  resolved: Map<number, { ok: true; digest: string | null; files: string } | { ok: false; code: string }>;
}

async function all<T>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor: string | null }>,
): Promise<T[]> {
  const out: T[] = [];
  for await (const item of paginate(page)) out.push(item);
  return out;
}
const fileKey = (files: { path: string; size: number; sha256: string }[]) =>
  [...files]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => `${f.path}:${f.size}:${f.sha256}`)
    .join(",");
const ALIAS_ACTIONS = new Set(["alias.set", "alias.delete", "rollback", "alias.swap", "rollout.step"]);
const generationOf = (e: AuditEvent) => (e.detail as { generation?: number } | undefined)?.generation;
/** An audit event of an alias change: a rollout's abort is one only when it took the alias back (it names the generation). */
const isAliasChange = (e: AuditEvent) =>
  ALIAS_ACTIONS.has(e.action) || (e.action === "rollout.abort" && generationOf(e) !== undefined);

async function readModel(api: MregClient, name: string, touched: Iterable<string>): Promise<ModelRead> {
  const model = await api.models.get(name).catch((err: unknown) => {
    if (err instanceof MregError && err.code === "not_found") return null;
    throw err;
  });
  const versions = model ? await all((cursor) => api.versions.list(name, { limit: 200, cursor })) : [];
  const aliases = model ? await api.aliases.list(name) : [];
  const histories = new Map<string, HistoryEntry[]>();
  if (model) {
    for (const alias of new Set([...touched, ...aliases.map((a) => a.alias)])) {
      histories.set(alias, await all((cursor) => api.aliases.history(name, alias, { limit: 200, cursor })));
    }
  }
  const audit = await all((cursor) => api.audit.list({ model: name, limit: 200, cursor }));
  const resolved: ModelRead["resolved"] = new Map();
  return { model, versions, aliases, histories, audit, resolved };
}

async function resolveVersion(
  api: MregClient,
  name: string,
  n: number,
): Promise<{ ok: true; digest: string | null; files: string } | { ok: false; code: string }> {
  try {
    const r = await api.resolve(`registry://${name}/${n}`);
    return { ok: true, digest: r.digest, files: fileKey(r.files) };
  } catch (err) {
    if (err instanceof MregError && err.status > 0 && err.status < 500) return { ok: false, code: err.code };
    throw err;
  }
}

/**
 * The cross-store comparison alone (invariant 3's projection part), which decides when
 * the outboxes have drained: D1 trails ModelState by one flush, so right after a restart
 * they may differ for a moment, and must agree soon after.
 */
export async function projectionDiffs(api: MregClient, world: World): Promise<string[]> {
  const diffs: string[] = [];
  for (const m of world.models.values()) {
    const read = await readModel(api, m.name, []);
    diffs.push(...(await compareStores(api, m, read)).map((d) => d.what));
  }
  return diffs;
}

async function compareStores(
  api: MregClient,
  m: ModelExp,
  read: ModelRead,
): Promise<{ what: string; needle: string }[]> {
  const out: { what: string; needle: string }[] = [];
  const needle = `/models/${m.name}`;
  if (!read.model) return out;
  // Aliases: the model's map and each version's list (D1) against the object's aliases.
  const plain = Object.fromEntries(
    read.aliases.filter((a) => a.split === null && a.version !== null).map((a) => [a.alias, a.version]),
  );
  const d1Plain = Object.fromEntries(
    Object.entries(read.model.aliases).filter(
      ([alias]) => alias in plain || !read.aliases.some((a) => a.alias === alias && a.split),
    ),
  );
  if (JSON.stringify(sortKeys(plain)) !== JSON.stringify(sortKeys(d1Plain))) {
    out.push({
      what: `${m.name}: D1 model aliases ${JSON.stringify(read.model.aliases)} but ModelState ${JSON.stringify(read.aliases.map((a) => [a.alias, a.version ?? a.split]))}`,
      needle,
    });
  }
  for (const v of read.versions) {
    const holders = read.aliases
      .filter((a) => a.version === v.version || a.split?.some((s) => s.version === v.version))
      .map((a) => a.alias)
      .sort();
    if (JSON.stringify([...v.aliases].sort()) !== JSON.stringify(holders)) {
      out.push({
        what: `${m.name}/${v.version}: D1 says aliases ${JSON.stringify(v.aliases)}, ModelState ${JSON.stringify(holders)}`,
        needle: `${needle}/versions/${v.version}`,
      });
    }
    const r = read.resolved.get(v.version) ?? (await resolveVersion(api, m.name, v.version));
    read.resolved.set(v.version, r);
    if (v.status === "ready") {
      if (!r.ok || r.digest !== v.digest || r.files !== fileKey(v.files)) {
        out.push({
          what: `${m.name}/${v.version}: D1 ready ${v.digest} [${fileKey(v.files)}], ModelState ${JSON.stringify(r)}`,
          needle: `${needle}/versions/${v.version}`,
        });
      }
    } else if (r.ok) {
      out.push({
        what: `${m.name}/${v.version}: D1 ${v.status}, ModelState resolves it ready`,
        needle: `${needle}/versions/${v.version}`,
      });
    } else if (r.code === "not_found") {
      out.push({
        what: `${m.name}/${v.version}: D1 ${v.status}, ModelState has no such version`,
        needle: `${needle}/versions/${v.version}`,
      });
    }
  }
  // Versions the object still resolves that D1 no longer lists.
  const listed = new Set(read.versions.map((v) => v.version));
  for (const n of m.versions.keys()) {
    if (listed.has(n)) continue;
    const r = await resolveVersion(api, m.name, n);
    if (r.ok || r.code !== "not_found")
      out.push({
        what: `${m.name}/${n}: absent from D1, ModelState answers ${JSON.stringify(r)}`,
        needle: `${needle}/versions/${n}`,
      });
  }
  // Audit (D1) against alias history (ModelState): one event per generation, both ways.
  const events = read.audit.filter(isAliasChange);
  const byGen = new Map<number, AuditEvent[]>();
  for (const e of events) {
    const g = generationOf(e);
    if (g !== undefined) byGen.set(g, [...(byGen.get(g) ?? []), e]);
  }
  const historyGens = new Set<number>();
  for (const [alias, entries] of read.histories) {
    for (const h of entries) {
      historyGens.add(h.generation);
      const matching = (byGen.get(h.generation) ?? []).filter((e) => e.action === "alias.swap" || e.alias === alias);
      if (matching.length !== 1)
        out.push({
          what: `${m.name}@${alias}: history generation ${h.generation} (${h.action}) has ${matching.length} audit events`,
          needle: `${needle}/aliases/${alias}`,
        });
    }
  }
  if (m.deletions === 0) {
    for (const e of events) {
      const g = generationOf(e);
      if (g === undefined) out.push({ what: `${m.name}: audit ${e.action} ${e.id} names no generation`, needle });
      else if (!historyGens.has(g) && read.histories.has((e.alias ?? "").split(",")[0]!)) {
        out.push({ what: `${m.name}: audit ${e.action} of generation ${g} is in no alias history`, needle });
      }
    }
  }
  return out;
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The whole check. `final` adds the slow parts: downloads of every file and the blob collection. */
export async function checkAll(
  ctx: CheckContext,
  tally: Tally,
  opts: { final: boolean; r2Keys?: () => Promise<string[] | null>; blobNote?: (sha: string) => string },
): Promise<void> {
  const { api, world } = ctx;
  const heldBlobs = new Set<string>();
  for (const m of world.models.values()) {
    const touched = new Set(m.aliasOps.map((o) => o.alias));
    const read = await readModel(api, m.name, touched);
    const needle = `/models/${m.name}`;

    // 1: the model itself.
    if (m.exists === "?") m.exists = read.model !== null;
    else
      tally.expect(
        "1",
        (read.model !== null) === m.exists,
        () => `${m.name}: expected ${m.exists ? "to exist" : "deleted"}, D1 says ${read.model ? "exists" : "404"}`,
        needle,
      );
    if (read.model) {
      for (const [key, t] of m.tags) {
        const got = read.model.tags[key];
        if (t.sure)
          tally.expect("1", got === t.value, () => `${m.name}: acknowledged tag ${key}=${t.value}, got ${got}`, needle);
        else
          tally.expect(
            "1",
            got === undefined || got === t.value,
            () => `${m.name}: tag ${key}=${got} is neither absent nor ${t.value}`,
            needle,
          );
      }
    }

    // 1: versions, against what the workload was told.
    const retentionDeleted = new Set(
      read.audit.filter((e) => e.action === "version.delete" && e.actor === "retention").map((e) => e.version),
    );
    const d1 = new Map(read.versions.map((v) => [v.version, v]));
    for (const v of read.versions) {
      if (!m.versions.has(v.version)) {
        // Made by a create whose answer was lost (the retry with its key would have named it).
        tally.expect(
          "1",
          m.lostCreates > 0 && v.lineage.run_id?.startsWith(`run-${m.name}-`) === true,
          () => `${m.name}/${v.version}: a version no acknowledged or lost create made`,
          `${needle}/versions`,
        );
        tally.expect(
          "2",
          !m.numbers.has(v.version),
          () => `${m.name}/${v.version}: number reused`,
          `${needle}/versions`,
        );
        m.versions.set(v.version, {
          ...newVersion(v.version, v.lineage.run_id ?? ""),
          ready: v.status === "ready",
          stage: { value: v.stage, sure: false },
        });
        for (const f of v.files)
          m.versions.get(v.version)!.files.set(f.path, { value: { sha256: f.sha256, size: f.size }, sure: false });
        // The lost create's retry (same key) will name it: then it is that key's version.
        m.numbers.set(
          v.version,
          m.pendingCreate && m.pendingCreate.runId === v.lineage.run_id ? m.pendingCreate.key : "adopted",
        );
        m.maxVersion = Math.max(m.maxVersion, v.version);
      }
    }
    for (const v of m.versions.values()) {
      const got = d1.get(v.n);
      const vneedle = `${needle}/versions/${v.n}`;
      if (!got) {
        const gone = v.deleted !== false || retentionDeleted.has(v.n) || m.exists === false;
        tally.expect("1", gone, () => `${m.name}/${v.n}: acknowledged version missing from D1`, vneedle);
        v.deleted = true;
        continue;
      }
      tally.expect("1", v.deleted !== true, () => `${m.name}/${v.n}: acknowledged delete, yet listed`, vneedle);
      if (v.deleted === "?") v.deleted = false;
      if (v.ready === "?") v.ready = got.status === "ready";
      else
        tally.expect(
          "1",
          (got.status === "ready") === v.ready,
          () => `${m.name}/${v.n}: expected ${v.ready ? "ready" : "pending"}, D1 says ${got.status}`,
          vneedle,
        );
      const files = new Map(got.files.map((f) => [f.path, f]));
      for (const [path, f] of v.files) {
        const have = files.get(path);
        const same = have !== undefined && have.sha256 === f.value.sha256 && have.size === f.value.size;
        if (f.sure)
          tally.expect(
            "1",
            same,
            () =>
              `${m.name}/${v.n}/${path}: acknowledged upload ${f.value.sha256} missing (${have?.sha256 ?? "absent"})`,
            vneedle,
          );
        else
          tally.expect(
            "1",
            same || have === undefined,
            () => `${m.name}/${v.n}/${path}: half an upload: ${have?.sha256}/${have?.size}`,
            vneedle,
          );
      }
      for (const path of files.keys())
        tally.expect("1", v.files.has(path), () => `${m.name}/${v.n}/${path}: a file nobody uploaded`, vneedle);
      v.files = new Map(got.files.map((f) => [f.path, { value: { sha256: f.sha256, size: f.size }, sure: true }]));
      if (got.status === "ready") {
        tally.expect(
          "1",
          got.digest === (await manifestDigest(got.files)),
          () => `${m.name}/${v.n}: digest ${got.digest} is not its files'`,
          vneedle,
        );
        for (const f of got.files) heldBlobs.add(f.sha256);
      }
      for (const [key, t] of v.tags) {
        const value = got.tags[key];
        if (t.sure)
          tally.expect(
            "1",
            value === t.value,
            () => `${m.name}/${v.n}: acknowledged tag ${key}=${t.value}, got ${value}`,
            vneedle,
          );
        else
          tally.expect(
            "1",
            value === undefined || value === t.value,
            () => `${m.name}/${v.n}: tag ${key}=${value} neither absent nor ${t.value}`,
            vneedle,
          );
      }
      if (v.stage.sure)
        tally.expect(
          "1",
          got.stage === v.stage.value,
          () => `${m.name}/${v.n}: acknowledged stage ${v.stage.value}, got ${got.stage}`,
          vneedle,
        );
      v.stage = { value: got.stage, sure: true };
    }

    // 2: numbers unique in the listing; alias histories strictly decreasing, one alias per generation but for a swap.
    tally.expect(
      "2",
      new Set(read.versions.map((v) => v.version)).size === read.versions.length,
      () => `${m.name}: a version number listed twice`,
      needle,
    );
    const genOwners = new Map<number, { alias: string; action: string }[]>();
    for (const [alias, entries] of read.histories) {
      for (let i = 1; i < entries.length; i++) {
        tally.expect(
          "2",
          entries[i]!.generation < entries[i - 1]!.generation,
          () => `${m.name}@${alias}: history generations ${entries[i - 1]!.generation} then ${entries[i]!.generation}`,
          `${needle}/aliases/${alias}`,
        );
      }
      for (const h of entries)
        genOwners.set(h.generation, [...(genOwners.get(h.generation) ?? []), { alias, action: h.action }]);
    }
    for (const [g, owners] of genOwners) {
      tally.expect(
        "2",
        owners.length === 1 || (owners.length === 2 && owners.every((o) => o.action === "swap")),
        () => `${m.name}: generation ${g} used by ${JSON.stringify(owners)}`,
        needle,
      );
    }

    // 3: the projection equals the object.
    const diffs = await compareStores(api, m, read);
    tally.ok("3", read.versions.length + read.histories.size + 1);
    for (const d of diffs) tally.expect("3", false, () => d.what, d.needle);
    // 3: lineage queries (D1) find exactly the live versions of each run.
    for (const v of [...m.versions.values()].filter((x) => x.deleted === false && x.runId !== "").slice(-10)) {
      const hits = await all((cursor) => api.lineage.search({ run_id: v.runId, limit: 200, cursor }));
      const mine = hits.filter((h) => h.model === m.name).map((h) => h.version);
      const want = read.versions.filter((x) => x.lineage.run_id === v.runId).map((x) => x.version);
      tally.expect(
        "3",
        JSON.stringify(mine.sort()) === JSON.stringify(want.sort()),
        () =>
          `${m.name}: lineage run_id=${v.runId} finds ${JSON.stringify(mine)}, versions say ${JSON.stringify(want)}`,
        `${needle}/versions/${v.n}`,
      );
    }

    // 4: each acknowledged alias change: in its alias's history, and once in the audit.
    const deletes = new Map<string, number>();
    for (const op of m.aliasOps) {
      if (!op.ack) continue;
      if (op.generation === null) {
        deletes.set(op.alias, (deletes.get(op.alias) ?? 0) + 1);
        continue;
      }
      if (m.deletions > 0) continue; // the model's histories went with it
      const inHistory = read.histories.get(op.alias)?.some((h) => h.generation === op.generation) ?? false;
      tally.expect(
        "4",
        inHistory,
        () => `${m.name}@${op.alias}: acknowledged ${op.action} of generation ${op.generation} not in history`,
        `${needle}/aliases/${op.alias}`,
      );
      const events = read.audit.filter((e) => isAliasChange(e) && generationOf(e) === op.generation);
      tally.expect(
        "4",
        events.length === 1,
        () =>
          `${m.name}@${op.alias}: acknowledged ${op.action} of generation ${op.generation} has ${events.length} audit events`,
        `${needle}/aliases/${op.alias}`,
      );
    }
    if (m.deletions === 0) {
      for (const [alias, n] of deletes) {
        const inHistory = read.histories.get(alias)?.filter((h) => h.action === "delete").length ?? 0;
        tally.expect(
          "4",
          inHistory >= n,
          () => `${m.name}@${alias}: ${n} acknowledged deletes, ${inHistory} in history`,
          `${needle}/aliases/${alias}`,
        );
      }
    }

    // 8: the rollouts.
    if (read.model)
      await checkRollouts(api, tally, {
        name: m.name,
        aliases: read.aliases,
        histories: read.histories,
        audit: read.audit,
        deleted: m.deletions > 0,
      });

    // 6: every file of every ready version downloads and hashes to its sha256.
    if (opts.final) {
      for (const v of read.versions.filter((x) => x.status === "ready")) {
        for (const f of v.files) {
          const d = await api.files.download(m.name, v.version, f.path);
          const h = createHash("sha256");
          for await (const chunk of d.body as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
          const got = h.digest("hex");
          tally.expect(
            "6",
            got === f.sha256 && d.sha256 === f.sha256,
            () => `${m.name}/${v.version}/${f.path}: downloads as ${got}, listed ${f.sha256}`,
            `${needle}/versions/${v.version}/files`,
          );
        }
      }
    }
  }

  // 1: revoked tokens are refused (docs/reference.md "Tokens": within 10 s everywhere).
  for (const t of world.revoked) {
    if (Date.now() - t.at < 11_000) continue;
    const user = new MregClient({
      url: api.url,
      token: t.token,
      retries: 0,
      fetch: ctx.history.fetchFor("checker/revoked"),
    });
    const refused = await user.models.list({ limit: 1 }).then(
      () => false,
      (err: unknown) => err instanceof MregError && err.status === 401,
    );
    if (t.ack)
      tally.expect("1", refused, () => `token ${t.id}: revoked (acknowledged), still accepted`, `/v1/tokens/${t.id}`);
  }

  // 5: deliveries, at the end (at least once, with backoff: they trail the restarts).
  if (opts.final) await checkDeliveries(ctx, tally);

  // 6: collected blobs. Every blob R2 holds is held by a ready version, or would not survive this run.
  if (opts.final && opts.r2Keys) {
    const keys = await opts.r2Keys();
    if (keys !== null) {
      for (const key of keys) {
        const sha = key.slice(key.lastIndexOf("/") + 1);
        const note = opts.blobNote?.(sha) ?? "";
        // A writer that died holding the address's lease keeps it until the lease runs out
        // (real time, which the shifted cleanup cannot move): those bytes go on a later run.
        if (!heldBlobs.has(sha) && !pendingHolds(world, sha) && note.startsWith("LEASED")) {
          ctx.leasedBlobs += 1;
          continue;
        }
        tally.expect(
          "6",
          heldBlobs.has(sha) || pendingHolds(world, sha),
          () => `blob ${sha} is held by nothing, yet still in R2 after the grace period (${note})`,
          sha,
        );
      }
      for (const sha of heldBlobs)
        tally.expect(
          "6",
          keys.some((k) => k.endsWith(sha)),
          () => `blob ${sha} is held by a ready version, yet missing from R2`,
          sha,
        );
    }
  }

  // 7: no 5xx ever answered (checked once, over the whole history).
  if (opts.final) {
    for (const e of ctx.history.entries) {
      if (e.status >= 500)
        tally.expect("7", false, () => `${e.method} ${e.path} answered ${e.status} ${e.code ?? ""}`, e.path);
      else tally.ok("7");
    }
  }
}

async function checkDeliveries(ctx: CheckContext, tally: Tally): Promise<void> {
  const report = await deliveryReport(ctx);
  for (const r of ctx.receiver.received)
    tally.expect("5", r.signatureOk, () => `delivery ${r.webhookId}: bad signature`, r.webhookId);
  for (const [id, bodies] of report.bodies) {
    tally.expect("5", bodies.size === 1, () => `event ${id}: deliveries differ: ${[...bodies].join(" | ")}`, id);
    tally.expect(
      "5",
      [...bodies].every((b) => (JSON.parse(b) as { id?: string }).id === id),
      () => `delivery ${id}: body names another event`,
      id,
    );
  }
  tally.ok("5", report.delivered);
  for (const e of report.undelivered) {
    tally.expect(
      "5",
      false,
      () => `event ${e.id} (${e.action} ${e.model}) never delivered (delivery row: ${e.row ?? "none"})`,
      e.model ? `/models/${e.model}` : "/v1/tokens",
    );
  }
  ctx.queueLost = report.queueLost.length;
}

/** A pending version's file holds its blob too. */
function pendingHolds(world: World, sha: string): boolean {
  for (const m of world.models.values())
    for (const v of m.versions.values())
      if (v.deleted === false) for (const f of v.files.values()) if (f.value.sha256 === sha) return true;
  return false;
}

/** A delivery's identity: the event it carries (the timestamp header differs per attempt, the body must not). */
function bodyIdentity(body: string): string {
  const parsed = JSON.parse(body) as { data: unknown };
  return JSON.stringify(parsed.data);
}
