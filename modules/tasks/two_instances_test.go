package tasks

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// TestTwoInstancesConverge: two modules (two processes: two gates, clocks
// 4 ms apart) on one PostgreSQL database write the same user's tasks at
// once, through the one-statement writes and the transactions alike, while
// a client follows the change feed; the copy must converge, the counts be
// exact and no change number be used twice.
func TestTwoInstancesConverge(t *testing.T) {
	db := dbtest.New(t)
	e1 := newTestEnvWith(t, db, Deps{Now: func() time.Time { return time.Now().Add(2 * time.Millisecond) }})
	e2 := newTestEnvWith(t, db, Deps{Now: func() time.Time { return time.Now().Add(-2 * time.Millisecond) }})
	for seed := uint64(1); seed <= 20; seed++ {
		uid := e1.user(t)
		pool := &idPool{}
		for i := range 10 {
			pool.add(e1.create(t, uid, fmt.Sprint("initial ", i)).ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range uint64(6) {
			e := e1
			if w%2 == 1 {
				e = e2
			}
			wg.Go(func() { errs <- e.randomWrites(uid, rand.New(rand.NewPCG(seed, w+1)), pool, w) })
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		local := map[int64]taskJSON{}
		since := ""
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
				page, err := e2.syncPage(uid, since, 3)
				if err != nil {
					<-done
					t.Fatal(err)
				}
				apply(local, page)
				since = page.NextToken
			}
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
		for range 10000 {
			page, err := e1.syncPage(uid, since, 5)
			if err != nil {
				t.Fatal(err)
			}
			apply(local, page)
			since = page.NextToken
			if !page.HasMore {
				break
			}
		}
		if d := diffTasks(local, e1.serverTasks(t, uid)); d != "" {
			t.Fatalf("seed %d: copy differs:\n%s", seed, d)
		}
		if err := e1.checkStats(t, uid, local); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var dup int
		if err := db.SQL.QueryRow(`SELECT count(*) FROM (SELECT change_seq FROM (SELECT change_seq FROM tasks WHERE user_id = $1 AND change_seq IS NOT NULL `+
			`UNION ALL SELECT change_seq FROM task_tombstones WHERE user_id = $1) AS s GROUP BY change_seq HAVING count(*) > 1) AS d`, uid).Scan(&dup); err != nil || dup > 0 {
			t.Fatalf("seed %d: %d change numbers used twice (%v)", seed, dup, err)
		}
	}
}
