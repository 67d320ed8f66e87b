/**
 * The agent's loop: follow the alias (./follow.ts), and whenever the registry names a version
 * other than the one `current` points at, make it complete on disk (./sync.ts), with
 * `--trust-*` verify its signatures itself (./verify.ts), let `--check` judge the staged
 * version (./before-switch.ts); refused either way, `current` never points at it, and it is
 * looked at again only when the alias changes or after a backoff), switch `current` to it
 * (./layout.ts), run the hooks (./hooks.ts) and, if they refuse it, switch back and try again
 * later (./plan.ts decides when). One version is worked on at a time; a newer name from the
 * registry abandons a download under way (its finished ranges stay for later). Registry
 * trouble never touches what is on disk: `current` keeps serving. What the node runs is
 * reported to the registry's fleet view on every change (./reporter.ts).
 */
import type { MregClient } from "../../client/client";
import type { MregError } from "../../client/errors";
import type { WatchEvent } from "../../client/types";
import { VERSION } from "../version";
import { judgeStaged, judgesOf, type Judge } from "./before-switch";
import { follow, type FollowHandlers, type Via } from "./follow";
import { runExec, runNotify, type HookEnv, type HookResult } from "./hooks";
import type { Layout, Manifest } from "./layout";
import {
  chooseKeep,
  incomingToRemove,
  nextStep,
  recordFailure,
  recordRefusal,
  take,
  type Bucket,
  type Failure,
} from "./plan";
import { inSync, nodeReport, type AgentState } from "./report";
import { Reporter } from "./reporter";
import { Signaler, type SignalPost } from "./signals";
import { prepare, type SyncOptions, type Target } from "./sync";
import { verifyStaged } from "./verify";
import type { Trust } from "../../signatures/verify";

export interface AgentConfig {
  model: string;
  alias: string;
  key: string | null;
  uri: string;
  registryUrl: string;
  keep: number;
  exec: string | null;
  /** Judges each staged version before `current` moves to it (a failure refuses the version). */
  check: string | null;
  /** A version --check refused is looked at again this long after (0: only when the alias changes). */
  retryRefusedMs: number;
  /** How often the node reports when nothing changes (NODE_REPORT_S). */
  reportEveryMs: number;
  /** The labels its reports carry (--label). */
  labels: Record<string, string>;
  /** The hook's environment besides the contract's names (./hooks.ts hookEnvironment). */
  hookEnv: Record<string, string>;
  notify: string | null;
  hookTimeoutMs: number;
  parallel: number;
  chunkSize: number;
  /** Bytes a second for downloads; null: as fast as they come. */
  rate: number | null;
  stallMs: number;
  /** The node's own trust (--trust-*): a version becomes current only with a signature it vouches for; null: no check. */
  trust: Trust | null;
}

export interface Log {
  info(event: string, fields: Record<string, unknown>, text: string): void;
  warn(event: string, fields: Record<string, unknown>, text: string): void;
}

const FAILURE_EVENT: Record<Exclude<Failure["kind"], "check">, string> = {
  hook: "hook_failed",
  transfer: "sync_failed",
  signature: "signature_refused",
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class Agent {
  readonly state: AgentState;
  readonly signaler: Signaler;
  readonly reporter: Reporter;
  private desired: WatchEvent | undefined;
  private lastGeneration = -1;
  private inflight: { version: number; controller: AbortController } | undefined;
  private wakeLoop: (() => void) | undefined;
  private bucket: Bucket = { tokens: 0, at: Date.now() };
  private stopping = false;
  /** What judges a staged version before `current` moves to it (./before-switch.ts). */
  private readonly judges: readonly Judge[];

  constructor(
    private readonly client: MregClient,
    private readonly layout: Layout,
    private readonly config: AgentConfig,
    private readonly log: Log,
  ) {
    this.signaler = new Signaler(
      (signal) => client.guards.signal(config.model, config.alias, signal, AbortSignal.timeout(10_000)),
      config.key,
    );
    this.state = {
      model: config.model,
      alias: config.alias,
      key: config.key,
      uri: config.uri,
      dir: layout.dir,
      registryUrl: config.registryUrl,
      current: null,
      target: null,
      registry: { reachable: null, via: null, connected: false, lastContact: null, error: null },
      failure: null,
      lastError: null,
      sync: null,
      held: [],
      counters: { switches: 0, failures: 0, bytesDownloaded: 0, filesDownloaded: 0, filesLinked: 0 },
      signals: this.signaler.counters,
      lastSyncAt: null,
    };
    this.judges = judgesOf(config);
    const extra = { labels: config.labels, agent: `mreg-agent/${VERSION}` };
    this.reporter = new Reporter(
      () => nodeReport(this.state, extra),
      (report) => client.fleet.report(config.model, config.alias, report, AbortSignal.timeout(10_000)),
      config.key ?? "",
      config.reportEveryMs,
      log,
    );
  }

  /** Whether `current` points at a complete version: what /healthz answers. */
  get serving(): boolean {
    return this.state.current !== null;
  }

  /** A post of the model server's: false when there is no version to credit it to, or the window is full. */
  addSignal(post: SignalPost): "ok" | "no_version" | "full" {
    const version = post.version ?? this.state.current?.version;
    if (version === undefined) return "no_version";
    return this.signaler.add(version, post) ? "ok" : "full";
  }

  /** Reads what the directory holds; run before the HTTP server answers. */
  async load(): Promise<void> {
    await this.layout.init(this.config.model);
    const version = await this.layout.readCurrent();
    const m = version === null ? null : this.layout.manifest(version);
    if (m) {
      this.state.current = { version: m.version, digest: m.digest, since: m.served_at };
      this.log.info(
        "serving",
        { version: m.version, since: m.served_at },
        `serving v${m.version} from ${this.layout.dir} (current since ${m.served_at ?? "?"})`,
      );
    }
    this.state.held = (await this.layout.held()).map((h) => h.version);
  }

  /** Follows the alias and keeps `current` in step until `stop` aborts; then finishes the step under way. */
  async run(stop: AbortSignal): Promise<void> {
    const following = follow(
      this.client,
      { model: this.config.model, alias: this.config.alias, ...(this.config.key ? { key: this.config.key } : {}) },
      this.handlers(),
      stop,
    );
    stop.addEventListener(
      "abort",
      () => {
        this.stopping = true;
        this.wakeLoop?.();
      },
      { once: true },
    );
    this.reporter.start();
    try {
      await this.loop(stop);
      await following;
    } finally {
      this.reporter.stop();
    }
    await this.signaler.flush();
  }

  private handlers(): FollowHandlers {
    return {
      resolution: (event, via) => this.setDesired(event, via),
      contact: (reachable, via, error) => this.contact(reachable, via, error),
      connected: (up) => {
        this.state.registry.connected = up;
        if (up) this.log.info("watching", {}, `watching ${this.config.uri} over the socket`);
        else if (!this.stopping) this.log.warn("watch_lost", {}, "the watch socket is down; polling until it is back");
      },
      socket: (watch) => this.reporter.attach(watch),
      reportRefused: (detail) => this.reporter.refused(detail),
    };
  }

  private contact(reachable: boolean, via: Via, error?: MregError): void {
    const r = this.state.registry;
    const was = r.reachable;
    r.reachable = reachable;
    r.via = via;
    if (reachable) r.lastContact = Date.now();
    const detail = error?.detail ?? null;
    if (detail !== r.error) {
      if (detail)
        this.log.warn(
          reachable ? "registry_refuses" : "registry_unreachable",
          { error: detail },
          reachable
            ? `the registry refuses: ${detail}`
            : `the registry cannot be reached: ${detail}${this.state.current ? `; still serving v${this.state.current.version}` : ""}`,
        );
      else if (r.error) this.log.info("registry_back", {}, "the registry answers again");
      r.error = detail;
    }
    if (reachable && !error && inSync(this.state)) this.state.lastSyncAt = Date.now();
    // Back from an outage: a download that failed for it is tried again now, not at its backoff.
    if (reachable && was === false && this.state.failure?.kind === "transfer") {
      this.state.failure = { ...this.state.failure, nextAt: 0 };
      this.wakeLoop?.();
    }
    this.reporter.changed();
  }

  private setDesired(event: WatchEvent, via: Via): void {
    // Watch and polls overlap: an older state never replaces a newer one.
    if (event.generation < this.lastGeneration) return;
    this.lastGeneration = event.generation;
    const changed = this.desired?.version !== event.version;
    this.desired = event;
    this.state.target = { version: event.version, generation: event.generation, digest: event.digest };
    if (changed) {
      const now = event.version === null ? "nothing" : `v${event.version}`;
      this.log.info(
        "target",
        { version: event.version, generation: event.generation, via, event: event.event },
        `${this.config.uri} → ${now} (${event.event}, generation ${event.generation}, via ${via})`,
      );
    }
    if (this.inflight && this.inflight.version !== event.version) this.inflight.controller.abort();
    // A failure of a version no longer named is history (the last error keeps it); named again, it is tried at once.
    if (changed && this.state.failure && this.state.failure.version !== event.version) this.state.failure = null;
    // A signature of the refused version came (or its trust changed): look at it again now.
    if (event.event === "signature" && this.state.failure?.kind === "signature" && !changed)
      this.state.failure = { ...this.state.failure, nextAt: 0 };
    if (inSync(this.state)) this.state.lastSyncAt = Date.now();
    this.reporter.changed();
    this.wakeLoop?.();
  }

  private async loop(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const current = this.state.current?.version ?? null;
      const next = nextStep(current, this.desired?.version, this.state.failure, Date.now(), this.desired?.generation);
      if (next.kind === "apply" || next.kind === "rehook") {
        try {
          if (next.kind === "apply") await this.apply(this.desired as Target, stop);
          else await this.rehook(next.version);
        } catch (err) {
          // The disk refused a rename or a write: no reason to stop serving what `current` holds.
          this.fail(next.version, "transfer", message(err));
        }
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = next.kind === "wait" ? setTimeout(done, next.ms) : undefined;
        this.wakeLoop = done;
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
      this.wakeLoop = undefined;
    }
  }

  private syncOptions(): SyncOptions {
    const rate = this.config.rate;
    return {
      parallel: this.config.parallel,
      chunkSize: this.config.chunkSize,
      stallMs: this.config.stallMs,
      log: (m) => this.log.info("sync", {}, m),
      counters: this.state.counters,
      onProgress: (p) => (this.state.sync = p),
      ...(rate
        ? {
            throttle: async (n: number, signal?: AbortSignal) => {
              const { bucket, waitMs } = take(this.bucket, n, Date.now(), rate);
              this.bucket = bucket;
              if (waitMs > 0) await sleep(waitMs, signal);
            },
          }
        : {}),
    };
  }

  private async apply(target: Target, stop: AbortSignal): Promise<void> {
    const n = target.version;
    const controller = new AbortController();
    const onStop = () => controller.abort();
    stop.addEventListener("abort", onStop, { once: true });
    this.inflight = { version: n, controller };
    let manifest: Manifest;
    try {
      manifest = await prepare(
        this.client,
        this.layout,
        this.config.model,
        target,
        this.syncOptions(),
        controller.signal,
      );
    } catch (err) {
      if (controller.signal.aborted) {
        this.log.info(
          "sync_paused",
          { version: n },
          `v${n}: ${stop.aborted ? "stopping" : "no longer wanted"}; what was fetched stays in .incoming for later`,
        );
        return;
      }
      this.fail(n, "transfer", message(err));
      return;
    } finally {
      this.inflight = undefined;
      stop.removeEventListener("abort", onStop);
    }
    // Nothing new starts while stopping, and a version the registry no longer names is not switched to.
    if (stop.aborted || this.desired?.version !== n) return;
    const previous = this.state.current?.version ?? null;
    if (this.config.trust) {
      const verdict = await verifyStaged(this.client, this.config.trust, manifest, stop, (e, f, t) =>
        this.log.info(e, f, t),
      );
      if (!verdict.ok) {
        this.fail(n, "signature", verdict.reason);
        await this.prune();
        return;
      }
      if (stop.aborted || this.desired?.version !== n) return;
    }
    if (this.judges.length > 0) {
      const verdict = await judgeStaged(this.judges, { version: n, env: this.hookEnv(manifest, previous) }, (line) =>
        this.log.info("check_output", { version: n, line }, line),
      );
      if (!verdict.ok) {
        this.refuse(n, target.generation, verdict.reason);
        await this.prune();
        return;
      }
      this.log.info("check_ok", { version: n }, `v${n} passed the checks before the switch`);
      if (stop.aborted || this.desired?.version !== n) return;
    }
    await this.switchTo(manifest);
    this.log.info(
      "switched",
      { version: n, previous },
      `switched current to v${n}${previous !== null ? ` (from v${previous})` : ""}`,
    );
    const hook = await this.runHooks(manifest, previous, "switch");
    if (hook.ok) {
      // Serving what the registry names: no older failure matters any more.
      this.state.failure = null;
      this.state.lastSyncAt = Date.now();
      this.reporter.changed();
    } else {
      const back = previous === null ? null : this.layout.manifest(previous);
      if (back) {
        await this.switchTo(back);
        this.log.warn(
          "switched_back",
          { version: back.version, refused: n, reason: hook.reason },
          `v${n} refused: ${hook.reason}; switched current back to v${back.version}`,
        );
        const again = await this.runHooks(back, n, "switch-back");
        if (!again.ok)
          this.log.warn(
            "hook_failed",
            { version: back.version, reason: again.reason },
            `the hook failed for v${back.version} too: ${again.reason}`,
          );
      } else {
        this.log.warn(
          "hook_failed",
          { version: n, reason: hook.reason },
          `v${n} refused: ${hook.reason}; nothing to switch back to, so current stays at v${n}`,
        );
      }
      this.fail(n, "hook", hook.reason);
    }
    await this.prune();
  }

  /** The hook refused the only version there is: run it again (it is `current` all along). */
  private async rehook(n: number): Promise<void> {
    const m = this.layout.manifest(n);
    if (!m) return;
    const hook = await this.runHooks(m, null, "switch");
    if (hook.ok) {
      this.state.failure = null;
      this.log.info("hook_ok", { version: n }, `the hook took v${n}`);
      this.reporter.changed();
    } else this.fail(n, "hook", hook.reason);
  }

  /** --check refused version n (named at `generation`): `current` never moved; the node reports it refused. */
  private refuse(version: number, generation: number, why: string): void {
    this.state.counters.failures++;
    const retryMs = this.config.retryRefusedMs;
    this.state.failure = recordRefusal(this.state.failure, version, generation, why, Date.now(), retryMs);
    this.state.lastError = { at: new Date().toISOString(), message: `v${version}: ${why}` };
    const serving = this.state.current ? `; still serving v${this.state.current.version}` : "";
    const again = retryMs > 0 ? `looked at again in ${Math.round(retryMs / 1000)} s` : "looked at again";
    this.log.warn(
      "refused",
      { version, reason: why, attempts: this.state.failure.attempts, retry_in_s: retryMs > 0 ? retryMs / 1000 : null },
      `v${version} refused by --check: ${why}${serving}; ${again} or when the alias changes`,
    );
    this.reporter.changed();
  }

  private fail(version: number, kind: "hook" | "transfer" | "signature", why: string): void {
    this.state.counters.failures++;
    this.state.failure = recordFailure(this.state.failure, version, kind, why, Date.now());
    this.state.lastError = { at: new Date().toISOString(), message: `v${version}: ${why}` };
    const retry = Math.round((this.state.failure.nextAt - Date.now()) / 1000);
    const serving = this.state.current ? `; still serving v${this.state.current.version}` : "";
    this.log.warn(
      FAILURE_EVENT[kind],
      { version, reason: why, attempts: this.state.failure.attempts, retry_in_s: retry },
      kind === "signature"
        ? `v${version} refused: ${why}${serving}; looked at again when it is signed, when the alias changes, or in ${retry} s`
        : `v${version}: ${why}; trying again in ${retry} s`,
    );
    this.reporter.changed();
  }

  private async switchTo(m: Manifest): Promise<void> {
    await this.layout.switchTo(m.version);
    const since = new Date().toISOString();
    this.state.current = { version: m.version, digest: m.digest, since };
    this.state.counters.switches++;
    await this.layout.writeManifest({ ...m, served_at: since });
    this.reporter.changed();
  }

  /** What --check and --exec get: the contract's names (MREG_DIR the version's own directory, staged or current) and --hook-env's. */
  private hookEnv(m: Manifest, previous: number | null): HookEnv & Record<string, string> {
    return {
      ...this.config.hookEnv,
      MREG_VERSION: String(m.version),
      MREG_PREVIOUS: previous === null ? "" : String(previous),
      MREG_DIR: this.layout.versionDir(m.version),
      MREG_MODEL: this.config.model,
      MREG_ALIAS: this.config.alias,
      MREG_DIGEST: m.digest ?? "",
    };
  }

  private async runHooks(m: Manifest, previous: number | null, event: "switch" | "switch-back"): Promise<HookResult> {
    const { exec, notify, hookTimeoutMs } = this.config;
    if (exec) {
      const r = await runExec(exec, this.hookEnv(m, previous), hookTimeoutMs, (line) =>
        this.log.info("hook_output", { version: m.version, line }, line),
      );
      if (!r.ok) return r;
    }
    if (notify) {
      const r = await runNotify(notify, { ...m.resolution, event, previous }, hookTimeoutMs);
      if (!r.ok) return r;
    }
    return { ok: true };
  }

  /** Keeps `--keep` versions (and always the one served and the one wanted); partial downloads no longer wanted go too. */
  private async prune(): Promise<void> {
    const held = await this.layout.held();
    const pinned = [this.state.current?.version, this.desired?.version, this.state.failure?.version];
    const { remove } = chooseKeep(
      held.map((h) => ({ version: h.version, servedAt: h.served_at ? Date.parse(h.served_at) : null })),
      this.config.keep,
      pinned,
    );
    for (const v of remove) {
      await this.layout.remove(v);
      this.log.info("removed", { version: v }, `removed v${v} (--keep ${this.config.keep})`);
    }
    for (const v of incomingToRemove(await this.layout.incomingVersions(), this.desired?.version ?? null))
      await this.layout.removeIncoming(v);
    this.state.held = (await this.layout.held()).map((h) => h.version);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
