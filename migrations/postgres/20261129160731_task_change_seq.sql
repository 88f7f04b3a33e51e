-- Modify "tasks" table
ALTER TABLE "tasks" ADD COLUMN "change_seq" bigint NULL;
