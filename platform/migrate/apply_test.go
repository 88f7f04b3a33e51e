package migrate_test

import (
	"context"
	"hash/fnv"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"todo/platform/config"
	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

func TestApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		dialect string
	}{
		{"apply/fresh-postgres", dialect.Postgres},
		{"apply/fresh-sqlite", dialect.SQLite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, tc.dialect)
			dir := embedded(t, tc.dialect)
			files, err := fs.Glob(dir, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			if got := tg.pending(t, dir); !slices.Equal(got, files) {
				t.Fatalf("Pending before: got %v, want %v", got, files)
			}

			rep := tg.apply(t, dir)
			var applied []string
			for _, f := range rep.Files {
				applied = append(applied, f.Name)
				if f.Statements == 0 {
					t.Errorf("%s: got 0 statements", f.Name)
				}
			}
			if !slices.Equal(applied, files) {
				t.Fatalf("applied: got %v, want %v", applied, files)
			}
			if got := tg.pending(t, dir); len(got) != 0 {
				t.Fatalf("Pending after: got %v, want none", got)
			}
			if rep := tg.apply(t, dir); len(rep.Files) != 0 {
				t.Fatalf("second Apply: got %v, want no files", rep.Files)
			}
			if got, want := len(tg.versions(t)), len(files); got != want {
				t.Fatalf("revisions: got %d, want %d", got, want)
			}

			st, err := migrate.Status(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			if err != nil {
				t.Fatal(err)
			}
			last := strings.SplitN(files[len(files)-1], "_", 2)[0]
			if len(st.Pending) != 0 || len(st.Applied) != len(files) || st.Current() != last {
				t.Fatalf("Status: got %d applied, current %q, pending %v; want %d, %q, none",
					len(st.Applied), st.Current(), st.Pending, len(files), last)
			}
		})
	}
}

func TestStatusOfFreshDatabaseWritesNothing(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	dir := embedded(t, dialect.Postgres)
	st, err := migrate.Status(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(dir, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Applied) != 0 || !slices.Equal(st.Pending, files) || st.Current() != "" {
		t.Fatalf("got %+v, want %v pending and nothing applied", st, files)
	}
	if tg.tableExists(t, tg.revisionsTable()) {
		t.Fatal("Status created the revisions table")
	}
}

func TestApplyFailedFile(t *testing.T) {
	t.Parallel()
	const (
		good = "20260101000000_good.sql"
		bad  = "20260101000001_bad.sql"
	)
	dir := dirOf(t, map[string]string{
		good: "CREATE TABLE good (id integer);\n",
		bad:  "CREATE TABLE partial (id integer);\nINSERT INTO missing_table (id) VALUES (1);\n",
	})
	for _, tc := range []struct {
		name    string
		dialect string
		table   func(target, string) string
	}{
		{"apply/failed-file-postgres", dialect.Postgres, func(_ target, n string) string { return "public." + n }},
		{"apply/failed-file-sqlite", dialect.SQLite, func(_ target, n string) string { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, tc.dialect)
			_, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			if err == nil {
				t.Fatal("Apply: got nil error, want the bad file's")
			}
			for _, want := range []string{bad, "INSERT INTO missing_table"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if got, want := tg.versions(t), []string{"20260101000000"}; !slices.Equal(got, want) {
				t.Errorf("revisions: got %v, want %v", got, want)
			}
			if !tg.tableExists(t, tc.table(tg, "good")) {
				t.Error("the good file's table is gone")
			}
			if tg.tableExists(t, tc.table(tg, "partial")) {
				t.Error("the bad file's first statement was not rolled back")
			}
			if got := tg.pending(t, dir); !slices.Equal(got, []string{bad}) {
				t.Errorf("Pending: got %v, want [%s]", got, bad)
			}
		})
	}
}

func TestApplyRejectsTamperedDirectory(t *testing.T) {
	t.Parallel()
	tg := emptySQLite(t)
	for _, tc := range []struct {
		name   string
		tamper func(fstest.MapFS)
		want   []string
	}{
		{
			name: "tamper/edited-file",
			tamper: func(d fstest.MapFS) {
				f := d["20261126155505_init.sql"]
				f.Data = append(f.Data, "-- edited\n"...)
			},
			want: []string{"20261126155505_init.sql", "edited", "atlas.sum"},
		},
		{
			name: "tamper/added-file",
			tamper: func(d fstest.MapFS) {
				d["20261201000000_extra.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE x (id integer);\n")}
			},
			want: []string{"20261201000000_extra.sql", "added"},
		},
		{
			name: "tamper/edited-sum",
			tamper: func(d fstest.MapFS) {
				f := d["atlas.sum"]
				f.Data = []byte(strings.Replace(string(f.Data), "_init.sql h1:", "_init.sql h1:A", 1))
			},
			want: []string{"atlas.sum"},
		},
		{
			name:   "tamper/missing-sum",
			tamper: func(d fstest.MapFS) { delete(d, "atlas.sum") },
			want:   []string{"no atlas.sum"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyFS(t, embedded(t, dialect.SQLite))
			tc.tamper(dir)
			_, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			if err == nil {
				t.Fatal("Apply: got nil error, want a checksum error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if _, err := migrate.Pending(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts); err == nil {
				t.Error("Pending: got nil error, want a checksum error")
			}
		})
	}
	if tg.tableExists(t, "users") {
		t.Fatal("a tampered directory was applied")
	}
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	u := dbtest.NewEmpty(t)
	dir := embedded(t, dialect.Postgres)
	const runs = 4
	var (
		wg      sync.WaitGroup
		reports [runs]migrate.Report
		errs    [runs]error
	)
	for i := range runs {
		// Separate pools, as separate replicas starting at once would have.
		db := dbtest.Open(t, dbtest.Config(u))
		wg.Go(func() {
			reports[i], errs[i] = migrate.Apply(context.Background(), db.SQL, db.Dialect, dir, migrate.ApplyOptions{})
		})
	}
	wg.Wait()
	count := map[string]int{}
	for i := range runs {
		if errs[i] != nil {
			t.Errorf("Apply %d: %v", i, errs[i])
		}
		for _, f := range reports[i].Files {
			count[f.Name]++
		}
	}
	files, _ := fs.Glob(dir, "*.sql")
	for _, f := range files {
		if count[f] != 1 {
			t.Errorf("%s applied %d times, want once", f, count[f])
		}
	}
}

func TestRevisionsSchema(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"schema/plain-url", "postgres://u@h:5432/db?sslmode=disable", "atlas_schema_revisions"},
		{"schema/search-path-public", "postgres://u@h:5432/db?sslmode=disable&search_path=public", "public"},
		{"schema/search-path-other", "postgresql://u@h/db?search_path=app", "app"},
		{"schema/unparsable", "postgres://%zz", "atlas_schema_revisions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := migrate.RevisionsSchema(tc.url); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApplyRevisionsLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		query      string
		want, gone string
	}{
		{"location/plain-url", "", "atlas_schema_revisions.atlas_schema_revisions", "public.atlas_schema_revisions"},
		{"location/search-path-public", "search_path=public", "public.atlas_schema_revisions", "atlas_schema_revisions.atlas_schema_revisions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := dbtest.NewEmpty(t)
			if tc.query != "" {
				u += "&" + tc.query
			}
			tg := target{db: dbtest.Open(t, dbtest.Config(u)), url: u, opts: migrate.ApplyOptions{RevisionsSchema: migrate.RevisionsSchema(u)}}
			tg.apply(t, embedded(t, dialect.Postgres))
			if !tg.tableExists(t, tc.want) {
				t.Errorf("%s is missing", tc.want)
			}
			if tg.tableExists(t, tc.gone) {
				t.Errorf("%s exists, want only %s", tc.gone, tc.want)
			}
			if !tg.tableExists(t, "public.users") {
				t.Error("the schema was not applied to public")
			}
		})
	}
}

// TestApplyAfterCLI stands in for the Atlas CLI, which cannot be installed
// here: the table is created with the CLI's DDL and the first file recorded
// with the values the CLI writes, the identifier row included. Apply must
// take it from there.
func TestApplyAfterCLI(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	ctx := context.Background()
	dir := embedded(t, dialect.Postgres)
	files, _ := fs.Glob(dir, "*.sql")
	first, _ := fs.ReadFile(dir, files[0])
	stmts, err := atlas.NewLocalFile(files[0], first).Stmts()
	if err != nil {
		t.Fatal(err)
	}
	sum := hashFile(t, dir)
	hash, _ := sum.SumByName(files[0])
	cli := []string{
		`CREATE SCHEMA "atlas_schema_revisions"`,
		cliDDL,
		`INSERT INTO "atlas_schema_revisions"."atlas_schema_revisions" ("version", "description", "type", "applied", "total", "executed_at", "execution_time", "error", "error_stmt", "hash", "partial_hashes", "operator_version")
		 VALUES ('.atlas_cloud_identifier', '6ba7b810-9dad-11d1-80b4-00c04fd430c8', 2, 0, 0, now(), 0, NULL, NULL, '', NULL, 'Atlas CLI v0.38.0')`,
	}
	cli = append(cli, stmts...)
	cli = append(cli, `INSERT INTO "atlas_schema_revisions"."atlas_schema_revisions" VALUES ('20261126155505', 'init', 2, $1, $1, now(), 1234567, '', '', $2, 'null', 'Atlas CLI v0.38.0')`)
	for i, q := range cli {
		var args []any
		if i == len(cli)-1 {
			args = []any{len(stmts), hash}
		}
		if _, err := tg.db.SQL.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := tg.pending(t, dir); !slices.Equal(got, files[1:]) {
		t.Fatalf("Pending: got %v, want %v", got, files[1:])
	}
	rep := tg.apply(t, dir)
	var applied []string
	for _, f := range rep.Files {
		applied = append(applied, f.Name)
	}
	if !slices.Equal(applied, files[1:]) {
		t.Fatalf("Apply: got %v, want %v", applied, files[1:])
	}
	st, err := migrate.Status(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Applied) != len(files) || st.Applied[0].OperatorVersion != "Atlas CLI v0.38.0" {
		t.Fatalf("Status: got %d revisions (%+v), want the CLI's and ours, without the identifier row", len(st.Applied), st.Applied)
	}
}

func TestApplyConcurrentSQLite(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	dir := embedded(t, dialect.SQLite)
	const runs = 3
	var (
		wg      sync.WaitGroup
		reports [runs]migrate.Report
		errs    [runs]error
	)
	for i := range runs {
		db := dbtest.Open(t, config.Database{DataDir: dataDir})
		wg.Go(func() {
			reports[i], errs[i] = migrate.Apply(context.Background(), db.SQL, db.Dialect, dir, migrate.ApplyOptions{})
		})
	}
	wg.Wait()
	count := map[string]int{}
	for i := range runs {
		if errs[i] != nil {
			t.Errorf("Apply %d: %v", i, errs[i])
		}
		for _, f := range reports[i].Files {
			count[f.Name]++
		}
	}
	files, _ := fs.Glob(dir, "*.sql")
	for _, f := range files {
		if count[f] != 1 {
			t.Errorf("%s applied %d times, want once", f, count[f])
		}
	}
}

// TestApplyWaitsForCLILock holds the lock the Atlas CLI takes (the FNV-32
// hash of its name, as the CLI computes it) and checks that Apply waits for
// it and gives up after LockTimeout.
func TestApplyWaitsForCLILock(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	ctx := context.Background()
	h := fnv.New32()
	h.Write([]byte(migrate.LockName))
	conn, err := tg.db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(h.Sum32())); err != nil {
		t.Fatal(err)
	}
	opts := tg.opts
	opts.LockTimeout = 300 * time.Millisecond
	_, err = migrate.Apply(ctx, tg.db.SQL, tg.db.Dialect, embedded(t, dialect.Postgres), opts)
	if err == nil || !strings.Contains(err.Error(), migrate.LockName) {
		t.Fatalf("Apply under the CLI's lock: got %v, want a lock timeout", err)
	}
	if tg.tableExists(t, "public.users") {
		t.Fatal("Apply ran without the lock")
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", int64(h.Sum32())); err != nil {
		t.Fatal(err)
	}
	tg.apply(t, embedded(t, dialect.Postgres))
}
