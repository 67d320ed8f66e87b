CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`sub` text NOT NULL,
	`scope` text NOT NULL,
	`models` text,
	`aliases` text,
	`description` text,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL,
	`expires_at` text NOT NULL,
	`revoked_at` text,
	`revoked_by` text
);
--> statement-breakpoint
CREATE INDEX `tokens_expires` ON `tokens` (`expires_at`);--> statement-breakpoint
CREATE INDEX `tokens_revoked` ON `tokens` (`expires_at`,`id`) WHERE revoked_at IS NOT NULL;