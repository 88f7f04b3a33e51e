-- Create index "task_user_id_created_at_id" to table: "tasks"
CREATE INDEX `task_user_id_created_at_id` ON `tasks` (`user_id`, `created_at` DESC, `id` DESC);
-- Create index "task_user_id_created_at_id_pending" to table: "tasks"
CREATE INDEX `task_user_id_created_at_id_pending` ON `tasks` (`user_id`, `created_at` DESC, `id` DESC) WHERE NOT completed;
-- Create index "task_user_id_completed_at_id_completed" to table: "tasks"
CREATE INDEX `task_user_id_completed_at_id_completed` ON `tasks` (`user_id`, `completed_at` DESC, `id` DESC) WHERE completed;
-- Create "idempotency_keys" table
CREATE TABLE `idempotency_keys` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `key` text NOT NULL, `request_hash` text NOT NULL, `status_code` integer NOT NULL DEFAULT (0), `response_body` text NOT NULL DEFAULT (''), `location` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `task_id` integer NULL, `user_id` text NOT NULL, CONSTRAINT `idempotency_keys_tasks_idempotency_keys` FOREIGN KEY (`task_id`) REFERENCES `tasks` (`id`) ON DELETE SET NULL, CONSTRAINT `idempotency_keys_users_idempotency_keys` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "idempotencykey_user_id_key" to table: "idempotency_keys"
CREATE UNIQUE INDEX `idempotencykey_user_id_key` ON `idempotency_keys` (`user_id`, `key`);
-- Create index "idempotencykey_expires_at" to table: "idempotency_keys"
CREATE INDEX `idempotencykey_expires_at` ON `idempotency_keys` (`expires_at`);
-- Create "refresh_tokens" table
CREATE TABLE `refresh_tokens` (`hash` text NOT NULL, `created_at` datetime NOT NULL, `spent_at` datetime NULL, `session_id` text NOT NULL, PRIMARY KEY (`hash`), CONSTRAINT `refresh_tokens_sessions_refresh_tokens` FOREIGN KEY (`session_id`) REFERENCES `sessions` (`id`) ON DELETE CASCADE);
-- Create index "refreshtoken_session_id" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_session_id` ON `refresh_tokens` (`session_id`);
-- Create "sessions" table
CREATE TABLE `sessions` (`id` text NOT NULL, `created_at` datetime NOT NULL, `last_used_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `revoked_at` datetime NULL, `user_agent` text NOT NULL DEFAULT (''), `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sessions_users_sessions` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "session_user_id_created_at" to table: "sessions"
CREATE INDEX `session_user_id_created_at` ON `sessions` (`user_id`, `created_at`);
