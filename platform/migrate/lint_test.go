package migrate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"

	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

func lint(t *testing.T, dia string, files map[string]string, opts migrate.LintOptions) []migrate.Finding {
	t.Helper()
	opts.DevURL = dbtest.AdminURL()
	found, err := migrate.Lint(context.Background(), dia, dirOf(t, files), opts)
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	return found
}

func codes(found []migrate.Finding) string {
	var out []string
	for _, f := range found {
		out = append(out, f.File+":"+f.Code)
	}
	return strings.Join(out, " ")
}

func TestLint(t *testing.T) {
	t.Parallel()
	const base = "20260101000000_base.sql"
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		baseSQL := "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL, extra text NULL);\nCREATE TABLE tags (name text NOT NULL);\n"
		for _, tc := range []struct {
			name, sql string
			want      string // file:CODE …
		}{
			{"drop-column", "-- Drop a column\nALTER TABLE notes DROP COLUMN extra;\n", "20260101000001_next.sql:DS103"},
			{"drop-table", "DROP TABLE tags;\n", "20260101000001_next.sql:DS102"},
			{"ignored", "-- Drop a column\n-- lint:ignore DS103 extra was never written by any release\nALTER TABLE notes DROP COLUMN extra;\n", ""},
			{"ignored-other-code", "-- lint:ignore DS102 wrong code\nALTER TABLE notes DROP COLUMN extra;\n", "20260101000001_next.sql:DS103"},
			{"ignore-without-reason", "-- lint:ignore DS103\nALTER TABLE notes DROP COLUMN extra;\n", "20260101000001_next.sql:DS103"},
			{"one-ignore-one-finding", "-- lint:ignore DS102 tags is unused\nDROP TABLE tags;\nDROP TABLE notes;\n", "20260101000001_next.sql:DS102"},
			{"not-null-without-default", "ALTER TABLE notes ADD COLUMN rank integer NOT NULL;\n", "20260101000001_next.sql:MF103"},
			{"unique-index", "CREATE UNIQUE INDEX notes_body ON notes (body);\n", "20260101000001_next.sql:MF101"},
			{"new-table-is-fine", "CREATE TABLE more (id integer PRIMARY KEY, v text NOT NULL);\nCREATE UNIQUE INDEX more_v ON more (v);\n", ""},
			{"rename-column", "ALTER TABLE notes RENAME COLUMN extra TO more;\n", "20260101000001_next.sql:DS103"},
			{"nullable-column-is-fine", "ALTER TABLE notes ADD COLUMN due text NULL;\n", ""},
		} {
			t.Run("lint/"+dia+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				want := tc.want
				if dia == dialect.Postgres && tc.name == "unique-index" {
					want += " 20260101000001_next.sql:PG101" // and it locks the table while it builds
				}
				found := lint(t, dia, map[string]string{base: baseSQL, "20260101000001_next.sql": tc.sql}, migrate.LintOptions{})
				if got := codes(found); got != want {
					t.Fatalf("findings: got %q, want %q\n%v", got, want, found)
				}
				for _, f := range found {
					line := f.String()
					if strings.Contains(line, "\n") || !strings.Contains(line, f.File+":") || f.Line < 1 || f.Stmt == "" {
						t.Errorf("finding line %q: want file, line, statement and why on one line", line)
					}
				}
				if tc.name == "ignore-without-reason" && (len(found) != 1 || !found[0].BadIgnore || !strings.Contains(found[0].String(), "no reason")) {
					t.Errorf("a reasonless lint:ignore is not pointed out: %v", found)
				}
			})
		}
	}
}

// TestLintLatest: the files before the linted ones are only replayed; a
// destructive change there is not reported.
func TestLintLatest(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"20260101000000_a.sql": "CREATE TABLE a (id integer PRIMARY KEY, x text);\n",
		"20260101000001_b.sql": "ALTER TABLE a DROP COLUMN x;\n",
		"20260101000002_c.sql": "CREATE TABLE c (id integer PRIMARY KEY);\n",
	}
	if got := codes(lint(t, dialect.SQLite, files, migrate.LintOptions{})); got != "" {
		t.Errorf("latest 1: %q, want nothing", got)
	}
	if got := codes(lint(t, dialect.SQLite, files, migrate.LintOptions{Latest: 2})); got != "20260101000001_b.sql:DS103" {
		t.Errorf("latest 2: %q", got)
	}
	if got := codes(lint(t, dialect.SQLite, files, migrate.LintOptions{Files: []string{"20260101000001_b.sql"}})); got != "20260101000001_b.sql:DS103" {
		t.Errorf("named file: %q", got)
	}
	if _, err := migrate.Lint(context.Background(), dialect.SQLite, dirOf(t, files), migrate.LintOptions{Files: []string{"nope.sql"}}); err == nil {
		t.Error("an unknown file name was accepted")
	}
}

// TestLintPostgresIndexes: a plain CREATE INDEX on a table that existed
// before the file is flagged; CONCURRENTLY is accepted only in a file
// without a transaction.
func TestLintPostgresIndexes(t *testing.T) {
	t.Parallel()
	const base = "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);\n"
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"plain-on-existing", "CREATE INDEX notes_body ON notes (body);\n", "20260101000001_next.sql:PG101"},
		{"plain-ignored", "-- lint:ignore PG101 notes holds a few hundred rows\nCREATE INDEX notes_body ON notes (body);\n", ""},
		{"plain-on-new-table", "CREATE TABLE more (id bigint PRIMARY KEY, v text);\nCREATE INDEX more_v ON more (v);\n", ""},
		{"concurrently-in-tx", "CREATE INDEX CONCURRENTLY notes_body ON notes (body);\n", "20260101000001_next.sql:PG102"},
		{"concurrently-txmode-none", "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY notes_body ON notes (body);\n", ""},
	} {
		t.Run("lint/postgres/"+tc.name, func(t *testing.T) {
			t.Parallel()
			found := lint(t, dialect.Postgres, map[string]string{"20260101000000_base.sql": base, "20260101000001_next.sql": tc.sql}, migrate.LintOptions{})
			if got := codes(found); got != tc.want {
				t.Fatalf("findings: got %q, want %q\n%v", got, tc.want, found)
			}
		})
	}
}

// TestGeneratedRebuildKeepsSQLiteSequence plans a change SQLite can only
// make by rebuilding tasks, writes it as `todo migrate diff` does (the Atlas
// planner and formatter, then KeepSQLiteSequenceInDir), and applies it to a
// database whose newest task was deleted: the next task does not get the
// deleted task's id, and the lint passes the file (it flags the file
// without the fix).
func TestGeneratedRebuildKeepsSQLiteSequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tg := emptySQLite(t)
	tmp := t.TempDir()
	src := embedded(t, dialect.SQLite)
	for name, f := range copyFS(t, src) {
		if err := os.WriteFile(filepath.Join(tmp, name), f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tg.apply(t, src)
	addUser(t, tg, "u1")
	addTask(t, tg, "u1")
	highest := addTask(t, tg, "u1")
	tg.exec(t, `DELETE FROM tasks WHERE id = ?`, highest)

	// The rebuild: tasks.description becomes NOT NULL DEFAULT ''.
	drv := tg.driver(t)
	live := tg.inspect(t)
	want := tg.inspect(t)
	tasks, _ := want.Table("tasks")
	desc, _ := tasks.Column("description")
	desc.Type.Null = false
	desc.Default = &schema.RawExpr{X: "''"}
	changes, err := drv.SchemaDiff(live, want)
	if err != nil || len(changes) == 0 {
		t.Fatalf("diff: %v %v", changes, err)
	}
	plan, err := drv.PlanChanges(ctx, "tasks_description_not_null", changes)
	if err != nil {
		t.Fatal(err)
	}
	plan.Version = "20991231000000"
	ld, err := atlas.NewLocalDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := atlas.NewPlanner(drv, ld, atlas.PlanFormat(atlas.DefaultFormatter)).WritePlan(plan); err != nil {
		t.Fatal(err)
	}
	name := "20991231000000_tasks_description_not_null.sql"
	body, err := os.ReadFile(filepath.Join(tmp, name))
	if err != nil || !strings.Contains(string(body), "CREATE TABLE `new_tasks`") {
		t.Fatalf("the planned file does not rebuild tasks (%v):\n%s", err, body)
	}
	lintFile := func() string {
		found, err := migrate.Lint(ctx, dialect.SQLite, os.DirFS(tmp), migrate.LintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return codes(found)
	}
	if got := lintFile(); got != name+":"+migrate.CodeSequenceReset {
		t.Errorf("lint of the planner's file: %q, want %s", got, migrate.CodeSequenceReset)
	}

	changed, err := migrate.KeepSQLiteSequenceInDir(ld, []string{name})
	if err != nil || len(changed) != 1 {
		t.Fatalf("KeepSQLiteSequenceInDir: %v %v", changed, err)
	}
	if again, err := migrate.KeepSQLiteSequenceInDir(ld, []string{name}); err != nil || len(again) != 0 {
		t.Fatalf("a second run changed %v (%v)", again, err)
	}
	if got := lintFile(); got != "" {
		t.Errorf("lint of the kept file: %q, want nothing", got)
	}
	if rep := tg.apply(t, os.DirFS(tmp)); len(rep.Files) != 1 {
		t.Fatalf("Apply: %+v", rep.Files)
	}
	if id := addTask(t, tg, "u1"); id <= highest {
		t.Fatalf("new task got id %d after the rebuild, want more than the deleted %d", id, highest)
	}
}
