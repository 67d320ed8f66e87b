CREATE TABLE `aliases` (
	`model` text NOT NULL,
	`alias` text NOT NULL,
	`version` integer,
	`split` text,
	`generation` integer NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL,
	PRIMARY KEY(`model`, `alias`)
);
