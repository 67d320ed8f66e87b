/**
 * A ModelState's rooms, opened over its SQLite: each table group with what it needs (the
 * outbox, for those whose changes D1 must hear of), the change log, this object's own watch
 * sockets and the register of watch relays. Apart from ./model-state.ts, which is the
 * transaction boundary and nothing more.
 */
import { resolveNow } from "./alias-ops";
import { AliasTable } from "./alias-table";
import { BlobSessionTable } from "./blob-session-table";
import { ChangeLog } from "./changes";
import { DownstreamTable } from "./downstream-table";
import { FleetTable } from "./fleet-table";
import { GateTable } from "./gate-table";
import { GuardTable } from "./guard-table";
import { MetaTable } from "./meta-table";
import { ModelTable } from "./model-table";
import { OciTable } from "./oci-table";
import { Outbox } from "./outbox";
import { RelayTable } from "./relay-table";
import { RetentionTable } from "./retention-table";
import type { Rooms } from "./rooms";
import { SignatureTable } from "./signature-table";
import { RolloutTable } from "./rollout-table";
import { UploadTable } from "./upload-table";
import { VersionTable } from "./version-table";
import { Watch } from "./watch";

/** The rooms of the object `ctx` holds; `d1` is where its outbox projects. */
export function openRooms(ctx: DurableObjectState, d1: () => D1Database): Rooms {
  const sql = ctx.storage.sql;
  const outbox = new Outbox(sql, d1);
  const meta = new MetaTable(sql);
  const rooms: Rooms = {
    model: new ModelTable(sql, outbox),
    meta,
    outbox,
    versions: new VersionTable(sql, outbox),
    uploads: new UploadTable(sql, outbox),
    blobSessions: new BlobSessionTable(sql, outbox),
    oci: new OciTable(sql, outbox),
    aliases: new AliasTable(sql),
    gates: new GateTable(sql),
    guards: new GuardTable(sql),
    retention: new RetentionTable(sql, outbox),
    downstream: new DownstreamTable(sql),
    signatures: new SignatureTable(sql, outbox),
    rollouts: new RolloutTable(sql),
    fleet: new FleetTable(sql),
    changes: new ChangeLog(),
    watch: new Watch(
      ctx,
      (model, alias) => resolveNow(rooms, model, alias),
      () => meta.counter("generation"),
    ),
    relays: new RelayTable(sql),
  };
  return rooms;
}
