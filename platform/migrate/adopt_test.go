package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"entgo.io/ent/dialect"

	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

// seedDatabase is an empty PostgreSQL database given the seed's exact
// CREATE TABLE statements and sample rows (testdata, verbatim from the
// seed document), then extra SQL.
func seedDatabase(t *testing.T, extra ...string) target {
	t.Helper()
	tg := emptyPostgres(t)
	for _, f := range []string{"testdata/seed_schema.sql", "testdata/seed_sample_data.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		execSQL(t, tg.db.SQL, string(b))
	}
	for _, s := range extra {
		execSQL(t, tg.db.SQL, s)
	}
	return tg
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (tg target) adopt(t *testing.T, dir fs.FS) migrate.AdoptReport {
	t.Helper()
	rep, err := migrate.Adopt(context.Background(), tg.db.SQL, tg.db.Dialect, dir, tg.opts)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	return rep
}

// assertAdoptedSchema compares the public schemas of two PostgreSQL
// databases by inspection: no change between them, as Atlas sees them. It is
// not down_test.go's assertSameSchema, which also compares column order: an
// adopted table keeps the seed's order of columns.
func assertAdoptedSchema(t *testing.T, got, want target) {
	t.Helper()
	ctx := context.Background()
	inspect := func(tg target) *postgres.Driver { return tg.driver(t).(*postgres.Driver) }
	gd, wd := inspect(got), inspect(want)
	gs, err := gd.InspectSchema(ctx, "public", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := wd.InspectSchema(ctx, "public", nil)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := gd.SchemaDiff(gs, ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) > 0 {
		plan, err := gd.PlanChanges(ctx, "diff", changes)
		if err != nil {
			t.Fatalf("%d schema changes (and no plan: %v)", len(changes), err)
		}
		var b strings.Builder
		for _, c := range plan.Changes {
			b.WriteString("\n  " + c.Cmd)
		}
		t.Fatalf("the adopted schema differs from a migrated one; to make them equal:%s", b.String())
	}
}

// extraSeedRows are seed-era rows beyond the sample: a mixed-case email, a
// known timestamp (written without a time zone, meant as UTC), a completed
// task the seed left without completed_at, and a deleted task whose id the
// seed's sequence has already handed out.
const extraSeedRows = `
INSERT INTO users (id, email, name, hashed_password, created_at, updated_at, is_active, email_verified)
VALUES ('7f9c1c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f', ' Mixed.Case@Example.COM', 'Mixed', '$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', '2026-01-02 03:04:05.123456', '2026-01-03 04:05:06', NULL, NULL);
INSERT INTO tasks (user_id, title, completed, created_at, updated_at, completed_at)
VALUES ('7f9c1c8e-1a2b-4c3d-9e8f-0a1b2c3d4e5f', 'Known time', true, '2026-01-02 03:04:05.123456', '2026-01-04 05:06:07', NULL);
INSERT INTO tasks (user_id, title, completed) VALUES ('user-456-def', 'Deleted later', NULL);
DELETE FROM tasks WHERE title = 'Deleted later';
`

func TestAdoptSeedDatabase(t *testing.T) {
	seed := seedDatabase(t, extraSeedRows)
	// The rows as the seed wrote them, naive timestamps read as UTC.
	before := queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', id, user_id, title, coalesce(description, '<nil>'), created_at AT TIME ZONE 'UTC') FROM tasks ORDER BY id`)
	usersBefore := queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', id, name, hashed_password, created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC') FROM users ORDER BY id`)

	dir := embedded(t, dialect.Postgres)
	rep := seed.adopt(t, dir)
	if rep.State != migrate.AdoptSeed || rep.Users != 3 || rep.Tasks != 4 || rep.NextID != 6 {
		t.Fatalf("report = %+v, want seed, 3 users, 4 tasks, next id 6 (5 was handed out and deleted)", rep)
	}
	files, _ := fs.Glob(dir, "*.sql")
	if rep.Baseline != strings.SplitN(files[0], "_", 2)[0] || len(rep.Applied.Files) != len(files)-1 {
		t.Fatalf("baseline %s and %d applied, want the first of %v and the rest", rep.Baseline, len(rep.Applied.Files), files)
	}

	// Every row kept: ids, titles, hashes, instants.
	after := queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', id, user_id, title, coalesce(description, '<nil>'), created_at) FROM tasks ORDER BY id`)
	usersAfter := queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', id, name, hashed_password, created_at, updated_at) FROM users ORDER BY id`)
	if !slices.Equal(normalizeTZ(after), normalizeTZ(before)) || !slices.Equal(normalizeTZ(usersAfter), normalizeTZ(usersBefore)) {
		t.Fatalf("rows changed:\n tasks %q\n   was %q\n users %q\n   was %q", after, before, usersAfter, usersBefore)
	}
	var created time.Time
	if err := seed.db.SQL.QueryRow(`SELECT created_at FROM tasks WHERE title = 'Known time'`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC); !created.Equal(want) {
		t.Fatalf("created_at = %s, want %s (the seed's timestamps are UTC)", created.UTC(), want)
	}
	// The service's invariants: emails as it looks them up, booleans set,
	// completed tasks with completed_at.
	got := queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', email, is_active, email_verified) FROM users WHERE name = 'Mixed'`)
	if !slices.Equal(got, []string{"mixed.case@example.com|t|f"}) {
		t.Fatalf("user = %q", got)
	}
	got = queryStrings(t, seed.db.SQL, `SELECT concat_ws('|', title, completed_at = updated_at) FROM tasks WHERE completed ORDER BY id`)
	if !slices.Equal(got, []string{"Call mom|t", "Known time|t"}) {
		t.Fatalf("completed tasks = %q, want completed_at = updated_at", got)
	}
	// A new task continues after the seed's sequence.
	var id int64
	if err := seed.db.SQL.QueryRow(`INSERT INTO tasks (user_id, title) VALUES ('user-123-abc', 'new') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != 6 {
		t.Fatalf("new task id = %d, want 6", id)
	}
	execSQL(t, seed.db.SQL, `DELETE FROM tasks WHERE id = 6`)

	// The schema is the migrations' own, and nothing is pending.
	fresh := emptyPostgres(t)
	fresh.apply(t, dir)
	assertAdoptedSchema(t, seed, fresh)
	if p := seed.pending(t, dir); len(p) != 0 {
		t.Fatalf("pending after adopt: %v", p)
	}
	if seed.tableExists(t, "alembic_version") {
		t.Fatal("alembic_version kept")
	}

	// Safe to run again: nothing to do.
	again := seed.adopt(t, dir)
	if again.State != migrate.AdoptManaged || len(again.Applied.Files) != 0 {
		t.Fatalf("second adopt = %+v", again)
	}
}

// normalizeTZ makes the text of timestamps comparable: timestamptz prints
// with the session's offset, and the tests' sessions are not UTC-bound.
func normalizeTZ(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := strings.Split(r, "|")
		for j, p := range parts {
			for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999"} {
				if ts, err := time.Parse(layout, p); err == nil {
					parts[j] = ts.UTC().Format(time.RFC3339Nano)
					break
				}
			}
		}
		out[i] = strings.Join(parts, "|")
	}
	return out
}

// The baseline revision is the one `atlas migrate apply --baseline` writes,
// so a later apply, ours or the CLI's, starts at the second file.
func TestAdoptBaselineThenApply(t *testing.T) {
	full := embedded(t, dialect.Postgres)
	names, _ := fs.Glob(full, "*.sql")
	first := map[string]string{}
	b, err := fs.ReadFile(full, names[0])
	if err != nil {
		t.Fatal(err)
	}
	first[names[0]] = string(b)

	seed := seedDatabase(t)
	rep := seed.adopt(t, dirOf(t, first))
	if rep.State != migrate.AdoptSeed || len(rep.Applied.Files) != 0 {
		t.Fatalf("report = %+v", rep)
	}
	revs, err := migrate.NewRevisionTable(seed.db.SQL, dialect.Postgres, seed.opts.RevisionsSchema)
	if err != nil {
		t.Fatal(err)
	}
	all, err := revs.ReadRevisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Type != atlas.RevisionTypeBaseline || all[0].Version+"_"+all[0].Description+".sql" != names[0] ||
		all[0].Applied != 0 || all[0].Total != 0 || all[0].Hash != "" {
		t.Fatalf("revisions = %+v, want one baseline of %s", all, names[0])
	}
	rep2 := seed.apply(t, full)
	if len(rep2.Files) != len(names)-1 || rep2.Files[0].Name != names[1] {
		t.Fatalf("apply after adopt ran %+v, want every file after %s", rep2.Files, names[0])
	}
	fresh := emptyPostgres(t)
	fresh.apply(t, full)
	assertAdoptedSchema(t, seed, fresh)
}

// alembicSeed is the seed's Alembic migration (its "Sample Migration
// Script"), as SQLAlchemy renders it on PostgreSQL, with Alembic's table.
const alembicSeed = `
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
CREATE TABLE users (id VARCHAR(36) NOT NULL, email VARCHAR(255) NOT NULL, name VARCHAR(100) NOT NULL, hashed_password VARCHAR(255) NOT NULL,
  created_at TIMESTAMP WITHOUT TIME ZONE DEFAULT NOW() NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  is_active BOOLEAN, email_verified BOOLEAN, PRIMARY KEY (id), UNIQUE (email));
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE TABLE tasks (id SERIAL NOT NULL, user_id VARCHAR(36) NOT NULL, title VARCHAR(200) NOT NULL, description TEXT,
  completed BOOLEAN, created_at TIMESTAMP WITHOUT TIME ZONE DEFAULT NOW() NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  completed_at TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX ix_tasks_user_id ON tasks (user_id);
CREATE INDEX ix_tasks_user_completed ON tasks (user_id, completed);
CREATE INDEX ix_tasks_created_at ON tasks (created_at);
INSERT INTO alembic_version (version_num) VALUES ('001');
INSERT INTO users (id, email, name, hashed_password, updated_at) VALUES ('user-123-abc', 'john@example.com', 'John Doe', '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/X4SIYoqLJ2NXC.Ky2', NOW());
INSERT INTO tasks (user_id, title, updated_at) VALUES ('user-123-abc', 'Buy groceries', NOW());
INSERT INTO users (id, email, name, hashed_password, updated_at) VALUES ('user-scrypt', 'scrypt@example.com', 'S', 'a1b2c3d4:e5f6a7b8', NOW());
`

func TestAdoptAlembicDatabase(t *testing.T) {
	tg := emptyPostgres(t)
	execSQL(t, tg.db.SQL, alembicSeed)
	dir := embedded(t, dialect.Postgres)
	rep := tg.adopt(t, dir)
	if rep.State != migrate.AdoptSeed || rep.Alembic != "001" || rep.Users != 2 || rep.Tasks != 1 || !slices.Equal(rep.Unreadable, []string{"user-scrypt"}) {
		t.Fatalf("report = %+v", rep)
	}
	fresh := emptyPostgres(t)
	fresh.apply(t, dir)
	assertAdoptedSchema(t, tg, fresh)
}

// With search_path in the URL the revisions table lives beside users and
// tasks; it is not taken for a table of another application.
func TestAdoptSearchPathURL(t *testing.T) {
	seed := seedDatabase(t)
	u := seed.url + "&search_path=public"
	tg := target{db: dbtest.Open(t, dbtest.Config(u)), url: u, opts: migrate.ApplyOptions{RevisionsSchema: migrate.RevisionsSchema(u)}}
	dir := embedded(t, dialect.Postgres)
	if rep := tg.adopt(t, dir); rep.State != migrate.AdoptSeed {
		t.Fatalf("report = %+v", rep)
	}
	if !tg.tableExists(t, "public.atlas_schema_revisions") {
		t.Fatal("revisions table not in public")
	}
	if rep := tg.adopt(t, dir); rep.State != migrate.AdoptManaged {
		t.Fatalf("second adopt = %+v", rep)
	}
}

func TestAdoptEmptyDatabaseApplies(t *testing.T) {
	tg := emptyPostgres(t)
	dir := embedded(t, dialect.Postgres)
	rep := tg.adopt(t, dir)
	names, _ := fs.Glob(dir, "*.sql")
	if rep.State != migrate.AdoptEmpty || len(rep.Applied.Files) != len(names) {
		t.Fatalf("report = %+v", rep)
	}
}

// A database that is not the seed's is refused, naming what differs, and
// left as it was.
func TestAdoptRefusesOtherDatabases(t *testing.T) {
	cases := map[string]struct {
		extra string
		want  []string
	}{
		"another table":  {`CREATE TABLE notes (id int)`, []string{`table "notes" is not one of the seed's`}},
		"another column": {`ALTER TABLE tasks ADD COLUMN priority int`, []string{`tasks.priority is not a column of the seed's`}},
		"another type":   {`ALTER TABLE tasks ALTER COLUMN title TYPE varchar(300)`, []string{`tasks.title is character varying(300), the seed's is character varying(200)`}},
		"varchar task ids": {`ALTER TABLE tasks ALTER COLUMN id DROP DEFAULT; ALTER TABLE tasks ALTER COLUMN id TYPE varchar(36)`,
			[]string{`tasks.id is character varying(36), the seed's is integer or bigint`}},
		"a missing column": {`ALTER TABLE users DROP COLUMN email_verified`, []string{`users.email_verified is missing`}},
		"emails that collide": {`INSERT INTO users (id, email, name, hashed_password) VALUES ('u3', 'John@Example.com', 'J', 'x')`,
			[]string{`users "u3" and "user-123-abc" both have the address "john@example.com"`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tg := seedDatabase(t, c.extra)
			_, err := migrate.Adopt(context.Background(), tg.db.SQL, tg.db.Dialect, embedded(t, dialect.Postgres), tg.opts)
			if !errors.Is(err, migrate.ErrNotAdoptable) {
				t.Fatalf("err = %v, want ErrNotAdoptable", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tg.tableExists(t, tg.revisionsTable()) {
				t.Error("revisions table created")
			}
			types := queryStrings(t, tg.db.SQL, `SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'created_at'`)
			if !slices.Equal(types, []string{"timestamp without time zone"}) {
				t.Errorf("users.created_at is %v after a refusal", types)
			}
		})
	}
}

func TestAdoptRefusesSQLite(t *testing.T) {
	tg := emptySQLite(t)
	if _, err := migrate.Adopt(context.Background(), tg.db.SQL, tg.db.Dialect, embedded(t, dialect.SQLite), tg.opts); err == nil || !strings.Contains(err.Error(), "only PostgreSQL") {
		t.Fatalf("err = %v", err)
	}
}

// Two adopts at once: the migration lock lets one convert; the other finds
// the revisions and only applies what is pending.
func TestAdoptConcurrent(t *testing.T) {
	seed := seedDatabase(t)
	dir := embedded(t, dialect.Postgres)
	type result struct {
		rep migrate.AdoptReport
		err error
	}
	res := make(chan result, 2)
	for range 2 {
		go func() {
			rep, err := migrate.Adopt(context.Background(), seed.db.SQL, seed.db.Dialect, dir, seed.opts)
			res <- result{rep, err}
		}()
	}
	states := map[migrate.AdoptState]int{}
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Fatalf("Adopt: %v", r.err)
		}
		states[r.rep.State]++
	}
	if states[migrate.AdoptSeed] != 1 || states[migrate.AdoptManaged] != 1 {
		t.Fatalf("states = %v, want one seed and one managed", states)
	}
	if p := seed.pending(t, dir); len(p) != 0 {
		t.Fatalf("pending: %v", p)
	}
}
