-- Create index "task_user_id_change_seq" to table: "tasks"
-- lint:ignore MF101 change_seq was added nullable by the previous file and NULLs never collide in a unique index
-- lint:ignore PG101 built once with the change feed; writes to tasks wait while it builds; README (Migrations) says to apply it in a quiet hour
CREATE UNIQUE INDEX "task_user_id_change_seq" ON "tasks" ("user_id", "change_seq");
-- Create "task_counters" table
CREATE TABLE "task_counters" ("user_id" character varying(36) NOT NULL, "seq" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0, "completed" bigint NOT NULL DEFAULT 0, "purged_seq" bigint NOT NULL DEFAULT 0, PRIMARY KEY ("user_id"), CONSTRAINT "task_counters_users_task_counter" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create "task_tombstones" table
CREATE TABLE "task_tombstones" ("id" bigint NOT NULL, "change_seq" bigint NOT NULL, "deleted_at" timestamptz NOT NULL, "user_id" character varying(36) NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "task_tombstones_users_task_tombstones" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "tasktombstone_deleted_at" to table: "task_tombstones"
CREATE INDEX "tasktombstone_deleted_at" ON "task_tombstones" ("deleted_at");
-- Create index "tasktombstone_user_id_change_seq" to table: "task_tombstones"
CREATE UNIQUE INDEX "tasktombstone_user_id_change_seq" ON "task_tombstones" ("user_id", "change_seq");
