package migrate_test

import (
	"context"
	"errors"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

// The tests of this file run the error paths of Apply, Status, Pending,
// DeleteRevision and Diff: each asserts what the caller is told and what the
// database is left with.

const goodFile = "20260101000000_good.sql"

// singleConn limits tg's pool to one connection, so that what a failed Apply
// left on its session (the foreign_keys pragma) is what the next query sees.
func singleConn(tg target) target {
	tg.db.SQL.SetMaxOpenConns(1)
	return tg
}

// foreignKeys reads PRAGMA foreign_keys through tg's pool.
func (tg target) foreignKeys(t *testing.T) int {
	t.Helper()
	var on int
	if err := tg.db.SQL.QueryRow("PRAGMA foreign_keys").Scan(&on); err != nil {
		t.Fatalf("read foreign_keys: %v", err)
	}
	return on
}

// lockKey is the key of the Atlas CLI's advisory lock: the FNV-32 hash of
// its name, as Atlas's PostgreSQL driver derives it.
func lockKey() int64 {
	h := fnv.New32()
	h.Write([]byte(migrate.LockName))
	return int64(h.Sum32())
}

// holdLock takes the CLI's advisory lock on a session of its own and
// releases it when the test ends.
func holdLock(t *testing.T, tg target) {
	t.Helper()
	ctx := context.Background()
	conn, err := tg.db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lockKey())
		_ = conn.Close()
	})
}

// advisoryLocks counts the advisory locks held on tg's database by any session.
func (tg target) advisoryLocks(t *testing.T) int {
	t.Helper()
	var n int
	err := tg.db.SQL.QueryRow(`SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantErr(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want one mentioning %q", what, wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
}

// TestApplySQLiteFailedFileRestoresForeignKeys: a file that fails, by a
// statement or by the foreign key check before COMMIT, leaves no trace of
// itself, and the connection gets its foreign keys back.
func TestApplySQLiteFailedFileRestoresForeignKeys(t *testing.T) {
	t.Parallel()
	const bad = "20260101000001_bad.sql"
	for _, tc := range []struct {
		name  string
		body  string
		wants []string
	}{
		{
			name:  "sqlite-fail/second-statement",
			body:  "CREATE TABLE partial (id integer);\nINSERT INTO missing_table (id) VALUES (1);\n",
			wants: []string{bad, `statement "INSERT INTO missing_table (id) VALUES (1);" failed`, "no such table: missing_table", "rolled back"},
		},
		{
			// Foreign keys are off while the file runs, as with the CLI; the
			// check before COMMIT finds the orphan and the file is undone.
			name: "sqlite-fail/foreign-key-violation",
			body: "CREATE TABLE partial (id integer PRIMARY KEY, good_id integer NOT NULL REFERENCES good (id));\n" +
				"INSERT INTO partial (id, good_id) VALUES (1, 42);\n",
			wants: []string{"commit " + bad, "foreign key mismatch"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := singleConn(emptySQLite(t))
			if tg.foreignKeys(t) != 1 {
				t.Fatal("the test database does not start with foreign keys on")
			}
			dir := dirOf(t, map[string]string{
				goodFile: "CREATE TABLE good (id integer PRIMARY KEY);\n",
				bad:      tc.body,
			})
			rep, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Apply", err, tc.wants...)
			if len(rep.Files) != 1 || rep.Files[0].Name != goodFile || rep.Statements() != 1 {
				t.Errorf("report: got %+v, want only %s with 1 statement", rep.Files, goodFile)
			}
			if got := tg.versions(t); !slices.Equal(got, []string{"20260101000000"}) {
				t.Errorf("revisions: got %v, want only the good file's", got)
			}
			if !tg.tableExists(t, "good") {
				t.Error("the good file's table is gone")
			}
			if tg.tableExists(t, "partial") {
				t.Error("the bad file's first statement was not rolled back")
			}
			if got := tg.foreignKeys(t); got != 1 {
				t.Errorf("PRAGMA foreign_keys after the failed file: got %d, want 1", got)
			}
			if got := tg.pending(t, dir); !slices.Equal(got, []string{bad}) {
				t.Errorf("Pending: got %v, want [%s]", got, bad)
			}
		})
	}
}

// TestApplySQLiteBusy: when another connection holds the write lock past
// busy_timeout, BEGIN IMMEDIATE fails; Apply says so, applies nothing, and
// turns the foreign keys it switched off back on.
func TestApplySQLiteBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dataDir := t.TempDir()
	holder := dbtest.Open(t, config.Database{DataDir: dataDir})
	conn, err := holder.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(ctx, "ROLLBACK") }()

	// The application's DSN, with a busy_timeout short enough to give up.
	path := filepath.Join(dataDir, "todo.db")
	db, err := database.OpenSQLite("file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(50)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tg := singleConn(target{db: db})
	dir := dirOf(t, map[string]string{goodFile: "CREATE TABLE good (id integer);\n"})

	rep, err := migrate.Apply(ctx, db.SQL, db.Dialect, dir, migrate.ApplyOptions{})
	wantErr(t, "Apply under another writer", err, "migrate: begin", "database is locked")
	if len(rep.Files) != 0 {
		t.Errorf("report: got %+v, want no files", rep.Files)
	}
	if got := tg.foreignKeys(t); got != 1 {
		t.Errorf("PRAGMA foreign_keys after the failed BEGIN: got %d, want 1", got)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if tg.tableExists(t, "good") || tg.tableExists(t, "atlas_schema_revisions") {
		t.Fatal("Apply wrote without the write lock")
	}
	if rep := tg.apply(t, dir); len(rep.Files) != 1 {
		t.Fatalf("Apply once the lock is free: got %+v, want the file", rep.Files)
	}
}

// TestApplySQLiteFileEndsTransaction: a file that ends Apply's transaction
// itself makes Apply's own ROLLBACK or COMMIT fail. Apply must report that
// instead of success, and hand the pool no connection stuck in a transaction.
func TestApplySQLiteFileEndsTransaction(t *testing.T) {
	t.Parallel()
	const bad = "20260101000001_commits.sql"
	for _, tc := range []struct {
		name  string
		body  string
		wants []string
	}{
		{
			name:  "ends-tx/then-fails",
			body:  "CREATE TABLE committed (id integer);\nCOMMIT;\nINSERT INTO missing_table (id) VALUES (1);\n",
			wants: []string{bad, "INSERT INTO missing_table", "roll back", "no transaction is active"},
		},
		{
			name:  "ends-tx/at-end",
			body:  "CREATE TABLE committed (id integer);\nCOMMIT;\n",
			wants: []string{"commit " + bad, "no transaction is active"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := singleConn(emptySQLite(t))
			dir := dirOf(t, map[string]string{
				goodFile: "CREATE TABLE good (id integer PRIMARY KEY);\n",
				bad:      tc.body,
			})
			rep, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Apply", err, tc.wants...)
			if len(rep.Files) != 1 || rep.Files[0].Name != goodFile {
				t.Errorf("report: got %+v, want only %s", rep.Files, goodFile)
			}
			// What the file committed itself stays: its COMMIT defeats the
			// one-transaction-per-file rule, which Apply cannot restore.
			if !tg.tableExists(t, "committed") {
				t.Error("the table the file committed itself is gone")
			}
			// The pool's connection is usable and outside any transaction:
			// BEGIN would fail inside one.
			if _, err := tg.db.SQL.Exec("BEGIN; ROLLBACK"); err != nil {
				t.Errorf("the pool's connection after the failed file: %v", err)
			}
			if got := tg.foreignKeys(t); got != 1 {
				t.Errorf("PRAGMA foreign_keys: got %d, want 1", got)
			}
		})
	}
}

// TestApplyFileDropsRevisionsTable: recording the revision fails after every
// statement succeeded; the error names the file, and the DROP is undone.
func TestApplyFileDropsRevisionsTable(t *testing.T) {
	t.Parallel()
	const bad = "20260101000001_drop_revisions.sql"
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run("drop-revisions/"+dia, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, dia)
			dir := dirOf(t, map[string]string{
				goodFile: "CREATE TABLE good (id integer);\n",
				bad:      "DROP TABLE " + tg.revisionsTable() + ";\n",
			})
			_, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Apply", err, "migrate: "+bad+": file rolled back", "write revision 20260101000001")
			if err != nil && strings.Contains(err.Error(), "statement") {
				t.Errorf("error %q blames a statement; every statement succeeded", err)
			}
			if got := tg.versions(t); !slices.Equal(got, []string{"20260101000000"}) {
				t.Errorf("revisions: got %v, want the good file's, the table restored", got)
			}
		})
	}
}

// TestApplyRevisionsTableOfAnotherShape: a table by the revisions table's
// name that is not one makes Apply, Status and Pending fail, naming it.
func TestApplyRevisionsTableOfAnotherShape(t *testing.T) {
	t.Parallel()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run("shape/"+dia, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, dia)
			ctx := context.Background()
			if dia == dialect.Postgres {
				if _, err := tg.db.SQL.Exec(`CREATE SCHEMA atlas_schema_revisions`); err != nil {
					t.Fatal(err)
				}
			}
			// With a row: on SQLite a missing column in double quotes reads as
			// a string literal, so an empty table of any shape reads as empty.
			for _, q := range []string{
				`CREATE TABLE ` + tg.revisionsTable() + ` (version text)`,
				`INSERT INTO ` + tg.revisionsTable() + ` (version) VALUES ('20261126155505')`,
			} {
				if _, err := tg.db.SQL.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			dir := embedded(t, dia)
			_, err := migrate.Apply(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Apply", err, "migrate: pending files", "atlas_schema_revisions")
			_, err = migrate.Status(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Status", err, "read", "atlas_schema_revisions")
			_, err = migrate.Pending(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
			wantErr(t, "Pending", err, "migrate: pending files", "atlas_schema_revisions")
			users := "users"
			if dia == dialect.Postgres {
				users = "public.users"
			}
			if tg.tableExists(t, users) {
				t.Error("Apply applied a file over a revisions table it cannot read")
			}
		})
	}
}

// TestApplyDirtyDatabase: a database with tables but no revisions is not
// migrated over: Apply, Status and Pending all refuse it, as the CLI does.
func TestApplyDirtyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := emptySQLite(t)
	if _, err := tg.db.SQL.Exec(`CREATE TABLE stray (id integer)`); err != nil {
		t.Fatal(err)
	}
	dir := embedded(t, dialect.SQLite)
	_, err := migrate.Apply(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	wantErr(t, "Apply", err, "migrate: pending files", "not clean")
	_, err = migrate.Status(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	wantErr(t, "Status", err, "migrate: pending files", "not clean")
	_, err = migrate.Pending(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	wantErr(t, "Pending", err, "not clean")
	if tg.tableExists(t, "users") {
		t.Error("Apply migrated a database that is not clean")
	}
	// Apply rolled back the revisions table it had created.
	if tg.tableExists(t, "atlas_schema_revisions") {
		t.Error("the failed Apply left its revisions table behind")
	}
}

// TestApplyReservedRevisionsSchema: PostgreSQL refuses to create a schema
// named pg_*; Apply reports it and changes nothing.
func TestApplyReservedRevisionsSchema(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	tg.opts.RevisionsSchema = "pg_revisions"
	dir := embedded(t, dialect.Postgres)
	_, err := migrate.Apply(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	wantErr(t, "Apply", err, `create schema "pg_revisions"`, "unacceptable schema name")
	if tg.tableExists(t, "public.users") {
		t.Error("Apply ran without a revisions table")
	}
	if n := tg.advisoryLocks(t); n != 0 {
		t.Errorf("Apply left %d advisory locks held", n)
	}
}

// TestApplyLockWait: while another session holds the CLI's lock, Apply gives
// up after LockTimeout with schema.ErrLocked, or when its context ends with
// the context's error, and applies nothing either way.
func TestApplyLockWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		lockTimeout time.Duration
		ctxTimeout  time.Duration
		is          error
		wants       []string
	}{
		{"lock/timeout", 100 * time.Millisecond, time.Minute, schema.ErrLocked,
			[]string{"another migration still holds lock", migrate.LockName, "after 100ms"}},
		{"lock/context-deadline", time.Minute, 300 * time.Millisecond, context.DeadlineExceeded,
			[]string{"take lock", migrate.LockName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := emptyPostgres(t)
			holdLock(t, tg)
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctxTimeout)
			defer cancel()
			opts := tg.opts
			opts.LockTimeout = tc.lockTimeout
			start := time.Now()
			_, err := migrate.Apply(ctx, tg.db.SQL, tg.db.Dialect, embedded(t, dialect.Postgres), opts)
			wantErr(t, "Apply", err, tc.wants...)
			if !errors.Is(err, tc.is) {
				t.Errorf("Apply: got %v, want errors.Is %v", err, tc.is)
			}
			if waited := time.Since(start); waited > 20*time.Second {
				t.Errorf("Apply waited %s", waited)
			}
			if tg.tableExists(t, "public.users") || tg.tableExists(t, tg.revisionsTable()) {
				t.Error("Apply ran without the lock")
			}
			if n := tg.advisoryLocks(t); n != 1 {
				t.Errorf("advisory locks: got %d, want only the holder's", n)
			}
		})
	}
}

// TestApplyCancelledMidFile: a context cancelled while a file runs fails
// that file with context.Canceled; the files before it stay applied, the
// file leaves nothing behind, and the lock is free for the next Apply.
func TestApplyCancelledMidFile(t *testing.T) {
	t.Parallel()
	tg := emptyPostgres(t)
	const slow = "20260101000001_slow.sql"
	dir := dirOf(t, map[string]string{
		goodFile: "CREATE TABLE good (id integer);\n",
		slow:     "CREATE TABLE slow (id integer);\nSELECT pg_sleep(1);\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Cancel once the slow file's sleep is running.
		for ctx.Err() == nil {
			var n int
			_ = tg.db.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'`).Scan(&n)
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	rep, err := migrate.Apply(ctx, tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	cancel()
	wg.Wait()
	wantErr(t, "Apply", err, "migrate: "+slow, `statement "SELECT pg_sleep(1);" failed`)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: got %v, want errors.Is context.Canceled", err)
	}
	if len(rep.Files) != 1 || rep.Files[0].Name != goodFile {
		t.Errorf("report: got %+v, want only %s", rep.Files, goodFile)
	}
	if got := tg.versions(t); !slices.Equal(got, []string{"20260101000000"}) {
		t.Errorf("revisions: got %v, want only the good file's", got)
	}
	if tg.tableExists(t, "public.slow") {
		t.Error("the cancelled file was not rolled back")
	}
	// The next Apply takes the lock (waiting, at most DefaultLockTimeout,
	// for the server to finish the abandoned statement) and runs the file.
	if rep := tg.apply(t, dir); len(rep.Files) != 1 || rep.Files[0].Name != slow {
		t.Fatalf("Apply after the cancelled one: got %+v, want %s", rep.Files, slow)
	}
	if n := tg.advisoryLocks(t); n != 0 {
		t.Errorf("advisory locks after Apply: got %d, want 0", n)
	}
}

// TestStatusRejectsBadInput: Status fails as Apply would on a tampered
// directory or an unknown dialect, before reading anything.
func TestStatusRejectsBadInput(t *testing.T) {
	t.Parallel()
	tg := emptySQLite(t)
	tampered := copyFS(t, embedded(t, dialect.SQLite))
	sum := tampered["atlas.sum"]
	sum.Data = []byte(strings.Replace(string(sum.Data), "_init.sql h1:", "_init.sql h1:A", 1))
	for _, tc := range []struct {
		name, dialect string
		dir           fstest.MapFS
		want          string
	}{
		{"status/tampered-sum", tg.db.Dialect, tampered, "atlas.sum"},
		{"status/unknown-dialect", "mysql", copyFS(t, embedded(t, dialect.SQLite)), `unsupported dialect "mysql"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := migrate.Status(context.Background(), tg.db.SQL, tc.dialect, tc.dir, tg.opts)
			wantErr(t, "Status", err, tc.want)
			if len(st.Applied) != 0 || len(st.Pending) != 0 {
				t.Errorf("Status: got %+v with the error, want an empty report", st)
			}
			_, err = migrate.Pending(context.Background(), tg.db.SQL, tc.dialect, tc.dir, tg.opts)
			wantErr(t, "Pending", err, tc.want)
		})
	}
}

// TestDeleteRevision: it removes exactly the row of its version, refuses the
// CLI's identifier row, and reports a missing table.
func TestDeleteRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run("delete/"+dia, func(t *testing.T) {
			t.Parallel()
			tg := emptyTarget(t, dia)
			rt, err := migrate.NewRevisionTable(tg.db.SQL, dia, "")
			if err != nil {
				t.Fatal(err)
			}
			err = rt.DeleteRevision(ctx, "1")
			wantErr(t, "DeleteRevision before Init", err, "delete revision 1", "atlas_schema_revisions")

			dir := embedded(t, dia)
			tg.apply(t, dir)
			before := tg.versions(t)
			if files, _ := fs.Glob(dir, "*.sql"); len(before) != len(files) || len(files) < 2 {
				t.Fatalf("revisions: got %v, want one per file of %v", before, files)
			}
			identifier := `INSERT INTO ` + tg.revisionsTable() + //nolint:gosec // G202: a quoted table name the test built, no input
				` (version, description, type, applied, total, executed_at, execution_time, hash, operator_version)
				VALUES ('.atlas_cloud_identifier', 'id', 2, 0, 0, CURRENT_TIMESTAMP, 0, '', 'Atlas CLI')`
			if _, err := tg.db.SQL.Exec(identifier); err != nil {
				t.Fatal(err)
			}
			err = rt.DeleteRevision(ctx, ".atlas_cloud_identifier")
			wantErr(t, "DeleteRevision of the identifier row", err, "identifier row")
			if err := rt.DeleteRevision(ctx, before[0]); err != nil {
				t.Fatal(err)
			}
			if err := rt.DeleteRevision(ctx, "19990101000000"); err != nil {
				t.Fatalf("DeleteRevision of a version never applied: %v", err)
			}
			if got, want := tg.versions(t), append([]string{".atlas_cloud_identifier"}, before[1:]...); !slices.Equal(got, want) {
				t.Errorf("revisions after delete: got %v, want %v", got, want)
			}
			revs, err := rt.ReadRevisions(ctx)
			if err != nil || len(revs) != len(before)-1 || revs[0].Version != before[1] {
				t.Errorf("ReadRevisions after delete: got %v, %v; want %v", revs, err, before[1:])
			}
		})
	}
}

func TestReportStatements(t *testing.T) {
	t.Parallel()
	if n := (migrate.Report{}).Statements(); n != 0 {
		t.Errorf("empty report: got %d, want 0", n)
	}
	rep := migrate.Report{Files: []migrate.FileReport{{Name: "a", Statements: 2}, {Name: "b", Statements: 5}, {Name: "c"}}}
	if n := rep.Statements(); n != 7 {
		t.Errorf("got %d, want 7", n)
	}

	// On a real run it is the sum of the revisions' applied counts.
	tg := emptySQLite(t)
	rep = tg.apply(t, embedded(t, dialect.SQLite))
	st, err := migrate.Status(context.Background(), tg.db.SQL, tg.db.Dialect, embedded(t, dialect.SQLite), tg.opts)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range st.Applied {
		want += r.Applied
	}
	if want == 0 || rep.Statements() != want {
		t.Errorf("Apply's report: got %d statements, want %d (the revisions' applied total)", rep.Statements(), want)
	}
}

// TestDiffRejectsBadName: a bad name fails before any database is touched
// (the dev URL here refuses connections, which would fail differently) and
// nothing is written.
func TestDiffRejectsBadName(t *testing.T) {
	t.Parallel()
	const devURL = "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	for _, tc := range []struct {
		name, migration string
		valid           bool
	}{
		{"diff/empty", "", false},
		{"diff/space", "has space", false},
		{"diff/dash", "add-users", false},
		{"diff/non-ascii", "añadir", false},
		{"diff/101-chars", strings.Repeat("a", 101), false},
		{"diff/100-chars", strings.Repeat("a", 100), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			files, err := migrate.Diff(context.Background(), root, tc.migration, devURL)
			if err == nil {
				t.Fatalf("Diff: got %v and nil error, want an error", files)
			}
			rejected := strings.Contains(err.Error(), "migration name") && strings.Contains(err.Error(), "letters, digits and underscores")
			if rejected == tc.valid {
				t.Errorf("Diff(%q): got %q; want the name rejected: %v", tc.migration, err, !tc.valid)
			}
			if !tc.valid && strings.Contains(err.Error(), "dev database") {
				t.Errorf("Diff(%q) reached the dev database: %v", tc.migration, err)
			}
			if tc.valid && !strings.Contains(err.Error(), "dev database") {
				t.Errorf("Diff(%q): got %q, want the dev database's failure", tc.migration, err)
			}
			if len(files) != 0 {
				t.Errorf("Diff wrote %v", files)
			}
			if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
				t.Errorf("root after Diff: %v, %v; want empty", entries, err)
			}
		})
	}
}
