ALTER TABLE `audit_events` ADD `token` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `parent_id` text;--> statement-breakpoint
CREATE INDEX `tokens_parent` ON `tokens` (`parent_id`);