ALTER TABLE `blobs` ADD `r2_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `blobs_r2_key` ON `blobs` (`r2_key`);