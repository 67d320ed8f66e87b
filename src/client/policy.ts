/** API.md "Gates, approvals and guards". */
import { versionPath } from "./models";
import { seg, type Transport } from "./transport";
import type { Approval, Gate, GatePolicy, GateResult, Guard, GuardPolicy, Signal } from "./types";

const gatePath = (model: string, target: string) => `/v1/models/${seg(model)}/gates/${seg(target)}`;
const guardPath = (model: string, alias: string) => `/v1/models/${seg(model)}/aliases/${seg(alias)}/guard`;

export class Gates {
  constructor(private readonly t: Transport) {}

  async list(model: string, signal?: AbortSignal): Promise<Gate[]> {
    const page = await this.t.json<{ items: Gate[] }>({
      method: "GET",
      path: `/v1/models/${seg(model)}/gates`,
      signal,
      what: `gates of '${model}'`,
    });
    return page.items;
  }

  /** A target is an alias or a stage name (`production` covers both). Needs `admin`. */
  set(model: string, target: string, policy: GatePolicy, signal?: AbortSignal): Promise<Gate> {
    return this.t.json({
      method: "PUT",
      path: gatePath(model, target),
      json: policy,
      idempotent: true,
      signal,
      what: `set the gate of ${model}@${target}`,
    });
  }

  async delete(model: string, target: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: gatePath(model, target),
      signal,
      what: `delete the gate of ${model}@${target}`,
    });
  }

  /** The dry run: what promoting `version` to `target` would get now. Changes nothing. */
  check(model: string, target: string, version: number, signal?: AbortSignal): Promise<GateResult> {
    return this.t.json({
      method: "POST",
      path: `${gatePath(model, target)}/check`,
      json: { version },
      idempotent: true,
      signal,
      what: `check the gate of ${model}@${target}`,
    });
  }
}

export class Approvals {
  constructor(private readonly t: Transport) {}

  /** Needs `approve`; 403 when the approver created the version. */
  add(
    model: string,
    version: number,
    body: { target: string; comment?: string },
    signal?: AbortSignal,
  ): Promise<Approval> {
    return this.t.json({
      method: "POST",
      path: `${versionPath(model, version)}/approvals`,
      json: body,
      signal,
      what: `approve version ${version} of '${model}' for ${body.target}`,
    });
  }

  async list(model: string, version: number, signal?: AbortSignal): Promise<Approval[]> {
    const page = await this.t.json<{ items: Approval[] }>({
      method: "GET",
      path: `${versionPath(model, version)}/approvals`,
      signal,
      what: `approvals of version ${version} of '${model}'`,
    });
    return page.items;
  }
}

export class Guards {
  constructor(private readonly t: Transport) {}

  set(model: string, alias: string, policy: GuardPolicy, signal?: AbortSignal): Promise<Guard> {
    return this.t.json({
      method: "PUT",
      path: guardPath(model, alias),
      json: policy,
      idempotent: true,
      signal,
      what: `guard ${model}@${alias}`,
    });
  }

  get(model: string, alias: string, signal?: AbortSignal): Promise<Guard> {
    return this.t.json({
      method: "GET",
      path: guardPath(model, alias),
      signal,
      what: `the guard of ${model}@${alias}`,
    });
  }

  async delete(model: string, alias: string, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "DELETE",
      path: guardPath(model, alias),
      signal,
      what: `remove the guard of ${model}@${alias}`,
    });
  }

  /** A serving node's report (scope `report`): 202, queued. */
  async signal(model: string, alias: string, signal: Signal, abort?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "POST",
      path: `/v1/models/${seg(model)}/aliases/${seg(alias)}/signals`,
      json: signal,
      signal: abort,
      what: `signal ${model}@${alias}`,
    });
  }
}
