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

	"todo/platform/database/dbtest"
)

// TestOneStatementWritesRaceUserDeletion: like TestWritesRaceUserDeletion,
// but the PATCHes name no completed (the one-statement path on PostgreSQL)
// and two instances write: deleting the user never deadlocks with them,
// and no write answers 5xx or 409.
func TestOneStatementWritesRaceUserDeletion(t *testing.T) {
	db := dbtest.New(t)
	es := []*testEnv{newTestEnvWith(t, db, Deps{}), newTestEnvWith(t, db, Deps{})}
	for round := range uint64(8) {
		uid := es[0].user(t)
		pool := &idPool{}
		for i := range 20 {
			pool.add(es[0].create(t, uid, fmt.Sprint(i)).ID)
		}
		var (
			wg      sync.WaitGroup
			stop    atomic.Bool
			mu      sync.Mutex
			answers = map[int]int{}
			failure error
		)
		for w := range uint64(6) {
			e := es[w%2]
			wg.Go(func() {
				r := rand.New(rand.NewPCG(round, w))
				for i := uint64(0); !stop.Load(); i++ {
					id, _ := pool.pick(r)
					method, path, body := "PATCH", taskPath(id), fmt.Sprintf(`{"title":"w%d-%d"}`, w, i)
					switch r.IntN(5) {
					case 0:
						method, path, body = "POST", "/api/v1/tasks", `{"title":"new"}`
					case 1:
						method, path, body = "POST", path+"/toggle", ""
					case 2:
						method, body = "DELETE", ""
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
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := db.SQL.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, uid)
		cancel()
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: delete user: %v", round, err)
		}
		if failure != nil {
			t.Fatalf("round %d: %v (answers %v)", round, failure, answers)
		}
		t.Logf("round %d: %v", round, answers)
	}
}
