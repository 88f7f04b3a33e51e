package tasks

import (
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// TestPoolExhaustedEveryEndpoint503: with the pool's only connection held,
// every endpoint answers a 503 problem after DB_ACQUIRE_TIMEOUT (never a
// hang, never a 500), and once it is free again every one works and no
// connection stays acquired.
func TestPoolExhaustedEveryEndpoint503(t *testing.T) {
	_, u := dbtest.NewWithURL(t)
	cfg := dbtest.Config(u)
	cfg.MaxConns, cfg.AcquireTimeout = 1, 300*time.Millisecond
	db := dbtest.Open(t, cfg)
	e := newTestEnvWith(t, db, Deps{})
	uid := e.user(t)
	tk := e.create(t, uid, "a")
	tk2 := e.create(t, uid, "b")
	token := e.syncToEnd(t, uid, "", map[int64]taskJSON{}, 0)
	reqs := []struct{ method, path, body, key string }{
		{"GET", "/api/v1/tasks", "", ""},
		{"GET", taskPath(tk.ID), "", ""},
		{"GET", "/api/v1/tasks/stats", "", ""},
		{"GET", "/api/v1/tasks/changes", "", ""},
		{"GET", changesPath(token, 0), "", ""},
		{"POST", "/api/v1/tasks", `{"title":"x"}`, ""},
		{"POST", "/api/v1/tasks", `{"title":"x"}`, "k1"},
		{"PATCH", taskPath(tk.ID), `{"title":"y"}`, ""},
		{"PATCH", taskPath(tk.ID), `{"completed":true}`, ""},
		{"POST", taskPath(tk.ID) + "/toggle", "", ""},
		{"DELETE", taskPath(tk2.ID), "", ""},
	}
	held, err := db.Pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		h := http.Header{}
		if r.key != "" {
			h.Set("Idempotency-Key", r.key)
		}
		began := time.Now()
		st, body, hdr, err := e.send(uid, r.method, r.path, r.body, h)
		if err != nil || st != http.StatusServiceUnavailable || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s with the pool exhausted: %d %s %s %v", r.method, r.path, st, hdr.Get("Content-Type"), body, err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("%s %s took %s", r.method, r.path, d)
		}
	}
	held.Release()
	for _, r := range reqs {
		h := http.Header{}
		if r.key != "" {
			h.Set("Idempotency-Key", r.key)
		}
		if st, body, _, err := e.send(uid, r.method, r.path, r.body, h); err != nil || st >= 500 {
			t.Errorf("%s %s after: %d %s %v", r.method, r.path, st, body, err)
		}
	}
	if n := db.Pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections still acquired", n)
	}
}

// TestOneStatementSnapshotBeforeLock (PostgreSQL): a one-statement write
// takes its snapshot, then waits for the user's row, which another
// process's write holds; that write changes the task (toggles, deletes or
// creates it) and commits. Once it has the lock, the statement must act on
// the task as it now is: the right answer, counts equal to the real ones,
// change numbers unique and the counter's the highest.
func TestOneStatementSnapshotBeforeLock(t *testing.T) {
	e := newTestEnv(t, backends[0])
	ctx := t.Context()
	const bumpSeq = `UPDATE "task_counters" SET "seq" = "seq" + 1, "total" = "total" + $2, "completed" = "completed" + $3 WHERE "user_id" = $1 RETURNING "seq"`
	type holderFn func(tx *sql.Tx, uid string, id int64) (int64, error) // returns the id to write to
	toggle := func(tx *sql.Tx, uid string, id int64) (int64, error) {
		var done bool
		if err := tx.QueryRowContext(ctx, `UPDATE "tasks" SET "completed" = NOT "completed", "completed_at" = CASE WHEN "completed" THEN NULL ELSE now() END, "updated_at" = now() WHERE "id" = $1 RETURNING "completed"`, id).Scan(&done); err != nil {
			return 0, err
		}
		d := -1
		if done {
			d = 1
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, bumpSeq, uid, 0, d).Scan(&seq); err != nil {
			return 0, err
		}
		_, err := tx.ExecContext(ctx, `UPDATE "tasks" SET "change_seq" = $2 WHERE "id" = $1`, id, seq)
		return id, err
	}
	del := func(tx *sql.Tx, uid string, id int64) (int64, error) {
		var done bool
		if err := tx.QueryRowContext(ctx, `DELETE FROM "tasks" WHERE "id" = $1 RETURNING "completed"`, id).Scan(&done); err != nil {
			return 0, err
		}
		d := 0
		if done {
			d = -1
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, bumpSeq, uid, -1, d).Scan(&seq); err != nil {
			return 0, err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO "task_tombstones" ("id", "user_id", "change_seq", "deleted_at") VALUES ($1, $2, $3, now())`, id, uid, seq)
		return id, err
	}
	create := func(tx *sql.Tx, uid string, _ int64) (int64, error) {
		var seq, id int64
		if err := tx.QueryRowContext(ctx, bumpSeq, uid, 1, 0).Scan(&seq); err != nil {
			return 0, err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO "tasks" ("user_id", "title", "completed", "created_at", "updated_at", "change_seq") VALUES ($1, 'new', false, now(), now(), $2) RETURNING "id"`, uid, seq).Scan(&id)
		return id, err
	}
	writes := []struct{ method, suffix, body string }{
		{"POST", "/toggle", ""},
		{"DELETE", "", ""},
		{"PATCH", "", `{"title":"patched"}`},
		{"POST", "create", `{"title":"c"}`},
	}
	holders := map[string]holderFn{"toggle": toggle, "delete": del, "create": create}
	for hname, hold := range holders {
		for _, w := range writes {
			for _, startDone := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s-then-%s%s-completed-%v", hname, w.method, w.suffix, startDone), func(t *testing.T) {
					uid := e.user(t)
					tk := e.create(t, uid, "t")
					e.create(t, uid, "other")
					if startDone {
						e.do(t, uid, http.MethodPost, taskPath(tk.ID)+"/toggle", nil)
					}
					tx, err := e.db.SQL.BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = tx.Rollback() }()
					if _, err := tx.ExecContext(ctx, `SELECT 1 FROM "users" WHERE "id" = $1 FOR NO KEY UPDATE`, uid); err != nil {
						t.Fatal(err)
					}
					id := tk.ID
					if hname == "create" {
						if id, err = hold(tx, uid, 0); err != nil {
							t.Fatal(err)
						}
					}
					path := taskPath(id) + w.suffix
					if w.suffix == "create" {
						path = "/api/v1/tasks"
					}
					type answer struct {
						st   int
						body []byte
					}
					ans := make(chan answer, 1)
					go func() {
						st, body, _, _ := e.send(uid, w.method, path, w.body, nil)
						ans <- answer{st, body}
					}()
					for {
						var n int
						if err := e.db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
							t.Fatal(err)
						}
						if n > 0 {
							break
						}
						time.Sleep(2 * time.Millisecond)
					}
					if hname != "create" {
						if _, err := hold(tx, uid, id); err != nil {
							t.Fatal(err)
						}
					}
					if err := tx.Commit(); err != nil {
						t.Fatal(err)
					}
					a := <-ans
					want := http.StatusOK
					switch {
					case w.suffix == "create":
						want = http.StatusCreated
					case hname == "delete":
						want = http.StatusNotFound
					case w.method == "DELETE":
						want = http.StatusNoContent
					}
					if a.st != want {
						t.Errorf("answer %d %s, want %d", a.st, a.body, want)
					}
					checkCounter(t, e, uid)
				})
			}
		}
	}
}

// checkCounter compares the user's counter row with their tasks and
// tombstones.
func checkCounter(t *testing.T, e *testEnv, uid string) {
	t.Helper()
	var seq, total, completed, realTotal, realCompleted, maxSeq, n, distinct int64
	if err := e.db.SQL.QueryRowContext(t.Context(), `SELECT "seq", "total", "completed" FROM "task_counters" WHERE "user_id" = $1`, uid).Scan(&seq, &total, &completed); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SQL.QueryRowContext(t.Context(), `SELECT COUNT(*), COALESCE(SUM(CASE WHEN "completed" THEN 1 ELSE 0 END), 0) FROM "tasks" WHERE "user_id" = $1`, uid).Scan(&realTotal, &realCompleted); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SQL.QueryRowContext(t.Context(), `SELECT COALESCE(MAX(s), 0), COUNT(s), COUNT(DISTINCT s) FROM (SELECT "change_seq" AS s FROM "tasks" WHERE "user_id" = $1 UNION ALL SELECT "change_seq" FROM "task_tombstones" WHERE "user_id" = $1) AS c`, uid).Scan(&maxSeq, &n, &distinct); err != nil {
		t.Fatal(err)
	}
	if total != realTotal || completed != realCompleted {
		t.Errorf("counter total %d completed %d; real %d, %d", total, completed, realTotal, realCompleted)
	}
	if maxSeq > seq || n != distinct {
		t.Errorf("counter seq %d; highest change number %d; %d numbers, %d distinct", seq, maxSeq, n, distinct)
	}
}

// TestFirstWritesRace: a user without a counter row (new, or whose tasks
// predate the feed) gets concurrent first writes of every kind through two
// modules (two gates): every one succeeds (or is a 404 for a task deleted
// by another), and the counter row then matches the tasks.
func TestFirstWritesRace(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			envs := []*testEnv{e, newTestEnvWith(t, e.db, Deps{})}
			for round := range 15 {
				uid := e.user(t)
				var ids []int64
				if round%2 == 1 { // legacy tasks: no counter row, no change numbers
					for i := range 4 {
						tk, err := e.db.Ent.Task.Create().SetUserID(uid).SetTitle(fmt.Sprint(i)).SetCompleted(i%2 == 0).Save(t.Context())
						if err != nil {
							t.Fatal(err)
						}
						ids = append(ids, tk.ID)
					}
				}
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Go(func() {
						env := envs[w%2]
						method, path, body := "POST", "/api/v1/tasks", `{"title":"n"}`
						if len(ids) > 0 {
							id := ids[w%len(ids)]
							switch w % 4 {
							case 1:
								method, path, body = "POST", taskPath(id)+"/toggle", ""
							case 2:
								method, path, body = "PATCH", taskPath(id), `{"title":"p"}`
							case 3:
								method, path, body = "DELETE", taskPath(id), ""
							}
						}
						st, resp, _, err := env.send(uid, method, path, body, nil)
						if err != nil || st >= 500 || st == http.StatusConflict {
							t.Errorf("%s %s: %d %s %v", method, path, st, resp, err)
						}
					})
				}
				wg.Wait()
				checkCounter(t, e, uid)
			}
		})
	}
}
