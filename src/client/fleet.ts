/** What serving nodes report, the fleet view, and its nodes (docs/fleet.md "HTTP reference"). */
import { seg, type Transport } from "./transport";
import type { Fleet as FleetView, FleetNode, FleetNodesQuery, NodeReport, Page } from "./types";

const aliasPath = (model: string, alias: string) => `/v1/models/${seg(model)}/aliases/${seg(alias)}`;

export class Fleet {
  constructor(private readonly t: Transport) {}

  /** What the nodes serving `model@alias` run, against what the alias intends (counts per version and state, converged, refused). */
  get(model: string, alias: string, signal?: AbortSignal): Promise<FleetView> {
    return this.t.json({
      method: "GET",
      path: `${aliasPath(model, alias)}/fleet`,
      signal,
      what: `fleet of ${model}@${alias}`,
    });
  }

  /** A page of the nodes, by name; filters combine. */
  nodes(model: string, alias: string, query: FleetNodesQuery = {}, signal?: AbortSignal): Promise<Page<FleetNode>> {
    return this.t.json({
      method: "GET",
      path: `${aliasPath(model, alias)}/fleet/nodes`,
      query: { ...query },
      signal,
      what: `nodes of ${model}@${alias}`,
    });
  }

  /**
   * Reports what a node runs (scope `report` and the alias's grant). `mreg agent` reports over
   * its watch socket instead (`Watch.report`); this is for any other serving process, on every
   * change of its state and at least every 30 s.
   */
  async report(model: string, alias: string, report: NodeReport, signal?: AbortSignal): Promise<void> {
    await this.t.json({
      method: "POST",
      path: `${aliasPath(model, alias)}/nodes`,
      json: report,
      // The same report twice says the same thing.
      idempotent: true,
      signal,
      what: `report of ${report.node} for ${model}@${alias}`,
    });
  }
}
