-- Create "external_deletions" table
CREATE TABLE "external_deletions" ("id" character varying(36) NOT NULL, "deleted_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
