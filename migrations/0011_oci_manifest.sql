-- No backfill here: SQLite has no sha256, and the digest hashes the manifest's JSON. Versions
-- made ready before this column are filled by the OCI bridge the first time a `@sha256:`
-- lookup in their model misses (src/bridges/oci/store.ts).
ALTER TABLE `versions` ADD `oci_digest` text;--> statement-breakpoint
CREATE INDEX `versions_oci_digest` ON `versions` (`model`,`oci_digest`);
