-- Create index "session_expires_at" to table: "sessions"
CREATE INDEX "session_expires_at" ON "sessions" ("expires_at");
-- Create index "session_revoked_at" to table: "sessions"
CREATE INDEX "session_revoked_at" ON "sessions" ("revoked_at");
