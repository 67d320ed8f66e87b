CREATE TABLE `scrub_runs` (
	`at` text PRIMARY KEY NOT NULL,
	`target` integer NOT NULL,
	`bytes` integer NOT NULL,
	`verified` integer NOT NULL,
	`corrupt` integer NOT NULL,
	`calls` integer NOT NULL,
	`oldest_check` text
);
--> statement-breakpoint
ALTER TABLE `blobs` ADD `verified_at` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `blobs` ADD `corrupt_at` text;--> statement-breakpoint
ALTER TABLE `blobs` ADD `scrub_offset` integer;--> statement-breakpoint
ALTER TABLE `blobs` ADD `scrub_etag` text;--> statement-breakpoint
ALTER TABLE `blobs` ADD `scrub_state` text;--> statement-breakpoint
CREATE INDEX `blobs_verified_at` ON `blobs` (`verified_at`,`sha256`);--> statement-breakpoint
-- Blobs stored before this migration were hashed by the registry when they were uploaded.
UPDATE `blobs` SET `verified_at` = `created_at`;
