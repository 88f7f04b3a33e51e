package tasks

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The property test of the change feed runs for syncSoakDefault per
// database, seed after seed, unless TASKS_SYNC_SOAK sets another duration
// (TASKS_SYNC_SOAK=10m go test -run TestChangesConverge ./modules/tasks);
// TASKS_SYNC_SEED=N runs seed N first.
const syncSoakDefault = 15 * time.Second

func syncSoak(t *testing.T) time.Duration {
	if v := os.Getenv("TASKS_SYNC_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TASKS_SYNC_SOAK: %v", err)
		}
		return d
	}
	if testing.Short() {
		return 2 * time.Second
	}
	return syncSoakDefault
}

// TestChangesConverge is the feed's guarantee as a property: while several
// writers create, PATCH, toggle and delete one user's tasks at random
// (with and without If-Match and Idempotency-Key), a client follows the
// feed with random page sizes, sometimes applies a page twice, goes back to
// an older token or starts over with a full sync. Once the writers stop and
// the client has synced to the end, its copy equals the server's tasks
// exactly, the stats (served from the counter row) equal its counts, and
// no change number was used twice. The writers go through two modules on
// the database (two processes: two gates) whose clocks are 4 ms apart, so
// that the one-statement writes (PostgreSQL) and the transactions of two
// processes meet, and a write stamped earlier than the one before it.
func TestChangesConverge(t *testing.T) {
	soak := syncSoak(t)
	first := rand.Uint64() % 1_000_000
	if v := os.Getenv("TASKS_SYNC_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TASKS_SYNC_SEED: %v", err)
		}
		first = n
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnvWith(t, b.open(t), Deps{Now: func() time.Time { return time.Now().Add(2 * time.Millisecond) }})
			other := newTestEnvWith(t, e.db, Deps{Now: func() time.Time { return time.Now().Add(-2 * time.Millisecond) }})
			deadline := time.Now().Add(soak)
			seeds := 0
			for seed := first; seeds == 0 || time.Now().Before(deadline); seed++ {
				if err := runSyncProperty(t, []*testEnv{e, other}, seed); err != nil {
					t.Fatalf("seed %d (TASKS_SYNC_SEED=%d reruns it): %v", seed, seed, err)
				}
				seeds++
			}
			t.Logf("%d seeds from %d in %s", seeds, first, soak)
		})
	}
}

// writerOps is how many requests each writer sends per seed.
const writerOps = 40

// runSyncProperty runs one seed on a new user: writers take turns among
// envs, the client syncs through the first.
func runSyncProperty(t *testing.T, envs []*testEnv, seed uint64) error {
	e := envs[0]
	rng := rand.New(rand.NewPCG(seed, 0))
	uid := e.user(t)
	pool := &idPool{}
	for i := range rng.IntN(15) {
		pool.add(e.create(t, uid, fmt.Sprint("initial ", i)).ID)
	}
	writers := 2 + rng.Uint64N(3)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			errs <- envs[w%uint64(len(envs))].randomWrites(uid, rand.New(rand.NewPCG(seed, w+1)), pool, w)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	local := map[int64]taskJSON{}
	var tokens []string
	since := ""
	limit := func() int { return 1 + rng.IntN(8) }
	step := func() error {
		page, err := e.syncPage(uid, since, limit())
		if err != nil {
			return err
		}
		apply(local, page)
		if rng.IntN(10) == 0 {
			apply(local, page) // a page applied twice
		}
		since = page.NextToken
		tokens = append(tokens, since)
		switch n := rng.IntN(40); {
		case n == 0: // start over; tokens from before no longer match the copy
			clear(local)
			since, tokens = "", nil
		case n == 1 && len(tokens) > 1: // go back to an older token
			since = tokens[rng.IntN(len(tokens))]
		}
		return nil
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if err := step(); err != nil {
				<-done
				return err
			}
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	// The writers have stopped: follow the feed to its end.
	for range 10_000 {
		page, err := e.syncPage(uid, since, limit())
		if err != nil {
			return err
		}
		apply(local, page)
		since = page.NextToken
		if !page.HasMore {
			break
		}
	}
	if d := diffTasks(local, e.serverTasks(t, uid)); d != "" {
		return fmt.Errorf("the synced copy differs from the server:\n%s", d)
	}
	quiet, err := e.syncPage(uid, since, limit())
	if err != nil {
		return err
	}
	if len(quiet.Changes) != 0 || quiet.HasMore {
		return fmt.Errorf("after the end, nothing changed, yet: %+v", quiet)
	}
	var twice int
	if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM (SELECT "change_seq" FROM (SELECT "change_seq" FROM "tasks" WHERE "user_id" = $1 AND "change_seq" IS NOT NULL `+
		`UNION ALL SELECT "change_seq" FROM "task_tombstones" WHERE "user_id" = $1) AS "s" GROUP BY "change_seq" HAVING COUNT(*) > 1) AS "d"`, uid).Scan(&twice); err != nil {
		return fmt.Errorf("count change numbers used twice: %w", err)
	}
	if twice > 0 {
		return fmt.Errorf("%d change numbers used twice", twice)
	}
	return e.checkStats(t, uid, local)
}

// syncPage is sync for any goroutine: an error instead of a failed test.
func (e *testEnv) syncPage(uid, since string, limit int) (changesJSON, error) {
	st, body, _, err := e.send(uid, http.MethodGet, changesPath(since, limit), "", nil)
	if err != nil {
		return changesJSON{}, err
	}
	if st != http.StatusOK {
		return changesJSON{}, fmt.Errorf("changes since %q: status %d: %s", since, st, body)
	}
	var page changesJSON
	if err := json.Unmarshal(body, &page); err != nil {
		return changesJSON{}, err
	}
	return page, checkPage(page, limit)
}

// checkStats compares GET /tasks/stats with a copy of the user's tasks.
func (e *testEnv) checkStats(t *testing.T, uid string, local map[int64]taskJSON) error {
	var st Stats
	e.do(t, uid, http.MethodGet, "/api/v1/tasks/stats", nil).JSON(&st)
	var want Stats
	for _, tk := range local {
		want.Total++
		if tk.Completed {
			want.Completed++
		}
	}
	want.Pending = want.Total - want.Completed
	if st != want {
		return fmt.Errorf("stats %+v, want %+v", st, want)
	}
	return nil
}

// idPool is the ids writers pick from: every task created, deleted or not.
type idPool struct {
	mu  sync.Mutex
	ids []int64
}

func (p *idPool) add(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
}

func (p *idPool) pick(r *rand.Rand) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return 0, false
	}
	return p.ids[r.IntN(len(p.ids))], true
}

// randomWrites sends writerOps random writes as uid. Any answer but a
// success, a 404 (a task deleted meanwhile), a 412 (a stale If-Match) or a
// 422 (an invalid PATCH, on purpose) is an error.
func (e *testEnv) randomWrites(uid string, r *rand.Rand, pool *idPool, w uint64) error {
	for i := range writerOps {
		method, path, body := http.MethodPost, "/api/v1/tasks", ""
		h := http.Header{}
		id, ok := pool.pick(r)
		op := r.IntN(20)
		if !ok {
			op = 0
		}
		if r.IntN(4) == 0 {
			h.Set("If-Match", "*")
		}
		switch {
		case op < 5: // create
			h.Del("If-Match")
			body = fmt.Sprintf(`{"title":"w%d-%d"}`, w, i)
			if r.IntN(3) == 0 {
				body = fmt.Sprintf(`{"title":"w%d-%d","description":"d"}`, w, i)
				h.Set("Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
			}
		case op < 11: // PATCH
			method, path = http.MethodPatch, taskPath(id)
			body = []string{
				fmt.Sprintf(`{"title":"p%d-%d"}`, w, i),
				`{"completed":true}`, `{"completed":false}`,
				fmt.Sprintf(`{"title":"p%d-%d","completed":%v}`, w, i, r.IntN(2) == 0),
				`{"description":null}`, `{"description":"x"}`,
				`{"title":"same"}`, `{"title":"   "}`,
			}[r.IntN(8)]
		case op < 16: // toggle
			method, path = http.MethodPost, taskPath(id)+"/toggle"
		default:
			method, path = http.MethodDelete, taskPath(id)
		}
		st, resp, _, err := e.send(uid, method, path, body, h)
		if err != nil {
			return err
		}
		switch st {
		case http.StatusCreated:
			var tk taskJSON
			if err := json.Unmarshal(resp, &tk); err != nil {
				return err
			}
			pool.add(tk.ID)
		case http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
		default:
			return fmt.Errorf("%s %s %s: status %d: %s", method, path, body, st, resp)
		}
	}
	return nil
}
