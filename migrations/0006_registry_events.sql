CREATE TABLE `pending_events` (
	`id` text PRIMARY KEY NOT NULL,
	`payload` text NOT NULL
);
