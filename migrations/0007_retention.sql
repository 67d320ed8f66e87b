CREATE TABLE `model_retention` (
	`model` text PRIMARY KEY NOT NULL,
	`policy` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `retention_default` (
	`id` integer PRIMARY KEY NOT NULL,
	`policy` text NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL,
	CONSTRAINT "retention_default_one_row" CHECK("retention_default"."id" = 1)
);
