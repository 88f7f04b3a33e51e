package tasks

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"todo/ent"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// recordingDriver remembers the last query the store sent, so that tests can
// EXPLAIN exactly the SQL the store issues.
type recordingDriver struct {
	dialect.Driver
	query string
	args  []any
}

func (d *recordingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.query, d.args = query, args.([]any)
	return d.Driver.Query(ctx, query, args, v)
}

// QueryContext records the statements the store writes out in SQL.
func (d *recordingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.query, d.args = query, args
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

// seedUser inserts n tasks for uid in one statement: every third one
// completed, created a second apart, each written once after the change
// feed was added (change numbers 1 to n), then n/5 tombstones (changes
// n+1 to n+n/5) and the counter row that handed those numbers out.
func seedUser(t testing.TB, db *database.DB, uid string, n int) {
	t.Helper()
	ctx := context.Background()
	_, err := db.SQL.ExecContext(ctx, `
		INSERT INTO tasks (user_id, title, completed, created_at, updated_at, completed_at, change_seq)
		SELECT $1, 'task ' || g, g % 3 = 0,
		       now() - g * interval '1 second', now() - g * interval '1 second',
		       CASE WHEN g % 3 = 0 THEN now() - g * interval '500 millisecond' END, g
		FROM generate_series(1, $2::int) AS g`, uid, n)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	_, err = db.SQL.ExecContext(ctx, `
		INSERT INTO task_tombstones (id, user_id, change_seq, deleted_at)
		SELECT nextval(pg_get_serial_sequence('tasks', 'id')), $1, $2::int + g, now() - (5000 - g) * interval '1 second'
		FROM generate_series(1, $2::int / 5) AS g`, uid, n) // ids of deleted tasks: never handed out again
	if err != nil {
		t.Fatalf("seed tombstones: %v", err)
	}
	_, err = db.SQL.ExecContext(ctx, `
		INSERT INTO task_counters (user_id, seq, total, completed) VALUES ($1, $2::int + $2::int / 5, $2, $2::int / 3)`, uid, n)
	if err != nil {
		t.Fatalf("seed counter: %v", err)
	}
}

// TestListUsesIndexes seeds one user with 100,000 tasks among other users'
// and checks, with EXPLAIN, that every list query, first page and page
// after a cursor, and every change-feed query, full and incremental, is
// read off its indexes in order: an index scan on each intended index and
// no Sort node, in the plan for the actual values and in the generic plan
// a prepared statement may switch to.
func TestListUsesIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200,000 rows")
	}
	db := dbtest.New(t)
	e := newTestEnvWith(t, db, Deps{})
	big, other := e.user(t), e.user(t)
	seedUser(t, db, big, 100_000)
	seedUser(t, db, other, 100_000)
	// Counter rows of other users, so that the planner reads one by its key
	// rather than scanning a table of two rows.
	if _, err := db.SQL.Exec(`
		WITH u AS (INSERT INTO users (id, email, name, hashed_password)
		           SELECT 'filler-' || g, 'filler-' || g || '@example.com', 'F', 'h' FROM generate_series(1, 10000) AS g
		           RETURNING id)
		INSERT INTO task_counters (user_id) SELECT id FROM u`); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"users", "tasks", "task_tombstones", "task_counters"} {
		if _, err := db.SQL.Exec("ANALYZE " + table); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordingDriver{Driver: entsql.OpenDB(dialect.Postgres, db.SQL)}
	st := newStore(ent.NewClient(ent.Driver(rec)), dialect.Postgres, nil)
	after := &position{At: time.Now().Add(-20_000 * time.Second).UTC().Truncate(time.Microsecond), ID: 1 << 40}
	cases := []struct {
		status Status
		index  string
	}{
		{StatusAll, "task_user_id_created_at_id"},
		{StatusPending, "task_user_id_created_at_id_pending"},
		{StatusCompleted, "task_user_id_completed_at_id_completed"},
	}
	for _, tc := range cases {
		for _, page := range []struct {
			name  string
			after *position
		}{{"first", nil}, {"after-cursor", after}} {
			t.Run(fmt.Sprintf("%s/%s", tc.status, page.name), func(t *testing.T) {
				rows, err := st.list(context.Background(), big, tc.status, page.after, 21)
				if err != nil || len(rows) != 21 {
					t.Fatalf("list: %d rows, %v", len(rows), err)
				}
				t.Logf("SQL: %s", rec.query)
				checkPlans(t, db, rec, tc.index)
			})
		}
	}
	// The change feed: a full sync reads the list's index (and the
	// counter row); an incremental one the change-number indexes of tasks
	// and tombstones, from the position on.
	feeds := []struct {
		name    string
		read    func() (int, error)
		indexes []string
	}{
		{"changes/full/first", func() (int, error) {
			tasks, _, err := st.fullPage(context.Background(), big, nil, 501)
			return len(tasks), err
		}, []string{"task_user_id_created_at_id", "task_counters_pkey"}},
		{"changes/full/after-cursor", func() (int, error) {
			tasks, _, err := st.fullPage(context.Background(), big, after, 501)
			return len(tasks), err
		}, []string{"task_user_id_created_at_id", "task_counters_pkey"}},
		{"changes/incremental/recent", func() (int, error) {
			rows, _, err := st.changesAfter(context.Background(), big, 99_990, 501)
			return len(rows), err
		}, []string{"task_user_id_change_seq", "tasktombstone_user_id_change_seq", "task_counters_pkey"}},
		{"changes/incremental/old", func() (int, error) {
			rows, _, err := st.changesAfter(context.Background(), big, 50_000, 501)
			return len(rows), err
		}, []string{"task_user_id_change_seq", "tasktombstone_user_id_change_seq", "task_counters_pkey"}},
	}
	for _, f := range feeds {
		t.Run(f.name, func(t *testing.T) {
			if n, err := f.read(); err != nil || n < 10 {
				t.Fatalf("read: %d rows, %v", n, err)
			}
			t.Logf("SQL: %s", rec.query)
			checkPlans(t, db, rec, f.indexes...)
		})
	}
}

// checkPlans EXPLAINs the last query rec recorded, as planned for its
// values and as a generic plan.
func checkPlans(t *testing.T, db *database.DB, rec *recordingDriver, indexes ...string) {
	t.Helper()
	custom := explain(t, db.SQL, "EXPLAIN (FORMAT JSON) "+rec.query, rec.args...)
	checkPlan(t, "custom plan", custom, indexes...)
	generic := explainGeneric(t, db.SQL, rec.query, rec.args)
	checkPlan(t, "generic plan", generic, indexes...)
}

func explain(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) []byte {
	t.Helper()
	var plan []byte
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&plan); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return plan
}

// explainGeneric EXPLAINs the generic plan of query as a prepared statement.
func explainGeneric(t *testing.T, db *sql.DB, query string, args []any) []byte {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{"SET plan_cache_mode = force_generic_plan", "PREPARE listq AS " + query} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	defer func() {
		_, _ = conn.ExecContext(ctx, "DEALLOCATE listq")
		_, _ = conn.ExecContext(ctx, "RESET plan_cache_mode")
	}()
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case time.Time:
			lits[i] = "'" + v.Format(time.RFC3339Nano) + "'"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	return explain(t, conn, "EXPLAIN (FORMAT JSON) EXECUTE listq("+strings.Join(lits, ", ")+")")
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// checkPlan fails unless the plan scans every one of indexes and sorts
// nothing (and scans no table whole).
func checkPlan(t *testing.T, kind string, raw []byte, indexes ...string) {
	t.Helper()
	var doc []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) != 1 {
		t.Fatalf("%s: decode plan: %v", kind, err)
	}
	used := map[string]bool{}
	var sorts, seqScan bool
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Sort", "Incremental Sort":
			sorts = true
		case "Seq Scan":
			seqScan = true
		case "Index Scan", "Index Only Scan":
			used[n.IndexName] = true
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	for _, index := range indexes {
		if !used[index] || sorts || seqScan {
			t.Fatalf("%s: want index scans on %v, no sort, no sequential scan; plan:\n%s", kind, indexes, raw)
		}
	}
}
