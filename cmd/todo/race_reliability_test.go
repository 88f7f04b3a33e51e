package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/database/dbtest"
)

// TestRaceAccountDeletionVersusCreates deletes an account while its owner's
// clients create tasks as fast as they can, through the whole handler on
// PostgreSQL. Every create is answered 201 or 401 (never 500); none
// started after the deletion was answered succeeds; and afterwards no task
// of the account exists and no task anywhere lacks its user.
//
// TODO_LONG=1: 60 rounds instead of 6.
func TestRaceAccountDeletionVersusCreates(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	cfg := testConfig(t, url)
	cfg.Auth.RatePerIP, cfg.Auth.RatePerEmail = 1<<30, 1<<30
	h, err := newHandler(context.Background(), cfg, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.New(t, h)
	api := &apiClient{base: s.URL, hc: s.Client()}
	rounds, creators := 6, 8
	if longMode() {
		rounds = 60
	}
	statuses := map[int]int{}
	for round := range rounds {
		token, userID := registerUser(t, api, fmt.Sprintf("doomed%d@example.com", round))
		var (
			mu        sync.Mutex
			deletedAt atomic.Int64 // unix ns when DELETE /users/me was answered 204
			wg        sync.WaitGroup
			stop      atomic.Bool
			late      []string
		)
		for c := range creators {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					start := time.Now().UnixNano()
					a, err := api.do(context.Background(), "POST", "/api/v1/tasks", token,
						map[string]string{"title": fmt.Sprintf("r%d c%d t%d", round, c, i)}, nil)
					mu.Lock()
					if err != nil {
						t.Errorf("create: %v", err)
					} else {
						statuses[a.status]++
						if a.status != http.StatusCreated && a.status != http.StatusUnauthorized {
							t.Errorf("create during account deletion: %d %s", a.status, a.body)
						}
						if d := deletedAt.Load(); a.status == http.StatusCreated && d != 0 && start > d {
							late = append(late, string(a.body))
						}
						if a.status == http.StatusUnauthorized {
							stop.Store(true)
						}
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(20+round%5*10) * time.Millisecond)
		a, err := api.do(context.Background(), "DELETE", "/api/v1/users/me", token, map[string]string{"password": "load test password"}, nil)
		if err != nil || a.status != http.StatusNoContent {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("delete account: %d %s %v", a.status, a.body, err)
		}
		deletedAt.Store(time.Now().UnixNano())
		// Creates keep coming for a moment after the deletion.
		time.Sleep(30 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if len(late) > 0 {
			t.Errorf("round %d: %d creates started after the deletion was answered succeeded: %s", round, len(late), late[0])
		}
		var n int
		if err := db.SQL.QueryRowContext(context.Background(), `SELECT count(*) FROM tasks WHERE user_id = $1`, userID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("round %d: %d tasks of the deleted account remain", round, n)
		}
	}
	var orphans int
	if err := db.SQL.QueryRowContext(context.Background(),
		`SELECT count(*) FROM tasks t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d tasks without their user", orphans)
	}
	b, _ := json.Marshal(statuses)
	t.Logf("%d rounds: creates by status %s", rounds, b)
	if n := statuses[http.StatusInternalServerError]; n > 0 {
		t.Errorf("%d creates racing the deletion answered 500 instead of 401", n)
	}
	if statuses[http.StatusCreated] == 0 || statuses[http.StatusUnauthorized] == 0 {
		t.Errorf("the race was not exercised: %s", b)
	}
}
