CREATE TABLE `blob_leases` (
	`sha256` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `blobs` (
	`sha256` text PRIMARY KEY NOT NULL,
	`size` integer NOT NULL,
	`created_at` text NOT NULL,
	`unreferenced_since` text
);
--> statement-breakpoint
CREATE TABLE `open_uploads` (
	`upload_id` text PRIMARY KEY NOT NULL,
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`expires_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `open_uploads_expires` ON `open_uploads` (`expires_at`);--> statement-breakpoint
CREATE TABLE `version_files` (
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`path` text NOT NULL,
	`sha256` text NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`model`, `version`, `path`)
);
--> statement-breakpoint
CREATE INDEX `version_files_sha256` ON `version_files` (`sha256`);--> statement-breakpoint
ALTER TABLE `versions` ADD `files` text DEFAULT '[]' NOT NULL;