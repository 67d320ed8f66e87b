/**
 * ModelState's own SQLite schema (one database per model), gathered from the rooms that own
 * each table. Described with the other stores in docs/architecture.md "Where state lives"; each module's
 * header says what its tables hold. Only ModelState reads or writes these tables.
 */
import { ALIAS_SCHEMA } from "./alias-table";
import { BLOB_SESSION_SCHEMA } from "./blob-session-table";
import { DOWNLOAD_SCHEMA } from "./download-table";
import { DOWNSTREAM_SCHEMA } from "./downstream-table";
import { FLEET_SCHEMA } from "./fleet-table";
import { GATE_SCHEMA } from "./gate-table";
import { GUARD_SCHEMA } from "./guard-table";
import { META_SCHEMA } from "./meta-table";
import { MODEL_SCHEMA } from "./model-table";
import { OCI_SCHEMA } from "./oci-table";
import { OUTBOX_SCHEMA } from "./outbox";
import { RELAY_SCHEMA } from "./relay-table";
import { RETENTION_SCHEMA } from "./retention-table";
import { SIGNATURE_SCHEMA } from "./signature-table";
import { ROLLOUT_SCHEMA } from "./rollout-table";
import { UPLOAD_SCHEMA } from "./upload-table";
import { VERSION_SCHEMA } from "./version-table";

export const MODEL_STATE_SCHEMA = [
  ...MODEL_SCHEMA,
  ...META_SCHEMA,
  ...VERSION_SCHEMA,
  ...UPLOAD_SCHEMA,
  ...BLOB_SESSION_SCHEMA,
  ...OCI_SCHEMA,
  ...ALIAS_SCHEMA,
  ...GATE_SCHEMA,
  ...GUARD_SCHEMA,
  ...ROLLOUT_SCHEMA,
  ...RETENTION_SCHEMA,
  ...DOWNSTREAM_SCHEMA,
  ...SIGNATURE_SCHEMA,
  ...RELAY_SCHEMA,
  ...FLEET_SCHEMA,
  ...OUTBOX_SCHEMA,
  ...DOWNLOAD_SCHEMA,
];
