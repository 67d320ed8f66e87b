CREATE TABLE `oci_blobs` (
	`model` text NOT NULL,
	`digest` text NOT NULL,
	`sha256` text NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`model`, `digest`, `sha256`)
);
--> statement-breakpoint
CREATE INDEX `oci_blobs_sha256` ON `oci_blobs` (`sha256`,`model`);--> statement-breakpoint
CREATE TABLE `oci_manifests` (
	`model` text NOT NULL,
	`digest` text NOT NULL,
	`version` integer,
	`subject` text,
	`media_type` text NOT NULL,
	`artifact_type` text NOT NULL,
	`size` integer NOT NULL,
	`annotations` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`model`, `digest`)
);
--> statement-breakpoint
CREATE INDEX `oci_manifests_subject` ON `oci_manifests` (`model`,`subject`);--> statement-breakpoint
CREATE INDEX `oci_manifests_version` ON `oci_manifests` (`model`,`version`);