package tasks

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"todo/ent"
	"todo/platform/database"

	"todo/platform/apitest"
)

// countingDriver records every statement the module sends, BEGIN, COMMIT
// and ROLLBACK included: each is a round trip to the database.
type countingDriver struct {
	*entsql.Driver
	mu    sync.Mutex
	stmts []string
}

func (d *countingDriver) record(q string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stmts = append(d.stmts, q)
}

// take returns the statements recorded since the last take.
func (d *countingDriver) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stmts
	d.stmts = nil
	return s
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.record(query)
	return d.Driver.ExecContext(ctx, query, args...)
}

func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.record(query)
	return d.Driver.QueryContext(ctx, query, args...)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

func (d *countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	d.record("BEGIN")
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx.(*entsql.Tx), d: d}, nil
}

// countingTx is a transaction of a countingDriver.
type countingTx struct {
	*entsql.Tx
	d *countingDriver
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.d.record(query)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.d.record(query)
	return t.Tx.Query(ctx, query, args, v)
}

func (t *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.d.record(query)
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.d.record(query)
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *countingTx) Commit() error {
	t.d.record("COMMIT")
	return t.Tx.Commit()
}

func (t *countingTx) Rollback() error {
	t.d.record("ROLLBACK")
	return t.Tx.Rollback()
}

// TestStatementsPerEndpoint pins how many statements (round trips) each
// endpoint sends on both databases, so that a change that adds one fails
// here and must say why.
func TestStatementsPerEndpoint(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.open(t)
			drv := &countingDriver{Driver: entsql.OpenDB(db.Dialect, db.SQL)}
			// Without a pool the module sends its statements outside
			// transactions through the Ent client too (todo serve sends
			// them to pgx directly: the same statements), so all are counted.
			counted := &database.DB{Ent: ent.NewClient(ent.Driver(drv)), SQL: db.SQL, Dialect: db.Dialect}
			e := newTestEnvWith(t, counted, Deps{})
			uid := e.user(t)
			tk := e.create(t, uid, "counted")
			// The first keyed create of a process also purges expired keys.
			e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"warm"}`, http.Header{"Idempotency-Key": {"warm"}})
			tag := e.do(t, uid, http.MethodGet, taskPath(tk.ID), nil).Header.Get("ETag")
			path := taskPath(tk.ID)
			since := e.sync(t, uid, "").NextToken
			// Writes are transactions that start with the bump of the
			// user's counter row (the change number, the counts): BEGIN,
			// bump, the write, COMMIT. On PostgreSQL a create, a PATCH of
			// fields other than completed, a toggle and a delete without
			// If-Match are one statement, the bump in its CTEs (wantPG).
			pg := db.Dialect == dialect.Postgres
			cases := []struct {
				name, method, path, body string
				headers                  http.Header
				status, want             int
				wantPG                   int // when it differs on PostgreSQL
			}{
				{"get", "GET", path, "", nil, 200, 1, 0},
				{"get/missing", "GET", taskPath(tk.ID + 1000), "", nil, 404, 1, 0},
				{"list", "GET", "/api/v1/tasks?limit=1", "", nil, 200, 1, 0},
				{"stats", "GET", "/api/v1/tasks/stats", "", nil, 200, 1, 0},
				{"changes/full", "GET", "/api/v1/tasks/changes?limit=1", "", nil, 200, 1, 0},
				{"changes/since", "GET", "/api/v1/tasks/changes?since=" + since, "", nil, 200, 1, 0},
				{"create", "POST", "/api/v1/tasks", `{"title":"a"}`, nil, 201, 4, 1},
				// BEGIN, bump, INSERT task, INSERT key, COMMIT.
				{"create/idempotency-key", "POST", "/api/v1/tasks", `{"title":"k"}`, http.Header{"Idempotency-Key": {"k"}}, 201, 5, 0},
				// BEGIN, bump, INSERT task, INSERT key (taken), ROLLBACK, SELECT key.
				{"create/idempotency-key-replay", "POST", "/api/v1/tasks", `{"title":"k"}`, http.Header{"Idempotency-Key": {"k"}}, 201, 6, 0},
				{"patch", "PATCH", path, `{"title":"b","completed":true}`, nil, 200, 4, 0},
				{"patch/title", "PATCH", path, `{"title":"b2"}`, nil, 200, 4, 1},
				// BEGIN, bump, UPDATE (matches, changes nothing), ROLLBACK;
				// on PostgreSQL after the one statement, which wrote nothing.
				{"patch/no-change", "PATCH", path, `{"title":"b2"}`, nil, 200, 4, 5},
				{"patch/empty", "PATCH", path, `{}`, nil, 200, 1, 0},
				// BEGIN, bump, SELECT, ROLLBACK.
				{"patch/invalid", "PATCH", path, `{"title":""}`, apitest.Mismatch("an empty title"), 422, 4, 0},
				// BEGIN, bump, SELECT, UPDATE, COMMIT.
				{"patch/if-match", "PATCH", path, `{"title":"c"}`, http.Header{"If-Match": {"*"}}, 200, 5, 0},
				// The same, and the correction of the completed count.
				{"patch/if-match-completed", "PATCH", path, `{"completed":false}`, http.Header{"If-Match": {"*"}}, 200, 6, 0},
				{"toggle", "POST", path + "/toggle", "", nil, 200, 4, 1},
				// BEGIN, bump, SELECT, ROLLBACK.
				{"toggle/stale-if-match", "POST", path + "/toggle", "", http.Header{"If-Match": {tag}}, 412, 4, 0},
				// BEGIN, bump, DELETE, INSERT tombstone, COMMIT.
				{"delete", "DELETE", path, "", nil, 204, 5, 1},
			}
			drv.take()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					var body any
					if tc.body != "" {
						body = tc.body
					}
					res := e.do(t, uid, tc.method, tc.path, body, tc.headers)
					stmts := drv.take()
					if res.Status != tc.status {
						t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
					}
					want := tc.want
					if pg && tc.wantPG != 0 {
						want = tc.wantPG
					}
					if len(stmts) != want {
						t.Fatalf("%d statements, want %d:\n%s", len(stmts), want, strings.Join(stmts, "\n"))
					}
				})
			}
		})
	}
}
