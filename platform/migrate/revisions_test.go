package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"todo/platform/migrate"
)

// cliDDL is the Atlas CLI's revisions table, verbatim from MIGRATIONS.md.
const cliDDL = `CREATE TABLE "atlas_schema_revisions"."atlas_schema_revisions" ("version" character varying NOT NULL, "description" character varying NOT NULL,
 "type" bigint NOT NULL DEFAULT 2, "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0,
 "executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL, "error_stmt" text NULL,
 "hash" character varying NOT NULL, "partial_hashes" jsonb NULL, "operator_version" character varying NOT NULL,
 PRIMARY KEY ("version"))`

func hashFile(t *testing.T, dir fs.FS) atlas.HashFile {
	t.Helper()
	b, err := fs.ReadFile(dir, atlas.HashFileName)
	if err != nil {
		t.Fatal(err)
	}
	var sum atlas.HashFile
	if err := sum.UnmarshalText(b); err != nil {
		t.Fatal(err)
	}
	return sum
}

// pgColumns describes a table from the catalog: position, name, type,
// nullability, default; then its primary key.
func pgColumns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	cols := queryStrings(t, db, `
SELECT format('%s %s %s not_null=%s default=%s', a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '-'))
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, table)
	pk := queryStrings(t, db, `SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = $1::regclass ORDER BY conname`, table)
	return append(cols, pk...)
}

func TestRevisionsTableDDL(t *testing.T) {
	t.Parallel()
	t.Run("ddl/postgres", func(t *testing.T) {
		t.Parallel()
		tg := emptyPostgres(t)
		tg.apply(t, embedded(t, dialect.Postgres))
		cli := strings.Replace(cliDDL, `"atlas_schema_revisions"."atlas_schema_revisions"`, `cli.atlas_schema_revisions`, 1)
		if _, err := tg.db.SQL.Exec("CREATE SCHEMA cli; " + cli); err != nil {
			t.Fatal(err)
		}
		got := pgColumns(t, tg.db.SQL, "atlas_schema_revisions.atlas_schema_revisions")
		want := pgColumns(t, tg.db.SQL, "cli.atlas_schema_revisions")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("revisions table differs from the CLI's:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(want) != 13 {
			t.Fatalf("catalog query found %d lines, want 12 columns and a primary key", len(want))
		}
	})
	t.Run("ddl/sqlite", func(t *testing.T) {
		t.Parallel()
		tg := emptySQLite(t)
		tg.apply(t, embedded(t, dialect.SQLite))
		got := queryStrings(t, tg.db.SQL, `SELECT format('%d %s %s not_null=%d default=%s pk=%d', cid, name, lower(type), "notnull", coalesce(dflt_value, '-'), pk)
FROM pragma_table_info('atlas_schema_revisions') ORDER BY cid`)
		want := []string{
			"0 version text not_null=1 default=- pk=1",
			"1 description text not_null=1 default=- pk=0",
			"2 type integer not_null=1 default=2 pk=0",
			"3 applied integer not_null=1 default=0 pk=0",
			"4 total integer not_null=1 default=0 pk=0",
			"5 executed_at datetime not_null=1 default=- pk=0",
			"6 execution_time integer not_null=1 default=- pk=0",
			"7 error text not_null=0 default=- pk=0",
			"8 error_stmt text not_null=0 default=- pk=0",
			"9 hash text not_null=1 default=- pk=0",
			"10 partial_hashes json not_null=0 default=- pk=0",
			"11 operator_version text not_null=1 default=- pk=0",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestRevisionRows(t *testing.T) {
	t.Parallel()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run("rows/"+dia, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, dia)
			dir := embedded(t, dia)
			start := time.Now()
			tg.apply(t, dir)
			sum := hashFile(t, dir)
			files, _ := fs.Glob(dir, "*.sql")
			for _, name := range files {
				checkRow(t, tg, dir, sum, name, start)
			}
		})
	}
}

func checkRow(t *testing.T, tg target, dir fs.FS, sum atlas.HashFile, name string, start time.Time) {
	t.Helper()
	b, _ := fs.ReadFile(dir, name)
	stmts, err := atlas.NewLocalFile(name, b).Stmts()
	if err != nil {
		t.Fatal(err)
	}
	version, desc, _ := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
	hash, err := sum.SumByName(name)
	if err != nil {
		t.Fatal(err)
	}
	partialNull := `partial_hashes = 'null'::jsonb`
	q := `SELECT description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, %s, operator_version
FROM %s WHERE version = $1`
	if tg.db.Dialect == dialect.SQLite {
		partialNull, q = `partial_hashes = 'null'`, strings.Replace(q, "$1", "?", 1)
	}
	var (
		gotDesc, errText, errStmt, gotHash, operator string
		typ, applied, total, execNanos               int64
		executedAt                                   time.Time
		isNull                                       bool
	)
	err = tg.db.SQL.QueryRow(fmt.Sprintf(q, partialNull, tg.revisionsTable()), version).Scan(
		&gotDesc, &typ, &applied, &total, &executedAt, &execNanos, &errText, &errStmt, &gotHash, &isNull, &operator)
	if err != nil {
		t.Fatalf("%s: read revision: %v", name, err)
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"description", gotDesc, desc},
		{"type", typ, int64(atlas.RevisionTypeExecute)},
		{"applied", applied, int64(len(stmts))},
		{"total", total, int64(len(stmts))},
		{"error", errText, ""},
		{"error_stmt", errStmt, ""},
		{"hash", gotHash, hash},
		{"partial_hashes is JSON null", isNull, true},
		{"operator_version starts with todo migrate", strings.HasPrefix(operator, "todo migrate"), true},
		{"execution_time > 0", execNanos > 0, true},
		{"executed_at within the run", !executedAt.Before(start.Add(-time.Second)) && executedAt.Before(time.Now().Add(time.Second)), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s: got %v, want %v", name, c.field, c.got, c.want)
		}
	}
}

func TestRevisionTableReadWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run("readwrite/"+dia, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, dia)
			rt, err := migrate.NewRevisionTable(tg.db.SQL, dia, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.Init(ctx); err != nil {
				t.Fatal(err)
			}
			if err := rt.Init(ctx); err != nil {
				t.Fatalf("second Init: %v", err)
			}
			if _, err := rt.ReadRevision(ctx, "1"); !errors.Is(err, atlas.ErrRevisionNotExist) {
				t.Fatalf("ReadRevision of a missing version: got %v, want ErrRevisionNotExist", err)
			}
			started := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
			rev := &atlas.Revision{Version: "1", Description: "one", Type: atlas.RevisionTypeExecute, Total: 3, Applied: 1,
				ExecutedAt: started, ExecutionTime: time.Millisecond, Hash: "abc", PartialHashes: []string{"h1:x"}, OperatorVersion: "test"}
			if err := rt.WriteRevision(ctx, rev); err != nil {
				t.Fatal(err)
			}
			upd := *rev
			upd.Description, upd.ExecutedAt = "changed", time.Now()
			upd.Applied, upd.PartialHashes, upd.Error, upd.ErrorStmt = 3, nil, "boom", "SELECT 1"
			if err := rt.WriteRevision(ctx, &upd); err != nil {
				t.Fatal(err)
			}
			got, err := rt.ReadRevision(ctx, "1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Description != "one" || !got.ExecutedAt.Equal(started) {
				t.Errorf("update changed description/executed_at: got %q %v, want %q %v", got.Description, got.ExecutedAt, "one", started)
			}
			if got.Applied != 3 || got.PartialHashes != nil || got.Error != "boom" || got.ErrorStmt != "SELECT 1" || got.ExecutionTime != time.Millisecond {
				t.Errorf("update not applied: got %+v", got)
			}
			if err := rt.DeleteRevision(ctx, "1"); err != nil {
				t.Fatal(err)
			}
			if revs, err := rt.ReadRevisions(ctx); err != nil || len(revs) != 0 {
				t.Fatalf("after delete: got %v, %v; want none", revs, err)
			}
		})
	}
}
