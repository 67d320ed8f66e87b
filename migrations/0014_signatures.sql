CREATE TABLE `signatures` (
	`id` text PRIMARY KEY NOT NULL,
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`signer` text NOT NULL,
	`trusted_by` text NOT NULL,
	`bundle_sha256` text NOT NULL,
	`verified_at` text NOT NULL,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `signatures_version` ON `signatures` (`model`,`version`,`id`);--> statement-breakpoint
CREATE INDEX `signatures_bundle` ON `signatures` (`bundle_sha256`);--> statement-breakpoint
CREATE TABLE `signing_key_uses` (
	`key_id` text NOT NULL,
	`model` text NOT NULL,
	PRIMARY KEY(`key_id`, `model`)
);
--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`fingerprint` text,
	`material` text,
	`identity_issuer` text,
	`identity_subject` text,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL,
	`deleted_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `signing_keys_live_name` ON `signing_keys` (`name`) WHERE deleted_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `signing_keys_live_fingerprint` ON `signing_keys` (`kind`,`fingerprint`) WHERE deleted_at IS NULL AND fingerprint IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `signing_keys_live_identity` ON `signing_keys` (`identity_issuer`,`identity_subject`) WHERE deleted_at IS NULL AND kind = 'identity';--> statement-breakpoint
CREATE INDEX `signing_keys_deleting` ON `signing_keys` (`deleted_at`) WHERE deleted_at IS NOT NULL;