/**
 * The workload: several concurrent clients, each driving the models it owns through the
 * typed client with seeded random operations (creates, single and multipart uploads, some
 * abandoned, finalize, patches, promotions, splits, swaps, stage moves, rollbacks, gates and
 * approvals, guards tripped by signals, rollouts started, paused, resumed and aborted, deletes,
 * retention runs, token revocations), and recording in the World what each acknowledged
 * answer means.
 */
import { createHash } from "node:crypto";
import { MregClient, MregError, bytesSource } from "../../src/client";
import type { History } from "./history";
import type { ModelExp, VersionExp, World } from "./model";
import type { Rand } from "./rand";
import { ROLLOUT_ALIASES } from "./rollouts";

/** Lets the orchestrator hold every client between operations (while the server restarts or a check runs). */
export class Gate {
  private openNow = true;
  private waiters: (() => void)[] = [];
  private busy = 0;
  private idleWaiters: (() => void)[] = [];

  close(): void {
    this.openNow = false;
  }

  open(): void {
    this.openNow = true;
    for (const w of this.waiters.splice(0)) w();
  }

  async enter(): Promise<void> {
    while (!this.openNow) await new Promise<void>((r) => this.waiters.push(r));
    this.busy += 1;
  }

  leave(): void {
    this.busy -= 1;
    if (this.busy === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once no operation is in flight. */
  idle(): Promise<void> {
    return this.busy === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }
}

export interface Tokens {
  admin: string;
  /** A second person: approvals need an approver who did not create the version. */
  approver: string;
  reporter: string;
}

export interface WorkloadContext {
  base: string;
  history: History;
  world: World;
  gate: Gate;
  tokens: Tokens;
  /** Shared contents, so uploads of the same bytes are deduplicated across versions and models. */
  pool: Uint8Array<ArrayBuffer>[];
  stopped: () => boolean;
  ops: { count: number; byKind: Map<string, number> };
}

const ALIASES = ["staging", "production", "canary", "challenger"] as const;
const STAGES = ["none", "staging", "production", "archived"] as const;
const MiB = 1024 * 1024;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const isNetwork = (err: unknown) => err instanceof MregError && (err.status === 0 || err.code === "network_error");
/** Whether the write's outcome is unknown (no answer) rather than refused (a 4xx). */
const lost = (err: unknown) => !(err instanceof MregError) || isNetwork(err);

export class Client {
  readonly api: MregClient;
  readonly approverApi: MregClient;
  readonly reporterApi: MregClient;
  private counter = 0;

  constructor(
    readonly name: string,
    private readonly ctx: WorkloadContext,
    private readonly rand: Rand,
    readonly owned: string[],
  ) {
    const opts = (token: string, who: string) => ({
      url: ctx.base,
      token,
      retries: 0,
      fetch: ctx.history.fetchFor(who),
    });
    this.api = new MregClient(opts(ctx.tokens.admin, name));
    this.approverApi = new MregClient(opts(ctx.tokens.approver, `${name}/approver`));
    this.reporterApi = new MregClient(opts(ctx.tokens.reporter, `${name}/reporter`));
  }

  async run(): Promise<void> {
    while (!this.ctx.stopped()) {
      await this.ctx.gate.enter();
      try {
        if (this.ctx.stopped()) return;
        const m = this.ctx.world.model(this.rand.pick(this.owned)!, this.name);
        const kind = this.choose(m);
        this.ctx.ops.count += 1;
        this.ctx.ops.byKind.set(kind, (this.ctx.ops.byKind.get(kind) ?? 0) + 1);
        await this.op(kind, m).catch((err: unknown) => {
          // Refusals (4xx) are answers the workload expects now and then; lost answers were
          // recorded by the op. Anything else is the client's or the harness's own bug.
          if (!(err instanceof MregError))
            this.ctx.world.liveViolations.push(
              `1: ${m.name}: ${kind} threw ${err instanceof Error ? err.stack : String(err)}`,
            );
        });
      } finally {
        this.ctx.gate.leave();
      }
    }
  }

  private choose(m: ModelExp): string {
    if (m.exists !== true) return "model.create";
    const live = [...m.versions.values()].filter((v) => v.deleted === false);
    const pending = live.filter((v) => v.ready === false);
    const ready = live.filter((v) => v.ready === true);
    return this.rand.weighted<string>([
      [pending.length < 2 ? 8 : 2, "version.create"],
      [pending.length > 0 ? 10 : 0, "upload.single"],
      [pending.length > 0 ? 2 : 0, "upload.multipart"],
      [pending.length > 0 ? 1 : 0, "upload.abandon"],
      [pending.length > 0 ? 6 : 0, "version.finalize"],
      [live.length > 0 ? 3 : 0, "version.patch"],
      [1, "model.patch"],
      [ready.length > 0 ? 8 : 0, "alias.set"],
      [ready.length > 1 ? 2 : 0, "alias.split"],
      [ready.length > 1 ? 2 : 0, "alias.swap"],
      [ready.length > 0 ? 3 : 0, "version.stage"],
      [ready.length > 0 ? 3 : 0, "alias.rollback"],
      [1, "alias.delete"],
      [ready.length > 0 ? 2 : 0, "gate"],
      [ready.length > 0 ? 2 : 0, "guard"],
      [ready.length > 1 ? 8 : 0, "rollout.start"],
      [1.5, "rollout.act"],
      [live.length > 3 ? 2 : 0, "version.delete"],
      [0.3, "model.delete"],
      [0.7, "retention"],
      [0.5, "token.revoke"],
      [4, "read"],
    ]);
  }

  private async op(kind: string, m: ModelExp): Promise<void> {
    const api = this.api;
    const live = () => [...m.versions.values()].filter((v) => v.deleted === false);
    const pendingV = () => this.rand.pick(live().filter((v) => v.ready === false));
    const readyV = () => this.rand.pick(live().filter((v) => v.ready === true));
    switch (kind) {
      case "model.create": {
        try {
          await api.models.create({ name: m.name, kind: "model", tags: { owner: this.name } });
          m.exists = true;
        } catch (err) {
          if (err instanceof MregError && err.code === "already_exists") m.exists = true;
          else if (lost(err)) m.exists = "?";
          else throw err;
        }
        return;
      }
      case "version.create":
        return this.createVersion(m);
      case "upload.single": {
        const v = pendingV();
        if (!v) return;
        const bytes = this.rand.chance(0.4)
          ? this.rand.pick(this.ctx.pool)!
          : this.rand.bytes(this.rand.int(0, 64 * 1024));
        const path = this.rand.chance(0.2) ? `dir/${this.counter++}.txt` : `f${this.counter++}.bin`;
        return this.upload(m, v, path, bytes, "single");
      }
      case "upload.multipart": {
        const v = pendingV();
        if (!v) return;
        const bytes = this.rand.bytes(5 * MiB + this.rand.int(1, 3 * MiB));
        return this.upload(m, v, `big${this.counter++}.bin`, bytes, "multipart");
      }
      case "upload.abandon": {
        // Opened, one part sent, never completed: the upload expires and its parts go.
        const v = pendingV();
        if (!v) return;
        const bytes = this.rand.bytes(5 * MiB + this.rand.int(1, MiB));
        const created = await api.uploads.create(m.name, v.n, {
          path: `abandoned${this.counter++}.bin`,
          size: bytes.length,
          sha256: sha256(bytes),
        });
        if (created.upload) {
          await api.uploads.putPart(m.name, v.n, created.upload.upload_id, 1, {
            body: () => bytes.subarray(0, created.upload.part_size),
            length: created.upload.part_size,
          });
        }
        return;
      }
      case "version.finalize": {
        const v = pendingV();
        if (!v) return;
        try {
          await api.versions.finalize(m.name, v.n);
          v.ready = true;
        } catch (err) {
          if (lost(err)) v.ready = "?";
          else throw err;
        }
        return;
      }
      case "version.patch": {
        const v = this.rand.pick(live());
        if (!v) return;
        const key = `p${this.counter++}`;
        const value = `v${this.rand.int(0, 1e6)}`;
        try {
          await api.versions.update(m.name, v.n, { tags: { [key]: value }, metrics: { auc: this.rand.next() } });
          v.tags.set(key, { value, sure: true });
        } catch (err) {
          if (lost(err)) v.tags.set(key, { value, sure: false });
          else throw err;
        }
        return;
      }
      case "model.patch": {
        const key = `p${this.counter++}`;
        const value = `v${this.rand.int(0, 1e6)}`;
        try {
          await api.models.update(m.name, { tags: { [key]: value }, description: `patched ${key}` });
          m.tags.set(key, { value, sure: true });
        } catch (err) {
          if (lost(err)) m.tags.set(key, { value, sure: false });
          else throw err;
        }
        return;
      }
      case "alias.set": {
        const v = readyV();
        if (!v) return;
        const alias = this.rand.pick(ALIASES)!;
        const expected = this.rand.chance(0.3)
          ? { expected_generation: this.rand.chance(0.5) ? m.lastGeneration : 0 }
          : {};
        return this.aliasChange(m, alias, "set", () =>
          api.aliases.set(m.name, alias, { version: v.n, reason: "chaos", ...expected }),
        );
      }
      case "alias.split": {
        const ready = live().filter((v) => v.ready === true);
        const a = this.rand.pick(ready)!;
        const b = this.rand.pick(ready.filter((v) => v !== a))!;
        const w = this.rand.int(1, 99);
        return this.aliasChange(m, "canary", "set", () =>
          api.aliases.set(m.name, "canary", {
            split: [
              { version: a.n, weight: w },
              { version: b.n, weight: 100 - w },
            ],
            reason: "chaos split",
          }),
        );
      }
      case "alias.swap": {
        const [a, b] = this.rand.chance(0.5) ? ["production", "staging"] : ["canary", "challenger"];
        const seq = this.seqNow();
        try {
          const [x] = await api.aliases.swap(m.name, [a!, b!], "chaos swap");
          this.generation(m, x.generation);
          m.aliasOps.push(
            { alias: a!, action: "swap", generation: x.generation, ack: true, seq },
            { alias: b!, action: "swap", generation: x.generation, ack: true, seq },
          );
        } catch (err) {
          if (lost(err)) m.aliasOps.push({ alias: a!, action: "swap", generation: null, ack: false, seq });
          else throw err;
        }
        return;
      }
      case "alias.rollback": {
        const alias = this.rand.pick(ALIASES)!;
        return this.aliasChange(m, alias, "rollback", () =>
          api.aliases.rollback(m.name, alias, { reason: "chaos rollback" }),
        );
      }
      case "alias.delete": {
        const alias = this.rand.pick(ALIASES)!;
        return this.aliasChange(m, alias, "delete", async () => {
          await api.aliases.delete(m.name, alias, { reason: "chaos" });
          return null;
        });
      }
      case "version.stage": {
        const v = readyV();
        if (!v) return;
        const stage = this.rand.pick(STAGES)!;
        const archive = this.rand.chance(0.3);
        try {
          await api.versions.setStage(m.name, v.n, { stage, archive_existing: archive, reason: "chaos" });
          if (archive && stage !== "none" && stage !== "archived") {
            for (const o of m.versions.values())
              if (o !== v && o.stage.value === stage) o.stage = { value: "archived", sure: o.stage.sure };
          }
          v.stage = { value: stage, sure: true };
        } catch (err) {
          if (!lost(err)) throw err;
          // Which versions moved is unknown now: the next check reads them back.
          for (const o of m.versions.values()) o.stage = { value: o.stage.value, sure: false };
          v.stage = { value: stage, sure: false };
        }
        return;
      }
      case "gate": {
        const v = readyV();
        if (!v) return;
        if (this.rand.chance(0.3)) {
          await api.gates.set(m.name, "production", { approvals: 1, metrics: [{ name: "auc", min: 0.2 }] });
        } else if (this.rand.chance(0.15)) {
          await api.gates.delete(m.name, "production");
        }
        if (this.rand.chance(0.7))
          await this.approverApi.approvals.add(m.name, v.n, { target: "production", comment: "chaos" });
        return this.aliasChange(m, "production", "set", () =>
          api.aliases.set(m.name, "production", { version: v.n, reason: "chaos gated" }),
        );
      }
      case "guard": {
        if (this.rand.chance(0.4))
          await api.guards.set(m.name, "canary", { metric: "err", max: 0.5, window_s: 300, min_samples: 5 });
        const now = await api.aliases.resolve(m.name, "canary").catch(() => null);
        if (!now) return;
        // Bad figures for the version serving now: a guard trips and rolls the alias back.
        await this.reporterApi.guards.signal(m.name, "canary", {
          version: now.version,
          metrics: { err: 0.9 },
          count: 10,
        });
        return;
      }
      case "rollout.start": {
        // A few steps of rising weight, the last 100, with holds of 1–6 s: no node
        // reports here, so each hold starts with its step and the alarm alone moves it on.
        const v = readyV();
        if (!v) return;
        const alias = this.rand.pick(ROLLOUT_ALIASES)!;
        const weights = [...new Set(Array.from({ length: this.rand.int(1, 3) }, () => this.rand.int(1, 99)))].sort(
          (a, b) => a - b,
        );
        const steps = [...weights, 100].map((weight) => ({ weight, hold_s: this.rand.int(1, 6) }));
        const seq = this.seqNow();
        try {
          const r = await api.rollouts.start(m.name, alias, {
            version: v.n,
            steps,
            min_fleet: this.rand.next(),
            reason: "chaos rollout",
          });
          // Its answer is the first step: an alias change like any other.
          this.generation(m, r.generation);
          m.aliasOps.push({ alias, action: "set", generation: r.generation, ack: true, seq });
        } catch (err) {
          if (lost(err)) m.aliasOps.push({ alias, action: "set", generation: null, ack: false, seq });
          else throw err;
        }
        return;
      }
      case "rollout.act": {
        // Pause, resume or abort whatever rollout the alias has: refusals (none, or ended) are answers too.
        const alias = this.rand.pick(ROLLOUT_ALIASES)!;
        const action = this.rand.weighted<"pause" | "resume" | "abort">([
          [2, "pause"],
          [2, "resume"],
          [1, "abort"],
        ]);
        // An abort's generation is not recorded: when it could not take the alias back it is
        // the last step's, older than answers seen since. Invariant 8 checks it from the audit.
        await api.rollouts[action](m.name, alias, { reason: `chaos ${action}` });
        return;
      }
      case "version.delete": {
        const v = this.rand.pick(live());
        if (!v) return;
        try {
          await api.versions.delete(m.name, v.n);
          v.deleted = true;
        } catch (err) {
          if (lost(err)) v.deleted = "?";
          else throw err;
        }
        return;
      }
      case "model.delete": {
        for (const alias of await api.aliases.list(m.name)) {
          await this.aliasChange(m, alias.alias, "delete", async () => {
            await api.aliases.delete(m.name, alias.alias, { reason: "chaos model delete" });
            return null;
          });
        }
        try {
          await api.models.delete(m.name);
          m.exists = false;
          m.deletions += 1;
          for (const v of m.versions.values()) v.deleted = true;
          m.tags.clear();
        } catch (err) {
          if (!lost(err)) throw err;
          m.exists = "?";
        }
        return;
      }
      case "retention": {
        if (this.rand.chance(0.5))
          await api.retention.set(m.name, { keep_last: this.rand.int(1, 3), keep_stages: ["production"] });
        else if (this.rand.chance(0.3)) await api.retention.delete(m.name);
        await this.scheduled();
        return;
      }
      case "token.revoke": {
        const minted = await api.tokens.create({
          sub: `temp-${this.name}`,
          scope: "read",
          ttl_s: 3600,
          description: "chaos",
        });
        const user = new MregClient({
          url: this.ctx.base,
          token: minted.token,
          retries: 0,
          fetch: this.ctx.history.fetchFor(`${this.name}/temp`),
        });
        await user.models.list({ limit: 1 });
        try {
          await api.tokens.revoke(minted.id);
          // Committed by the answer at the latest: the checker's 10 s run from here, so a slow
          // answer on a busy machine does not eat into them.
          this.ctx.world.revoked.push({ id: minted.id, token: minted.token, ack: true, at: Date.now() });
        } catch (err) {
          if (!lost(err)) throw err;
          this.ctx.world.revoked.push({ id: minted.id, token: minted.token, ack: false, at: Date.now() });
        }
        return;
      }
      case "read": {
        const alias = this.rand.pick(ALIASES)!;
        await api
          .resolve(`registry://${m.name}@${alias}`, { key: `k${this.rand.int(0, 100)}` })
          .catch((err: unknown) => {
            if (!(err instanceof MregError)) throw err;
          });
        await api.versions.list(m.name, { limit: 20 });
        await api.audit.list({ model: m.name, limit: 10 });
        return;
      }
      default:
        throw new Error(`unknown operation ${kind}`);
    }
  }

  private seqNow(): number {
    return this.ctx.history.entries.length;
  }

  /** Invariant 2, live: a model's acknowledged generations only ever increase. */
  private generation(m: ModelExp, g: number): void {
    if (g <= m.lastGeneration)
      this.ctx.world.liveViolations.push(`2: ${m.name}: generation ${g} answered after ${m.lastGeneration}`);
    m.lastGeneration = Math.max(m.lastGeneration, g);
  }

  private async aliasChange(
    m: ModelExp,
    alias: string,
    action: "set" | "delete" | "rollback",
    call: () => Promise<{ generation: number } | null>,
  ): Promise<void> {
    const seq = this.seqNow();
    try {
      const answer = await call();
      if (answer) this.generation(m, answer.generation);
      m.aliasOps.push({ alias, action, generation: answer?.generation ?? null, ack: true, seq });
    } catch (err) {
      if (lost(err)) m.aliasOps.push({ alias, action, generation: null, ack: false, seq });
      else throw err;
    }
  }

  private async createVersion(m: ModelExp): Promise<void> {
    const k = this.counter++;
    const retry = m.pendingCreate;
    const runId = retry?.runId ?? `run-${m.name}-${this.name}-${k}`;
    const key = retry?.key ?? `${m.name}-${this.name}-${k}`;
    const parent = this.rand.chance(0.3)
      ? this.rand.pick([...m.versions.values()].filter((v) => v.deleted === false))
      : undefined;
    const body = (retry?.body as object | undefined) ?? {
      description: `chaos ${k}`,
      metrics: { auc: this.rand.next() },
      lineage: {
        run_id: runId,
        git_sha: createHash("sha1").update(runId).digest("hex"),
        ...(parent ? { parents: [{ model: m.name, version: parent.n }] } : {}),
      },
    };
    try {
      const v = await this.api.versions.create(m.name, body, { idempotencyKey: key });
      m.pendingCreate = null;
      const earlier = m.numbers.get(v.version);
      if (earlier !== undefined && earlier !== key && earlier !== "adopted") {
        this.ctx.world.liveViolations.push(
          `2: ${m.name}: version ${v.version} returned for key ${key}, and before for ${earlier}`,
        );
      } else if (earlier === undefined && v.version <= m.maxVersion && !m.versions.has(v.version)) {
        this.ctx.world.liveViolations.push(`2: ${m.name}: version ${v.version} created after ${m.maxVersion}`);
      }
      m.numbers.set(v.version, key);
      m.maxVersion = Math.max(m.maxVersion, v.version);
      if (!m.versions.has(v.version)) m.versions.set(v.version, newVersion(v.version, runId));
    } catch (err) {
      if (lost(err)) {
        m.pendingCreate = { key, runId, body };
        m.lostCreates += 1;
      } else if (err instanceof MregError && err.code === "not_found") m.exists = "?";
      else throw err;
    }
  }

  private async upload(
    m: ModelExp,
    v: VersionExp,
    path: string,
    bytes: Uint8Array<ArrayBuffer>,
    how: "single" | "multipart",
  ): Promise<void> {
    const digest = sha256(bytes);
    try {
      const r = await this.api.upload(m.name, v.n, path, bytesSource(bytes), {
        sha256: digest,
        multipartThreshold: how === "single" ? 64 * MiB : 0,
        parallel: 2,
      });
      if (r.file.sha256 !== digest || r.file.size !== bytes.length)
        this.ctx.world.liveViolations.push(
          `1: ${m.name}/${v.n}/${path}: answered ${r.file.sha256}/${r.file.size} for ${digest}/${bytes.length}`,
        );
      v.files.set(path, { value: { sha256: digest, size: bytes.length }, sure: true });
    } catch (err) {
      if (lost(err)) v.files.set(path, { value: { sha256: digest, size: bytes.length }, sure: false });
      else throw err;
    }
  }

  async scheduled(): Promise<void> {
    await this.ctx.history
      .fetchFor(this.name)(`${this.ctx.base}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`)
      .then(
        (r) => r.body?.cancel(),
        () => undefined, // the server died under it: recorded in the history
      );
  }
}

export function newVersion(n: number, runId: string): VersionExp {
  return {
    n,
    ready: false,
    deleted: false,
    runId,
    files: new Map(),
    tags: new Map(),
    stage: { value: "none", sure: true },
  };
}
