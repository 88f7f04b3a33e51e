package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// TestChangesAccountRecreated: an external account's id is its issuer's
// sub, so an account deleted and then signed in again has the same user id,
// and its change numbers start again from 0. A sync token of the old
// account must not continue in the new one once the new one's numbers pass
// it: the client would keep the old account's tasks and miss the new one's
// first changes, silently. It gets a 410 and syncs in full.
func TestChangesAccountRecreated(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			old1, old2 := e.create(t, uid, "old 1"), e.create(t, uid, "old 2")
			e.do(t, uid, http.MethodPatch, taskPath(old1.ID), map[string]any{"title": "old 1b"})
			local := map[int64]taskJSON{}
			token := e.syncToEnd(t, uid, "", local, 0)
			if len(local) != 2 || local[old2.ID].Title != "old 2" {
				t.Fatalf("first sync: %+v", local)
			}

			// The account is deleted and created again with the same id, a
			// moment later.
			if err := e.db.Ent.User.DeleteOneID(uid).Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
			if err := e.db.Ent.User.Create().SetID(uid).SetEmail("again-" + uid + "@example.com").
				SetName("Again").SetHashedPassword("not-a-hash").Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, title := range []string{"new 1", "new 2", "new 3", "new 4"} {
				e.create(t, uid, title)
			}
			res := e.do(t, uid, http.MethodGet, changesPath(token, 0), nil)
			if res.Status == http.StatusOK {
				var page changesJSON
				res.JSON(&page)
				apply(local, page)
				t.Fatalf("the old account's token continued in the new account: %d changes; the local copy now differs:\n%s",
					len(page.Changes), diffTasks(local, e.serverTasks(t, uid)))
			}
			wantStatus(t, res, http.StatusGone, "sync_token_expired")
			// A full sync recovers.
			local = map[int64]taskJSON{}
			next := e.syncToEnd(t, uid, "", local, 3)
			if d := diffTasks(local, e.serverTasks(t, uid)); d != "" || len(local) != 4 {
				t.Fatalf("full sync after the 410:\n%s", d)
			}
			e.create(t, uid, "new 5")
			e.syncToEnd(t, uid, next, local, 0)
			if d := diffTasks(local, e.serverTasks(t, uid)); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// TestChangesNotStalledByAnotherWrite holds one user's write transaction
// open (its counter row bumped and a task rewritten, not committed) while
// the feed is read: neither that user's feed nor another user's waits for
// it, the uncommitted change is not sent (its number is not handed out to
// a token), and it is sent once committed. On PostgreSQL another user's
// writes go on too; on SQLite the one write lock makes them wait, which is
// the embedded database's rule, not the feed's.
func TestChangesNotStalledByAnotherWrite(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			a, other := e.user(t), e.user(t)
			held := e.create(t, a, "held")
			e.create(t, other, "other")
			tokenA := e.syncToEnd(t, a, "", map[int64]taskJSON{}, 0)
			tokenOther := e.syncToEnd(t, other, "", map[int64]taskJSON{}, 0)

			tx, err := e.db.SQL.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback() }()
			var seq int64
			if err := tx.QueryRowContext(t.Context(), `UPDATE task_counters SET seq = seq + 1 WHERE user_id = $1 RETURNING seq`, a).Scan(&seq); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(t.Context(), `UPDATE tasks SET title = 'in flight', change_seq = $1 WHERE id = $2`, seq, held.ID); err != nil {
				t.Fatal(err)
			}

			done := make(chan error, 1)
			go func() {
				done <- func() error {
					for _, r := range []struct{ uid, since string }{{a, tokenA}, {a, ""}, {other, tokenOther}, {other, ""}} {
						page, err := e.syncPage(r.uid, r.since, 0)
						if err != nil {
							return err
						}
						for _, c := range page.Changes {
							if c.Task != nil && c.Task.Title == "in flight" {
								return fmt.Errorf("an uncommitted change was sent: %+v", c)
							}
						}
						if r.since != "" && len(page.Changes) != 0 {
							return fmt.Errorf("changes while nothing committed: %+v", page.Changes)
						}
					}
					if b.name == "postgres" {
						if st, body, _, err := e.send(other, http.MethodPost, "/api/v1/tasks", `{"title":"meanwhile"}`, nil); err != nil || st != http.StatusCreated {
							return fmt.Errorf("another user's create: %d %s %w", st, body, err)
						}
						if page, err := e.syncPage(other, tokenOther, 0); err != nil || len(page.Changes) != 1 {
							return fmt.Errorf("another user's feed: %+v, %w", page, err)
						}
					}
					return nil
				}()
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute): // a liveness guard, not a speed check
				t.Fatal("the feed waited for another transaction")
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			page := e.sync(t, a, tokenA)
			if len(page.Changes) != 1 || page.Changes[0].Task == nil || page.Changes[0].Task.Title != "in flight" {
				t.Fatalf("after the commit: %+v", page.Changes)
			}
		})
	}
}

// TestChangesPurgeRace purges every tombstone again and again (a cutoff
// in the future: all of them count as expired) while writers create,
// change and delete one user's tasks and a client follows the feed with
// small pages. The client may be answered 410 at any page, and then syncs
// in full as docs/sync.md says; it must never be answered a page that
// leaves it with a deletion missed. After the writers and the purger stop
// and the client has synced to the end, its copy equals the server's.
func TestChangesPurgeRace(t *testing.T) {
	soak := syncSoak(t) / 3
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			deadline := time.Now().Add(soak)
			gone := 0
			for seed := uint64(1); seed == 1 || time.Now().Before(deadline); seed++ {
				n, err := runPurgeRace(t, e, seed)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				gone += n
			}
			// How often a purge overtook the client depends on timing (a
			// single 410 per purge is the deterministic case,
			// TestChangesExpiry); what must hold is the convergence above.
			t.Logf("%d answers 410 over the seeds", gone)
		})
	}
}

// runPurgeRace runs one seed on a new user and returns how many 410s the
// client was answered.
func runPurgeRace(t *testing.T, e *testEnv, seed uint64) (int, error) {
	rng := rand.New(rand.NewPCG(seed, 99))
	uid := e.user(t)
	pool := &idPool{}
	for i := range 10 {
		pool.add(e.create(t, uid, fmt.Sprint("initial ", i)).ID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range uint64(3) {
		wg.Go(func() { errs <- e.randomWrites(uid, rand.New(rand.NewPCG(seed, w+1)), pool, w) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		for {
			if _, err := e.mod.h.svc.store.purgeTombstones(context.Background(), time.Now().Add(time.Hour), 10); err != nil {
				errs <- fmt.Errorf("purge: %w", err)
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()

	local, since, gone := map[int64]taskJSON{}, "", 0
	// step syncs one page; a 410 starts a full sync into a new copy.
	step := func() (bool, error) {
		st, body, _, err := e.send(uid, http.MethodGet, changesPath(since, 1+rng.IntN(4)), "", nil)
		switch {
		case err != nil:
			return false, err
		case st == http.StatusGone:
			gone++
			clear(local)
			since = ""
			return true, nil
		case st != http.StatusOK:
			return false, fmt.Errorf("changes since %q: %d %s", since, st, body)
		}
		var page changesJSON
		if err := json.Unmarshal(body, &page); err != nil {
			return false, err
		}
		apply(local, page)
		since = page.NextToken
		return page.HasMore, nil
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if _, err := step(); err != nil {
				<-done
				<-purged
				return gone, err
			}
		}
	}
	<-purged
	close(errs)
	for err := range errs {
		if err != nil {
			return gone, err
		}
	}
	for more, i := true, 0; more; i++ {
		if i == 10_000 {
			return gone, fmt.Errorf("the feed does not end")
		}
		var err error
		if more, err = step(); err != nil {
			return gone, err
		}
	}
	if d := diffTasks(local, e.serverTasks(t, uid)); d != "" {
		return gone, fmt.Errorf("the synced copy differs from the server:\n%s", d)
	}
	return gone, nil
}

// TestChangesReplayedCreateOfDeletedTask: a create repeated with its
// Idempotency-Key after the task was deleted answers the first response
// again (the contract's replay), while the feed says the task is gone; a
// client that lets the feed decide (docs/sync.md) ends with no such task,
// and the replay created nothing for the feed to send.
func TestChangesReplayedCreateOfDeletedTask(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			key := http.Header{"Idempotency-Key": []string{"phone-1"}}
			first := e.do(t, uid, http.MethodPost, "/api/v1/tasks", map[string]any{"title": "once"}, key)
			wantStatus(t, first, http.StatusCreated, "")
			var created taskJSON
			first.JSON(&created)
			local := map[int64]taskJSON{}
			token := e.syncToEnd(t, uid, "", local, 0)
			wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(created.ID), nil), http.StatusNoContent, "")
			again := e.do(t, uid, http.MethodPost, "/api/v1/tasks", map[string]any{"title": "once"}, key)
			wantStatus(t, again, http.StatusCreated, "")
			if string(again.Body) != string(first.Body) {
				t.Fatalf("replay %s, first %s", again.Body, first.Body)
			}
			page := e.sync(t, uid, token)
			if len(page.Changes) != 1 || page.Changes[0].Op != "delete" || page.Changes[0].ID != created.ID {
				t.Fatalf("after delete and replay: %+v", page.Changes)
			}
			apply(local, page)
			if d := diffTasks(local, e.serverTasks(t, uid)); d != "" || len(local) != 0 {
				t.Fatalf("local %+v:\n%s", local, d)
			}
			if quiet := e.sync(t, uid, page.NextToken); len(quiet.Changes) != 0 {
				t.Fatalf("the replay was sent as a change: %+v", quiet.Changes)
			}
		})
	}
}

// TestChangesUserRowWrittenBySQL: a users row written by SQL with the
// column defaults (created_at from CURRENT_TIMESTAMP, SQLite's own text
// layout) is read by the feed, whose tokens carry that created_at.
func TestChangesUserRowWrittenBySQL(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			const uid = "0f0e0d0c-0b0a-4908-8706-050403020100"
			if _, err := e.db.SQL.ExecContext(t.Context(),
				`INSERT INTO users (id, email, name, hashed_password) VALUES ($1, 'sql@example.com', 'SQL', 'x')`, uid); err != nil {
				t.Fatal(err)
			}
			e.create(t, uid, "a")
			local := map[int64]taskJSON{}
			token := e.syncToEnd(t, uid, "", local, 0)
			e.create(t, uid, "b")
			e.syncToEnd(t, uid, token, local, 0)
			if d := diffTasks(local, e.serverTasks(t, uid)); d != "" || len(local) != 2 {
				t.Fatal(d)
			}
		})
	}
}

// TestQueuedWritesLeaveThePoolToOthers: a user's writes run one at a time
// (each holds the user's counter row to commit), so while one of them is
// slow, the user's other writes wait. They must not wait holding the
// database connections everyone shares: with a pool of two, three writes
// of one user queued behind a held counter row left no connection for
// another user's feed, which was a 503 after the acquire timeout.
func TestQueuedWritesLeaveThePoolToOthers(t *testing.T) {
	_, u := dbtest.NewWithURL(t)
	cfg := dbtest.Config(u)
	cfg.MaxConns, cfg.AcquireTimeout = 2, time.Second
	e := newTestEnvWith(t, dbtest.Open(t, cfg), Deps{})
	holder := dbtest.Open(t, dbtest.Config(u)) // another pool: the slow write
	a, b := e.user(t), e.user(t)
	e.create(t, a, "a")
	e.create(t, b, "b")
	token := e.syncToEnd(t, b, "", map[int64]taskJSON{}, 0)

	tx, err := holder.SQL.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), `UPDATE task_counters SET seq = seq WHERE user_id = $1`, a); err != nil {
		t.Fatal(err)
	}
	const writes = 3
	answers := make(chan int, writes)
	for range writes {
		go func() {
			st, _, _, _ := e.send(a, http.MethodPost, "/api/v1/tasks", `{"title":"queued"}`, nil)
			answers <- st
		}()
	}
	// Wait until every write is queued: behind the row lock in the
	// database, or before it in the process.
	for {
		var inDB int
		if err := holder.SQL.QueryRowContext(t.Context(),
			`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&inDB); err != nil {
			t.Fatal(err)
		}
		if inDB >= int(cfg.MaxConns) || inDB+e.mod.h.svc.store.gate.waiting() >= writes {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, body, _, err := e.send(b, http.MethodGet, changesPath(token, 0), "", nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("another user's feed while one user's writes queue: %d %s %v", st, body, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range writes {
		if st := <-answers; st != http.StatusCreated {
			t.Fatalf("a queued write: %d", st)
		}
	}
}
