package migrate_test

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"
	"testing/fstest"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

// target is an empty database of one dialect.
type target struct {
	db   *database.DB
	url  string // "" on SQLite
	opts migrate.ApplyOptions
}

// emptyPostgres opens a fresh, unmigrated PostgreSQL database.
func emptyPostgres(t *testing.T) target {
	t.Helper()
	u := dbtest.NewEmpty(t)
	return target{db: dbtest.Open(t, dbtest.Config(u)), url: u, opts: migrate.ApplyOptions{RevisionsSchema: migrate.RevisionsSchema(u)}}
}

// emptySQLite opens a fresh, unmigrated SQLite file.
func emptySQLite(t *testing.T) target {
	t.Helper()
	return target{db: dbtest.Open(t, config.Database{DataDir: t.TempDir()})}
}

func emptyTarget(t *testing.T, dia string) target {
	t.Helper()
	if dia == dialect.SQLite {
		return emptySQLite(t)
	}
	return emptyPostgres(t)
}

func embedded(t *testing.T, dia string) fs.FS {
	t.Helper()
	dir, err := migrate.Embedded(dia)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func (tg target) apply(t *testing.T, dir fs.FS) migrate.Report {
	t.Helper()
	rep, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return rep
}

func (tg target) pending(t *testing.T, dir fs.FS) []string {
	t.Helper()
	names, err := migrate.Pending(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return names
}

// tableExists reports whether a table is visible under its (qualified) name.
func (tg target) tableExists(t *testing.T, name string) bool {
	t.Helper()
	q := `SELECT to_regclass($1) IS NOT NULL`
	if tg.db.Dialect == dialect.SQLite {
		q = `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var ok bool
	if err := tg.db.SQL.QueryRow(q, name).Scan(&ok); err != nil {
		t.Fatalf("look up %s: %v", name, err)
	}
	return ok
}

// revisionsTable is the qualified name of the revisions table.
func (tg target) revisionsTable() string {
	if tg.db.Dialect == dialect.SQLite {
		return "atlas_schema_revisions"
	}
	return `"` + migrate.RevisionsSchema(tg.url) + `".atlas_schema_revisions`
}

// versions lists the versions in the revisions table.
func (tg target) versions(t *testing.T) []string {
	t.Helper()
	rows, err := tg.db.SQL.Query(`SELECT version FROM ` + tg.revisionsTable() + ` ORDER BY version`) //nolint:gosec // G202: a quoted table name the test built, no input
	if err != nil {
		t.Fatalf("read revisions: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dirOf builds a migration directory from files, with an atlas.sum the
// library computes, as `todo migrate diff` would write it.
func dirOf(t *testing.T, files map[string]string) fstest.MapFS {
	t.Helper()
	mem := &atlas.MemDir{}
	out := fstest.MapFS{}
	for name, body := range files {
		if err := mem.WriteFile(name, []byte(body)); err != nil {
			t.Fatal(err)
		}
		out[name] = &fstest.MapFile{Data: []byte(body)}
	}
	sum, err := mem.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sum.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	out[atlas.HashFileName] = &fstest.MapFile{Data: b}
	return out
}

// copyFS reads every file of dir into memory, so a test can alter it.
func copyFS(t *testing.T, dir fs.FS) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(dir, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(dir, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
