package database_test

import (
	"context"
	"path/filepath"
	"testing"

	"todo/platform/database"
)

// TestSQLiteBusyIsUnavailable: a write that waited out SQLite's busy
// timeout for another writer is the database not answering in time, a 503,
// not a bug's 500.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db") + "?_pragma=busy_timeout(1)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := database.OpenSQLite(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx1, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx1.Rollback() }()
	if _, err := tx1.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	tx2, err := db.SQL.BeginTx(ctx, nil)
	if err == nil {
		_ = tx2.Rollback()
		t.Fatal("a second write transaction began while the first held the lock")
	}
	if !database.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v [%T]) = false, want true", err, err)
	}
}
