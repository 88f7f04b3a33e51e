package migrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq" // Atlas opens a Postgres dev URL with sql.Open("postgres", …)

	entmigrate "todo/ent/migrate"
	"todo/platform/database"
)

// Diff writes <timestamp>_<name>.sql and refreshes atlas.sum in both
// dialect directories under root (migrations/postgres, migrations/sqlite)
// for whatever the Ent schema has that the directory does not. It replays
// each directory into an empty dev database: a throwaway database created on
// the PostgreSQL server of devURL, and an in-memory SQLite. A directory that
// already matches the schema gets no file. It returns the files written.
func Diff(ctx context.Context, root, name, devURL string) ([]string, error) {
	if !validName(name) {
		return nil, fmt.Errorf("migration name %q: use letters, digits and underscores", name)
	}
	var written []string
	pgDev, drop, err := throwawayDatabase(ctx, devURL)
	if err != nil {
		return nil, err
	}
	defer drop()
	database.RegisterSQLite()
	for _, d := range []struct{ dialect, dir, devURL string }{
		{dialect.Postgres, filepath.Join(root, "postgres"), pgDev},
		{dialect.SQLite, filepath.Join(root, "sqlite"), "sqlite://dev?mode=memory&_pragma=foreign_keys(1)"},
	} {
		files, err := diffDir(ctx, d.dialect, d.dir, d.devURL, name)
		if err != nil {
			return written, fmt.Errorf("%s: %w", d.dialect, err)
		}
		written = append(written, files...)
	}
	return written, nil
}

// diffMu serialises diffs within a process: Ent's NamedDiff writes to the
// generated package's global table list (migrate.Tables) while it plans, so
// two diffs at once race (seen under -race with parallel CheckInSync calls).
var diffMu sync.Mutex

func diffDir(ctx context.Context, dia, dir, devURL, name string) ([]string, error) {
	diffMu.Lock()
	defer diffMu.Unlock()
	ld, err := atlas.NewLocalDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	before, err := ld.Files()
	if err != nil {
		return nil, err
	}
	err = entmigrate.NamedDiff(ctx, devURL, name,
		schema.WithDir(ld),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dia),
		schema.WithFormatter(atlas.DefaultFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
	if err != nil {
		return nil, err
	}
	after, err := ld.Files()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range before {
		seen[f.Name()] = true
	}
	var out []string
	var names []string
	for _, f := range after {
		if !seen[f.Name()] {
			names = append(names, f.Name())
			out = append(out, filepath.Join(dir, f.Name()))
		}
	}
	if dia == dialect.SQLite {
		if _, err := KeepSQLiteSequenceInDir(ld, names); err != nil {
			return out, fmt.Errorf("keep sqlite_sequence: %w", err)
		}
	}
	return out, nil
}

// throwawayDatabase creates an empty database on devURL's server and returns
// its URL and a function that drops it.
func throwawayDatabase(ctx context.Context, devURL string) (string, func(), error) {
	u, err := url.Parse(devURL)
	if err != nil {
		return "", nil, fmt.Errorf("MIGRATE_DEV_URL: %w", err)
	}
	admin, err := sql.Open("postgres", devURL)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "todo_dev_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("create dev database on MIGRATE_DEV_URL: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close()
	}
	return u.String(), drop, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
