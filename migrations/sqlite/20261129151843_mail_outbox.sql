-- Create "mail_outbox" table
CREATE TABLE `mail_outbox` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `to_addr` text NOT NULL, `subject` text NOT NULL, `body` text NOT NULL, `secret` text NULL, `created_at` datetime NOT NULL, `next_attempt_at` datetime NOT NULL, `attempts` integer NOT NULL DEFAULT (0), `claimed_until` datetime NULL, `sent_at` datetime NULL, `failed_at` datetime NULL, `last_error` text NOT NULL DEFAULT (''));
-- Create index "mail_outbox_pending_next_attempt_at" to table: "mail_outbox"
CREATE INDEX `mail_outbox_pending_next_attempt_at` ON `mail_outbox` (`next_attempt_at`) WHERE sent_at IS NULL AND failed_at IS NULL;
-- Create index "mailoutbox_created_at" to table: "mail_outbox"
CREATE INDEX `mailoutbox_created_at` ON `mail_outbox` (`created_at`);
