/** docs/rollouts.md: an alias moved to a version in steps, driven by the registry itself. */
import { seg, type Transport } from "./transport";
import type { Rollout, StartRollout } from "./types";

const rolloutPath = (model: string, alias: string) => `/v1/models/${seg(model)}/aliases/${seg(alias)}/rollout`;

export class Rollouts {
  constructor(private readonly t: Transport) {}

  /**
   * Starts moving `alias` to `body.version` in `body.steps`; the first step is applied at once.
   * 409 `gate_failed` (with `checks`) when the alias's gate refuses the version now, 409
   * `conflict` while another rollout of the alias runs.
   */
  start(model: string, alias: string, body: StartRollout, signal?: AbortSignal): Promise<Rollout> {
    return this.t.json({
      method: "PUT",
      path: rolloutPath(model, alias),
      json: body,
      signal,
      what: `start a rollout of ${model}@${alias}`,
    });
  }

  /** The alias's rollout: the running one, else the last that ran (404 when none ever did). */
  get(model: string, alias: string, signal?: AbortSignal): Promise<Rollout> {
    return this.t.json({
      method: "GET",
      path: rolloutPath(model, alias),
      signal,
      what: `the rollout of ${model}@${alias}`,
    });
  }

  /** The alias stays at the step in force; its hold stops. Pausing a paused rollout changes nothing. */
  pause(model: string, alias: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<Rollout> {
    return this.act(model, alias, "pause", options);
  }

  /** The step in force holds again from the start. Resuming a running rollout changes nothing. */
  resume(model: string, alias: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<Rollout> {
    return this.act(model, alias, "resume", options);
  }

  /** Ends the rollout and takes the alias back to `from`. 409 `conflict` once it has ended. */
  abort(model: string, alias: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<Rollout> {
    return this.act(model, alias, "abort", options);
  }

  private act(
    model: string,
    alias: string,
    action: "pause" | "resume" | "abort",
    options: { reason?: string; signal?: AbortSignal },
  ): Promise<Rollout> {
    return this.t.json({
      method: "POST",
      path: `${rolloutPath(model, alias)}:${action}`,
      json: options.reason === undefined ? {} : { reason: options.reason },
      // Pause and resume are idempotent on the server; a repeated abort after a lost answer is a 409, never a second change.
      idempotent: action !== "abort",
      signal: options.signal,
      what: `${action} the rollout of ${model}@${alias}`,
    });
  }
}
