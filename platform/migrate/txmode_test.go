package migrate_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"todo/platform/migrate"
)

// TestApplyTxModeNone: a file marked `-- atlas:txmode none` runs outside a
// transaction, so CREATE INDEX CONCURRENTLY works; a failure in such a file
// leaves it partially applied, as the Atlas CLI does.
func TestApplyTxModeNone(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	dir := dirOf(t, map[string]string{
		"20260101000000_t.sql":   "CREATE TABLE t (id bigint PRIMARY KEY, x text);\n",
		"20260101000001_idx.sql": "-- atlas:txmode none\n\n-- Create index \"t_x\" to table: \"t\"\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n",
	})
	rep := tg.apply(t, dir)
	if len(rep.Files) != 2 || rep.Files[1].Statements != 1 {
		t.Fatalf("Apply: %+v", rep.Files)
	}
	if got := queryStrings(t, tg.db.SQL, `SELECT indexname FROM pg_indexes WHERE tablename = 't' AND indexname = 't_x'`); len(got) != 1 {
		t.Fatalf("index t_x: %v", got)
	}

	bad := dirOf(t, map[string]string{
		"20260101000000_t.sql":   "CREATE TABLE t (id bigint PRIMARY KEY, x text);\n",
		"20260101000001_idx.sql": "-- atlas:txmode none\n\n-- Create index \"t_x\" to table: \"t\"\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n",
		"20260101000002_bad.sql": "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY t_id_x ON t (id, x);\nCREATE INDEX CONCURRENTLY nope ON missing (x);\n",
	})
	_, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, bad, tg.opts)
	if err == nil || !strings.Contains(err.Error(), "20260101000002_bad.sql") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Apply of a failing txmode none file: got %v", err)
	}
	if got := queryStrings(t, tg.db.SQL, `SELECT indexname FROM pg_indexes WHERE indexname = 't_id_x'`); len(got) != 1 {
		t.Errorf("the statement before the failed one was rolled back: %v", got)
	}
	st, err := migrate.Status(context.Background(), tg.db.SQL, tg.db.Dialect, bad, tg.opts)
	if err != nil {
		t.Fatal(err)
	}
	last := st.Applied[len(st.Applied)-1]
	if last.Version != "20260101000002" || last.Applied != 1 || last.Total != 2 || last.Error == "" {
		t.Errorf("revision of the failed file: %+v, want 1 of 2 applied with the error", last)
	}
	if !slices.Equal(st.Pending, []string{"20260101000002_bad.sql"}) {
		t.Errorf("Pending: %v", st.Pending)
	}
}

// TestApplyTxModeNoneSQLite: the directive works on SQLite too.
func TestApplyTxModeNoneSQLite(t *testing.T) {
	t.Parallel()
	tg := emptyTarget(t, dialect.SQLite)
	dir := dirOf(t, map[string]string{
		"20260101000000_t.sql": "-- atlas:txmode none\n\nCREATE TABLE t (id integer PRIMARY KEY, x text);\nCREATE INDEX t_x ON t (x);\n",
	})
	if rep := tg.apply(t, dir); len(rep.Files) != 1 || rep.Files[0].Statements != 2 {
		t.Fatalf("Apply: %+v", rep.Files)
	}
}
