package tasks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"todo/ent/taskcounter"
	"todo/ent/tasktombstone"
)

// TestWritesRaceUserDeletion deletes a user (the statement auth's account
// deletion runs) while writers create, PATCH, toggle and delete the user's
// tasks: the deletion neither deadlocks with them (PostgreSQL's 40P01 would
// make either side a 500) nor waits behind a stream of them, every write is
// answered with a success or a 404/401, and nothing of the user remains:
// tasks, counter row and tombstones go with the user. The writes come
// through two modules on the database (two processes, each with its own
// gate), and a third of the PATCHes name no completed (on PostgreSQL the
// one-statement path, with its own lock order).
func TestWritesRaceUserDeletion(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			envs := []*testEnv{e, newTestEnvWith(t, e.db, Deps{})}
			for round := range uint64(6) {
				uid := e.user(t)
				pool := &idPool{}
				for i := range 20 {
					pool.add(e.create(t, uid, fmt.Sprint(i)).ID)
				}
				var (
					wg      sync.WaitGroup
					stop    atomic.Bool
					mu      sync.Mutex
					answers = map[int]int{}
					failure error
				)
				for w := range uint64(6) {
					e := envs[w%2]
					wg.Go(func() {
						r := rand.New(rand.NewPCG(round, w))
						for i := uint64(0); !stop.Load(); i++ {
							id, _ := pool.pick(r)
							method, path, body := []string{"POST", "PATCH", "POST", "DELETE"}[(w+i)%4], taskPath(id), ""
							switch method {
							case "POST":
								if (w+i)%4 == 0 {
									path, body = "/api/v1/tasks", `{"title":"new"}`
								} else {
									path += "/toggle"
								}
							case "PATCH":
								body = fmt.Sprintf(`{"title":"w%d","completed":%v}`, i, i%2 == 0)
								if i%3 == 0 {
									body = fmt.Sprintf(`{"title":"w%d-%d"}`, w, i)
								}
							}
							st, resp, _, err := e.send(uid, method, path, body, nil)
							mu.Lock()
							answers[st]++
							switch {
							case err != nil:
								failure = err
							case st >= 500 || st == http.StatusConflict:
								failure = fmt.Errorf("%s %s: %d %s", method, path, st, resp)
							}
							mu.Unlock()
						}
					})
				}
				time.Sleep(30 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				_, err := e.db.SQL.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, uid)
				took := time.Since(start)
				cancel()
				stop.Store(true)
				wg.Wait()
				if err != nil {
					t.Fatalf("round %d: delete the user (after %s): %v", round, took, err)
				}
				if failure != nil {
					t.Fatalf("round %d: %v (answers %v)", round, failure, answers)
				}
				tasks := e.count(t, uid)
				counters, _ := e.db.Ent.TaskCounter.Query().Where(taskcounter.ID(uid)).Count(t.Context())
				tombstones, _ := e.db.Ent.TaskTombstone.Query().Where(tasktombstone.UserID(uid)).Count(t.Context())
				if tasks+counters+tombstones != 0 {
					t.Fatalf("round %d: left %d tasks, %d counters, %d tombstones", round, tasks, counters, tombstones)
				}
				t.Logf("round %d: deletion took %s; answers %v", round, took.Round(time.Millisecond), answers)
			}
		})
	}
}
