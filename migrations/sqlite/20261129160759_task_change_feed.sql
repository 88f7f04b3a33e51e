-- Create index "task_user_id_change_seq" to table: "tasks"
-- lint:ignore MF101 change_seq was added nullable by the previous file and NULLs never collide in a unique index
CREATE UNIQUE INDEX `task_user_id_change_seq` ON `tasks` (`user_id`, `change_seq`);
-- Create "task_counters" table
CREATE TABLE `task_counters` (`user_id` text NOT NULL, `seq` integer NOT NULL DEFAULT (0), `total` integer NOT NULL DEFAULT (0), `completed` integer NOT NULL DEFAULT (0), `purged_seq` integer NOT NULL DEFAULT (0), PRIMARY KEY (`user_id`), CONSTRAINT `task_counters_users_task_counter` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create "task_tombstones" table
CREATE TABLE `task_tombstones` (`id` integer NOT NULL, `change_seq` integer NOT NULL, `deleted_at` datetime NOT NULL, `user_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `task_tombstones_users_task_tombstones` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "tasktombstone_user_id_change_seq" to table: "task_tombstones"
CREATE UNIQUE INDEX `tasktombstone_user_id_change_seq` ON `task_tombstones` (`user_id`, `change_seq`);
-- Create index "tasktombstone_deleted_at" to table: "task_tombstones"
CREATE INDEX `tasktombstone_deleted_at` ON `task_tombstones` (`deleted_at`);
