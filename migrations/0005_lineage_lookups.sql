CREATE TABLE `version_datasets` (
	`model` text NOT NULL,
	`version` integer NOT NULL,
	`uri` text NOT NULL,
	`snapshot` text DEFAULT '' NOT NULL,
	`digest` text,
	`created_at` text NOT NULL,
	PRIMARY KEY(`model`, `version`, `uri`, `snapshot`)
);
--> statement-breakpoint
CREATE INDEX `version_datasets_uri` ON `version_datasets` (`uri`,`created_at`,`model`,`version`);--> statement-breakpoint
CREATE INDEX `version_datasets_snapshot` ON `version_datasets` (`uri`,`snapshot`,`created_at`,`model`,`version`);--> statement-breakpoint
DROP INDEX `versions_run_id`;--> statement-breakpoint
DROP INDEX `versions_git_sha`;--> statement-breakpoint
CREATE INDEX `versions_run_id_created` ON `versions` (`run_id`,`created_at`,`model`,`version`);--> statement-breakpoint
CREATE INDEX `versions_git_sha_created` ON `versions` (`git_sha`,`created_at`,`model`,`version`);--> statement-breakpoint
-- Backfill: the datasets of versions projected before this table existed.
INSERT OR IGNORE INTO `version_datasets` (`model`, `version`, `uri`, `snapshot`, `digest`, `created_at`)
SELECT v.`model`, v.`version`, d.value ->> '$.uri', coalesce(d.value ->> '$.snapshot', ''), d.value ->> '$.digest', v.`created_at`
FROM `versions` v, json_each(v.`lineage`, '$.datasets') d
WHERE d.value ->> '$.uri' IS NOT NULL;
--> statement-breakpoint
-- Commit ids are looked up case-insensitively: the lifted column holds them in lower case.
UPDATE `versions` SET `git_sha` = lower(`git_sha`) WHERE `git_sha` IS NOT NULL;
