-- Add column "change_seq" to table: "tasks"
ALTER TABLE `tasks` ADD COLUMN `change_seq` integer NULL;
