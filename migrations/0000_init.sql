CREATE TABLE `audit_events` (
	`id` text PRIMARY KEY NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`model` text NOT NULL,
	`version` integer,
	`alias` text,
	`from_value` text,
	`to_value` text,
	`reason` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `audit_model` ON `audit_events` (`model`,`id`);--> statement-breakpoint
CREATE INDEX `audit_actor` ON `audit_events` (`actor`,`id`);--> statement-breakpoint
CREATE INDEX `audit_action` ON `audit_events` (`action`,`id`);--> statement-breakpoint
CREATE TABLE `models` (
	`name` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`description` text,
	`tags` text DEFAULT '{}' NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `version_parents` (
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`parent_model` text NOT NULL,
	`parent_version` integer NOT NULL,
	PRIMARY KEY(`model`, `version`, `parent_model`, `parent_version`)
);
--> statement-breakpoint
CREATE INDEX `version_parents_parent` ON `version_parents` (`parent_model`,`parent_version`);--> statement-breakpoint
CREATE TABLE `versions` (
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`status` text NOT NULL,
	`stage` text NOT NULL,
	`description` text,
	`tags` text DEFAULT '{}' NOT NULL,
	`metrics` text DEFAULT '{}' NOT NULL,
	`lineage` text DEFAULT '{}' NOT NULL,
	`digest` text,
	`run_id` text,
	`git_sha` text,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL,
	`updated_at` text NOT NULL,
	`ready_at` text,
	`revision` integer NOT NULL,
	PRIMARY KEY(`model`, `version`)
);
--> statement-breakpoint
CREATE INDEX `versions_run_id` ON `versions` (`run_id`);--> statement-breakpoint
CREATE INDEX `versions_git_sha` ON `versions` (`git_sha`);