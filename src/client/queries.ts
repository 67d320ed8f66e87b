/** API.md "Lineage" and "Audit": read-only queries over the registry's history. */
import { versionPath } from "./models";
import type { Transport } from "./transport";
import type { AuditEvent, LineageGraph, LineageHit, LineageSearch, ListAudit, Page, VersionDiff } from "./types";

export class LineageApi {
  constructor(private readonly t: Transport) {}

  /** Upstream parents and downstream children, `depth` 1..10 (default 3). */
  graph(model: string, version: number, options: { depth?: number; signal?: AbortSignal } = {}): Promise<LineageGraph> {
    return this.t.json({
      method: "GET",
      path: `${versionPath(model, version)}/lineage`,
      query: { depth: options.depth },
      signal: options.signal,
      what: `lineage of version ${version} of '${model}'`,
    });
  }

  /** The versions trained on a dataset (snapshot), built from a commit, or produced by a run. */
  search(query: LineageSearch, signal?: AbortSignal): Promise<Page<LineageHit>> {
    return this.t.json({ method: "GET", path: "/v1/lineage", query: { ...query }, signal, what: "lineage search" });
  }

  /**
   * Files (with a unified diff for small text files), params, metrics, tags and lineage from
   * `a` to `b`; either side may be another model's version as `registry://<model>/<n>`.
   */
  diff(model: string, a: number | string, b: number | string, signal?: AbortSignal): Promise<VersionDiff> {
    const ref = (v: number | string) => encodeURIComponent(String(v));
    return this.t.json({
      method: "GET",
      path: `/v1/models/${encodeURIComponent(model)}/versions/${ref(a)}/diff/${ref(b)}`,
      signal,
      what: `diff of versions ${a} and ${b} of '${model}'`,
    });
  }
}

export class Audit {
  constructor(private readonly t: Transport) {}

  /** Newest first; filters combine. */
  list(query: ListAudit = {}, signal?: AbortSignal): Promise<Page<AuditEvent>> {
    return this.t.json({ method: "GET", path: "/v1/audit", query: { ...query }, signal, what: "audit log" });
  }
}
