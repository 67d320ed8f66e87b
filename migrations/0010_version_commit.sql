ALTER TABLE `versions` ADD `commit` text;--> statement-breakpoint
CREATE INDEX `versions_commit` ON `versions` (`model`,`commit`,`version`);--> statement-breakpoint
-- Backfill: the commit ids of versions made ready before the column existed (`sha256:` is 7 characters).
UPDATE `versions` SET `commit` = substr(`digest`, 8, 40) WHERE `digest` IS NOT NULL;
