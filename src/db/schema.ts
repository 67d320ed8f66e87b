/**
 * The D1 schema: mreg's query side. Every table here is described in docs/architecture.md "Where state
 * lives", together with the Durable Object tables and R2 prefixes, and who writes each.
 *
 * JSON-valued columns hold canonical JSON text written by the owning module; SQLite's
 * json_* functions read them in queries (tag filters, tag merges).
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One row per model: a projection of the model's ModelState (which decides whether the model
 * exists), written only by its outbox flush (src/state/projection.ts).
 */
export const models = sqliteTable("models", {
  name: text("name").primaryKey(),
  kind: text("kind", { enum: ["model", "prompt", "config"] }).notNull(),
  description: text("description"),
  tags: text("tags").notNull().default("{}"),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
  createdBy: text("created_by").notNull(),
});

/**
 * One row per version: a projection of the model's ModelState Durable Object, written only by
 * its outbox flush (src/state/projection.ts). `revision` orders the snapshots so that a late or
 * repeated flush never overwrites a newer one.
 */
export const versions = sqliteTable(
  "versions",
  {
    model: text("model").notNull(),
    version: integer("version").notNull(),
    status: text("status", { enum: ["pending", "ready", "failed"] }).notNull(),
    stage: text("stage", { enum: ["none", "staging", "production", "archived"] }).notNull(),
    description: text("description"),
    tags: text("tags").notNull().default("{}"),
    metrics: text("metrics").notNull().default("{}"),
    lineage: text("lineage").notNull().default("{}"),
    digest: text("digest"),
    // The first 40 hex digits of `digest`: the version's commit id for the Hugging Face bridge
    // (a revision may name it), found by (model, commit).
    commit: text("commit"),
    // The digest of the version's OCI manifest (src/domain/oci.ts), which the OCI bridge
    // finds a `@sha256:` pull by, with (model, oci_digest). Written by the outbox flush, like
    // every column here: queued when the version becomes ready, and for versions made ready
    // before the column existed when the OCI bridge finds one without it and asks the model's
    // ModelState to record it (`recordOciDigests`): a pure function of data fixed at ready.
    ociDigest: text("oci_digest"),
    // Lineage fields that reverse lookups find versions by, lifted out of `lineage`.
    runId: text("run_id"),
    gitSha: text("git_sha"),
    createdAt: text("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    updatedAt: text("updated_at").notNull(),
    readyAt: text("ready_at"),
    revision: integer("revision").notNull(),
    // Downloads of the version's files, projected from ModelState's download counts
    // (src/state/download-table.ts) by its alarm; the outbox's version snapshots never touch it.
    downloads: integer("downloads").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.version] }),
    // Reverse lookups list newest first with a (created_at, model, version) keyset: these
    // indexes answer both the filter and the order, so a page costs `limit` index steps.
    index("versions_run_id_created").on(t.runId, t.createdAt, t.model, t.version),
    index("versions_git_sha_created").on(t.gitSha, t.createdAt, t.model, t.version),
    index("versions_commit").on(t.model, t.commit, t.version),
    index("versions_oci_digest").on(t.model, t.ociDigest),
  ],
);

/**
 * The datasets each version was trained or evaluated on (`lineage.datasets`), one row per
 * (version, uri, snapshot), for "which versions used this dataset (snapshot)". `snapshot` is
 * '' when the lineage names none (a NULL would make the key non-unique). `created_at` is the
 * version's, copied so that the newest-first order comes from the index. Written with the
 * version's snapshot by the outbox flush, replaced like the parent edges.
 */
export const versionDatasets = sqliteTable(
  "version_datasets",
  {
    model: text("model").notNull(),
    version: integer("version").notNull(),
    uri: text("uri").notNull(),
    snapshot: text("snapshot").notNull().default(""),
    digest: text("digest"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.version, t.uri, t.snapshot] }),
    index("version_datasets_uri").on(t.uri, t.createdAt, t.model, t.version),
    index("version_datasets_snapshot").on(t.uri, t.snapshot, t.createdAt, t.model, t.version),
  ],
);

/** Parent edges of the lineage graph, one per (child, parent). Written with the version's snapshot by the outbox flush. */
export const versionParents = sqliteTable(
  "version_parents",
  {
    model: text("model").notNull(),
    version: integer("version").notNull(),
    parentModel: text("parent_model").notNull(),
    parentVersion: integer("parent_version").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.version, t.parentModel, t.parentVersion] }),
    index("version_parents_parent").on(t.parentModel, t.parentVersion),
  ],
);

/**
 * Files of each version, one row per path: what version reads, download and blob garbage
 * collection look up. Written by the outbox flush one file at a time (a file added or
 * removed), so a version of n files costs n writes, not n².
 */
export const versionFiles = sqliteTable(
  "version_files",
  {
    model: text("model").notNull(),
    version: integer("version").notNull(),
    path: text("path").notNull(),
    sha256: text("sha256").notNull(),
    size: integer("size").notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.version, t.path] }), index("version_files_sha256").on(t.sha256)],
);

/**
 * Verified blobs: one row per sha256 whose bytes the registry has checked itself and
 * published at R2 `blobs/sha256/<hex>`. Written by src/artifacts/blob-store.ts after
 * verification; deleted by the scheduled collector once no version_files row references it
 * for a grace period (`unreferenced_since`), which a dedup clears, and so does the
 * projection of a file that references it (src/state/projection.ts, its one other writer).
 * The scrub (src/artifacts/scrub.ts) re-hashes the bytes, least recently verified first, and
 * keeps its progress through a blob larger than one run's budget here, so a row deleted
 * takes its scrub with it.
 */
export const blobs = sqliteTable(
  "blobs",
  {
    sha256: text("sha256").primaryKey(),
    size: integer("size").notNull(),
    createdAt: text("created_at").notNull(),
    unreferencedSince: text("unreferenced_since"),
    // The model that last took these bytes (stored or deduplicated): the collector asks its
    // ModelState before deleting, since that model's reference may still be in its outbox.
    claimedBy: text("claimed_by"),
    // When the registry last hashed the bytes at the address and found them right: at upload,
    // then by each scrub. '' (rows from before the column, until the migration fills it): never.
    verifiedAt: text("verified_at").notNull().default(""),
    // When a scrub found the bytes no longer hashing to `sha256` (or gone): not served, never
    // deduplicated against, until an upload of the right bytes writes them again (heals).
    corruptAt: text("corrupt_at"),
    // A scrub part way through the bytes: how far (bytes hashed), the object's R2 etag it
    // started on (a change means the bytes were replaced: the scrub starts again), and the
    // SHA-256 state after `scrub_offset` bytes (src/domain/sha256.ts). All null otherwise.
    scrubOffset: integer("scrub_offset"),
    scrubEtag: text("scrub_etag"),
    scrubState: text("scrub_state"),
    // Where the bytes lie in R2 when that is not their content address `blobs/sha256/<hex>`
    // (null): a verified OCI blob session's assembled object, registered where it was uploaded
    // (src/artifacts/keys.ts `blobLocation`, the one mapping of a sha256 to its key).
    r2Key: text("r2_key"),
  },
  (t) => [index("blobs_verified_at").on(t.verifiedAt, t.sha256), uniqueIndex("blobs_r2_key").on(t.r2Key)],
);

/**
 * One row per scheduled scrub run: when, the bytes it set out to hash (its share of the cycle,
 * at most `SCRUB_BYTES_PER_RUN`), what it hashed and found. The next run paces itself from
 * the time since the last; operators read how the scrub keeps up. Rows older than two cycles
 * are pruned by the run that writes the newest. Written by src/artifacts/scrub-store.ts.
 */
export const scrubRuns = sqliteTable("scrub_runs", {
  at: text("at").primaryKey(),
  target: integer("target").notNull(),
  bytes: integer("bytes").notNull(),
  verified: integer("verified").notNull(),
  corrupt: integer("corrupt").notNull(),
  calls: integer("calls").notNull(),
  // The oldest verification of a sound blob when the run started: how far behind the scrub is.
  oldestCheck: text("oldest_check"),
});

/**
 * Where the scheduled cleanup's sweeps of R2 listings stopped (src/artifacts/cleanup.ts): the last
 * key a run looked at, so the next run goes on after it instead of listing the bucket from the
 * start; null once a sweep reached the end (the next starts again). Written by the cleanup only.
 */
export const sweepCursors = sqliteTable("sweep_cursors", {
  sweep: text("sweep").primaryKey(),
  after: text("after"),
  at: text("at").notNull(),
});

/**
 * Who may write `blobs/sha256/<hex>` right now. Every write of unverified bytes to a content
 * address (a multipart completion, a put) happens under this lease, so two writers of the
 * same sha256 never overwrite each other's bytes mid-verification. Written by
 * src/artifacts/blob-store.ts; a lease past `expires_at` may be taken over. A signature
 * bundle's address is leased by its whole key (`signatures/sha256/<hex>`), which no sha256 is
 * (src/artifacts/signature-bundles.ts).
 */
export const blobLeases = sqliteTable("blob_leases", {
  sha256: text("sha256").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: text("expires_at").notNull(),
});

/**
 * Open multipart uploads, so the scheduled handler can find expired ones across models.
 * Projected by the outbox flush: inserted when an upload opens, deleted when it ends.
 */
export const openUploads = sqliteTable(
  "open_uploads",
  {
    uploadId: text("upload_id").primaryKey(),
    model: text("model").notNull(),
    version: integer("version").notNull(),
    expiresAt: text("expires_at").notNull(),
  },
  (t) => [index("open_uploads_expires").on(t.expiresAt)],
);

/**
 * Current aliases of every model: a projection of each ModelState's alias table (which is
 * the truth), so model and version reads can show them. Written only by the outbox flush,
 * guarded by `generation` so a late flush never brings back an older value.
 */
export const aliases = sqliteTable(
  "aliases",
  {
    model: text("model").notNull(),
    alias: text("alias").notNull(),
    version: integer("version"),
    // JSON [{version, weight}] for a split, else null.
    split: text("split"),
    generation: integer("generation").notNull(),
    updatedAt: text("updated_at").notNull(),
    updatedBy: text("updated_by").notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.alias] })],
);

/**
 * The append-only audit log, written by the ModelState outboxes, keyed by the event id so a
 * repeated flush inserts nothing twice. Never updated or deleted.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    // Sortable id (time first), so "newest first" is ORDER BY id DESC and the keyset cursor is the id.
    id: text("id").primaryKey(),
    at: text("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    model: text("model").notNull(),
    version: integer("version"),
    alias: text("alias"),
    // JSON values: a version number, a split, or an object, depending on the action.
    from: text("from_value"),
    to: text("to_value"),
    reason: text("reason"),
    detail: text("detail"),
    // The `jti` of the minted token the write was made with (null: a token without one).
    token: text("token"),
  },
  (t) => [
    index("audit_model").on(t.model, t.id),
    index("audit_actor").on(t.actor, t.id),
    index("audit_action").on(t.action, t.id),
  ],
);

/**
 * Registry-level audit events (no model's ModelState writes them: webhook and default
 * retention changes) waiting to be matched against webhooks. Inserted in the same D1 batch
 * as the change and its audit event (src/events/registry.ts), deleted once dispatched; the
 * scheduled handler dispatches leftovers, so none is lost to a crash in between.
 */
export const pendingEvents = sqliteTable("pending_events", {
  id: text("id").primaryKey(),
  payload: text("payload").notNull(),
});

/**
 * Webhook subscriptions. Written by the webhook routes (src/events/routes.ts) through
 * commitRegistryChange, and by the delivery consumer (src/events/deliver.ts) when it
 * disables one (410, or 3 days of failures) or notes since when it fails. Secrets are
 * AES-GCM ciphertexts under a key derived from the `WEBHOOK_KEY` secret, bound to the
 * webhook id: a D1 dump alone does not reveal them. After a rotation the previous secret
 * keeps signing until `previous_secret_expires_at`. Every write bumps `revision`, and a
 * change made from what was read is conditional on it (D1 has no interactive
 * transactions), so no writer overwrites a change it did not see.
 */
export const webhooks = sqliteTable("webhooks", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  // JSON arrays of globs: event types, model names.
  events: text("events").notNull(),
  models: text("models").notNull(),
  description: text("description"),
  active: integer("active", { mode: "boolean" }).notNull(),
  disabledReason: text("disabled_reason"),
  secret: text("secret").notNull(),
  previousSecret: text("previous_secret"),
  previousSecretExpiresAt: text("previous_secret_expires_at"),
  // Since when every delivery attempt has failed (null after a success): 3 days disable it.
  failingSince: text("failing_since"),
  createdAt: text("created_at").notNull(),
  createdBy: text("created_by").notNull(),
  updatedAt: text("updated_at").notNull(),
  revision: integer("revision").notNull().default(0),
});

/**
 * One row per (webhook, event): what was sent, how often, and how it ended. Inserted by the
 * dispatcher (src/events/dispatch.ts) when an event matches; updated by the queue consumer
 * (src/events/deliver.ts) after each attempt. `payload` is the exact body sent every time.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    // `<event id>.<webhook id>`: the event id is time-sortable, so newest first is id order,
    // and a repeated dispatch of the same event inserts nothing twice.
    id: text("id").primaryKey(),
    webhookId: text("webhook_id").notNull(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    payload: text("payload").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    nextAttemptAt: text("next_attempt_at"),
    deliveredAt: text("delivered_at"),
    // When this round of attempts began (a redelivery starts a new one): retries stop 24 h later.
    firstAttemptAt: text("first_attempt_at").notNull(),
  },
  (t) => [
    index("webhook_deliveries_webhook").on(t.webhookId, t.id),
    index("webhook_deliveries_status").on(t.webhookId, t.status, t.id),
  ],
);

/**
 * The registry's default retention policy: one row (`id` = 1), absent until first set (the
 * empty policy, which keeps everything, applies meanwhile). Written only by the retention
 * routes (src/retention/store.ts), in one batch with its audit event (src/events/registry.ts).
 */
export const retentionDefault = sqliteTable(
  "retention_default",
  {
    id: integer("id").primaryKey(),
    policy: text("policy").notNull(),
    updatedAt: text("updated_at").notNull(),
    updatedBy: text("updated_by").notNull(),
  },
  (t) => [check("retention_default_one_row", sql`${t.id} = 1`)],
);

/**
 * Models with a retention policy of their own: a projection of each ModelState's
 * `retention` table (which is the truth, read by every decision), so the scheduled cleanup
 * finds them, and knows which models the default does not cover, without waking every
 * model's object. Written only by the outbox flush (src/state/projection.ts).
 */
export const modelRetention = sqliteTable("model_retention", {
  model: text("model").primaryKey(),
  policy: text("policy").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/**
 * Tokens minted by `POST /v1/tokens` (src/tokens/routes.ts), one row per token: its claims
 * (never the token itself), who minted it and when, and once revoked, who revoked it and
 * when. Written only by the token routes, each change in one batch with its audit event
 * (src/events/registry.ts); rows expired for an hour are deleted by the scheduled cleanup.
 * Read by every isolate's revocation view (src/auth/revocation.ts: the revoked ids, through
 * `tokens_revoked`) and by each ModelState with open watch sockets of minted tokens.
 */
export const tokens = sqliteTable(
  "tokens",
  {
    // `tok_<ULID>`: the token's `jti`; time-sortable, so newest first is id order.
    id: text("id").primaryKey(),
    sub: text("sub").notNull(),
    // Space-separated scope names, in the canonical order.
    scope: text("scope").notNull(),
    // JSON arrays of globs; null: every model / every alias.
    models: text("models"),
    aliases: text("aliases"),
    description: text("description"),
    createdAt: text("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    expiresAt: text("expires_at").notNull(),
    revokedAt: text("revoked_at"),
    revokedBy: text("revoked_by"),
    // The minted token this one was minted with (null: minted with a token without a registry
    // `jti`); revoking a token revokes its descendants through this, in one statement.
    parentId: text("parent_id"),
  },
  (t) => [
    index("tokens_expires").on(t.expiresAt),
    index("tokens_parent").on(t.parentId),
    // Only revoked rows: the revocation views read exactly these, every few seconds.
    index("tokens_revoked")
      .on(t.expiresAt, t.id)
      .where(sql`revoked_at IS NOT NULL`),
  ],
);

/**
 * OCI manifests pushed to a model and kept (src/domain/oci-push.ts `StoredManifest`; their
 * bytes in R2 under `oci/manifests/sha256/<hex>`): a version's own (`version` set: a pull of
 * that version answers these bytes) or an attachment (`subject`: the digest it refers to, for
 * the referrers index). A projection of each ModelState's `oci_manifests`, written only by the
 * outbox flush; removed with the version (its own) or the model.
 */
export const ociManifests = sqliteTable(
  "oci_manifests",
  {
    model: text("model").notNull(),
    digest: text("digest").notNull(),
    version: integer("version"),
    subject: text("subject"),
    mediaType: text("media_type").notNull(),
    artifactType: text("artifact_type").notNull(),
    size: integer("size").notNull(),
    // JSON object of the manifest's annotations (what the referrers index shows).
    annotations: text("annotations").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.model, t.digest] }),
    index("oci_manifests_subject").on(t.model, t.subject),
    index("oci_manifests_version").on(t.model, t.version),
  ],
);

/**
 * The blobs a kept OCI manifest needs besides version files (its config; an attachment's
 * layers), one row each: served by the model's blob route, and referenced for the blob
 * collector as `version_files` are. Written only by the outbox flush, with their manifest.
 */
export const ociBlobs = sqliteTable(
  "oci_blobs",
  {
    model: text("model").notNull(),
    digest: text("digest").notNull(),
    sha256: text("sha256").notNull(),
    size: integer("size").notNull(),
  },
  (t) => [primaryKey({ columns: [t.model, t.digest, t.sha256] }), index("oci_blobs_sha256").on(t.sha256, t.model)],
);

export type ModelRow = typeof models.$inferSelect;
export type VersionRow = typeof versions.$inferSelect;
export type AuditRow = typeof auditEvents.$inferInsert;
export type TokenRow = typeof tokens.$inferSelect;

/**
 * The keys, certificate authorities and Sigstore identities the registry trusts to vouch for
 * signatures (docs/signing.md), registry-level like webhooks. Written only by the
 * signing-key routes (src/signing/keys-routes.ts), each change in one batch with its audit
 * event (src/events/registry.ts). `material` is base64 of the DER the registry verifies with:
 * the SPKI of a `key`, the certificate of a `ca`; null for an `identity`.
 *
 * Deleting a key is two steps: `deleted_at` is set (it no longer vouches for any upload from
 * that instant: every upload checks it in the batch that records its use), then every model
 * that holds a signature it vouched for is told (`signing_key_uses`), and the row goes. A row
 * with `deleted_at` is a deletion not finished (a crash): the DELETE repeated, or the
 * scheduled cleanup, finishes it (src/signing/revocation.ts).
 */
export const signingKeys = sqliteTable(
  "signing_keys",
  {
    // `sk_<ULID>`: time-sortable, so the list's keyset is the id.
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["key", "ca", "identity"] }).notNull(),
    // `sha256:<hex>` of the SPKI DER (a key's, a CA certificate's); null for an identity.
    fingerprint: text("fingerprint"),
    material: text("material"),
    identityIssuer: text("identity_issuer"),
    identitySubject: text("identity_subject"),
    createdAt: text("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    deletedAt: text("deleted_at"),
  },
  (t) => [
    // Among the live keys: one key of a name (a gate names keys by name), and each key, CA or
    // identity registered once (the same key under two names would count twice in no gate,
    // but would make a deletion leave it trusted under the other).
    uniqueIndex("signing_keys_live_name")
      .on(t.name)
      .where(sql`deleted_at IS NULL`),
    uniqueIndex("signing_keys_live_fingerprint")
      .on(t.kind, t.fingerprint)
      .where(sql`deleted_at IS NULL AND fingerprint IS NOT NULL`),
    uniqueIndex("signing_keys_live_identity")
      .on(t.identityIssuer, t.identitySubject)
      .where(sql`deleted_at IS NULL AND kind = 'identity'`),
    index("signing_keys_deleting")
      .on(t.deletedAt)
      .where(sql`deleted_at IS NOT NULL`),
  ],
);

/**
 * Which models hold a signature that a signing key vouched for: what a key's deletion tells.
 * Inserted by the signature upload (src/signing/routes.ts) before the model's ModelState
 * records the signature, in the batch that checks the key is still live, so a deletion either
 * sees the row or the upload sees the deletion. Deleted with the key once every model was told.
 */
export const signingKeyUses = sqliteTable(
  "signing_key_uses",
  {
    keyId: text("key_id").notNull(),
    model: text("model").notNull(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.model] })],
);

/**
 * Each version's signatures: a projection of its model's ModelState `signatures` table (which
 * the gate reads), written only by the outbox flush (src/state/projection.ts), for the lists.
 * `trusted_by` is a JSON array of signing-key ids, rewritten when a key is deleted; the bundle's
 * bytes are in R2 at `signatures/sha256/<bundle_sha256>`.
 */
export const signatures = sqliteTable(
  "signatures",
  {
    // `sig_<ULID>`.
    id: text("id").primaryKey(),
    model: text("model").notNull(),
    version: integer("version").notNull(),
    signer: text("signer").notNull(),
    trustedBy: text("trusted_by").notNull(),
    bundleSha256: text("bundle_sha256").notNull(),
    verifiedAt: text("verified_at").notNull(),
    createdAt: text("created_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [index("signatures_version").on(t.model, t.version, t.id), index("signatures_bundle").on(t.bundleSha256)],
);

export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type SignatureRow = typeof signatures.$inferSelect;
