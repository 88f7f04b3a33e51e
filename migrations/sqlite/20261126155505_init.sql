-- Create "tasks" table
CREATE TABLE `tasks` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `updated_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `title` text NOT NULL, `description` text NULL, `completed` bool NOT NULL DEFAULT (false), `completed_at` datetime NULL, `user_id` text NOT NULL, CONSTRAINT `tasks_users_tasks` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "task_user_id" to table: "tasks"
CREATE INDEX `task_user_id` ON `tasks` (`user_id`);
-- Create index "task_user_id_completed" to table: "tasks"
CREATE INDEX `task_user_id_completed` ON `tasks` (`user_id`, `completed`);
-- Create index "task_created_at" to table: "tasks"
CREATE INDEX `task_created_at` ON `tasks` (`created_at`);
-- Create "users" table
CREATE TABLE `users` (`id` text NOT NULL, `created_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `updated_at` datetime NOT NULL DEFAULT (CURRENT_TIMESTAMP), `email` text NOT NULL, `name` text NOT NULL, `hashed_password` text NOT NULL, `is_active` bool NOT NULL DEFAULT (true), `email_verified` bool NOT NULL DEFAULT (false), PRIMARY KEY (`id`));
-- Create index "users_email_key" to table: "users"
CREATE UNIQUE INDEX `users_email_key` ON `users` (`email`);
