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
// completed, created a second apart.
func seedUser(t testing.TB, db *database.DB, uid string, n int) {
	t.Helper()
	_, err := db.SQL.ExecContext(context.Background(), `
		INSERT INTO tasks (user_id, title, completed, created_at, updated_at, completed_at)
		SELECT $1, 'task ' || g, g % 3 = 0,
		       now() - g * interval '1 second', now() - g * interval '1 second',
		       CASE WHEN g % 3 = 0 THEN now() - g * interval '500 millisecond' END
		FROM generate_series(1, $2::int) AS g`, uid, n)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// TestListUsesIndexes seeds one user with 100,000 tasks among other users'
// and checks, with EXPLAIN, that every list query, first page and page
// after a cursor, is read off its index in order: an index scan on the
// intended index and no Sort node, in the plan for the actual values and
// in the generic plan a prepared statement may switch to.
func TestListUsesIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200,000 rows")
	}
	db := dbtest.New(t)
	e := newTestEnvWith(t, db, Deps{})
	big, other := e.user(t), e.user(t)
	seedUser(t, db, big, 100_000)
	seedUser(t, db, other, 100_000)
	if _, err := db.SQL.Exec("ANALYZE tasks"); err != nil {
		t.Fatal(err)
	}
	rec := &recordingDriver{Driver: entsql.OpenDB(dialect.Postgres, db.SQL)}
	st := &store{db: ent.NewClient(ent.Driver(rec))}
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
				custom := explain(t, db.SQL, "EXPLAIN (FORMAT JSON) "+rec.query, rec.args...)
				checkPlan(t, "custom plan", custom, tc.index)
				generic := explainGeneric(t, db.SQL, rec.query, rec.args)
				checkPlan(t, "generic plan", generic, tc.index)
			})
		}
	}
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

func checkPlan(t *testing.T, kind string, raw []byte, index string) {
	t.Helper()
	var doc []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) != 1 {
		t.Fatalf("%s: decode plan: %v", kind, err)
	}
	var usesIndex, sorts bool
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.NodeType {
		case "Sort", "Incremental Sort":
			sorts = true
		case "Index Scan", "Index Only Scan":
			usesIndex = usesIndex || n.IndexName == index
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	if !usesIndex || sorts {
		t.Fatalf("%s: want an index scan on %s and no sort; plan:\n%s", kind, index, raw)
	}
}
