package tasks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// send is a request from a goroutine: plain net/http, since the apitest
// helpers stop the test on failure, which only the test's goroutine may do.
func (e *testEnv) send(uid, method, path, body string, h http.Header) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(testUserHeader, uid)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

// TestConcurrentToggles races toggles on one task: whatever the
// interleaving, the end state is that of n sequential toggles.
func TestConcurrentToggles(t *testing.T) {
	e := newTestEnvWith(t, dbtest.New(t), Deps{})
	uid := e.user(t)
	for _, n := range []int{2, 10, 11} {
		for _, mode := range []string{"one-statement", "if-match-star"} {
			t.Run(fmt.Sprintf("%s/%d", mode, n), func(t *testing.T) {
				tk := e.create(t, uid, "race")
				h := http.Header{}
				if mode == "if-match-star" {
					h.Set("If-Match", "*")
				}
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					wg.Go(func() {
						st, body, _, err := e.send(uid, http.MethodPost, taskPath(tk.ID)+"/toggle", "", h)
						if err == nil && st != http.StatusOK {
							err = fmt.Errorf("status %d: %s", st, body)
						}
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				got := e.row(t, tk.ID)
				if want := n%2 == 1; got.Completed != want || (got.CompletedAt != nil) != want {
					t.Fatalf("after %d toggles: completed %v, completed_at %v", n, got.Completed, got.CompletedAt)
				}
			})
		}
	}
}

// TestConcurrentIdempotentCreates sends one Idempotency-Key ten times at
// once: exactly one task is created and every answer is the same 201.
func TestConcurrentIdempotentCreates(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			const n = 10
			type answer struct {
				status         int
				body, location string
				etag           string
				err            error
			}
			answers := make([]answer, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					st, body, h, err := e.send(uid, http.MethodPost, "/api/v1/tasks", `{"title":"exactly once"}`,
						http.Header{"Idempotency-Key": {"race-key"}})
					answers[i] = answer{st, string(body), h.Get("Location"), h.Get("ETag"), err}
				})
			}
			wg.Wait()
			for i, a := range answers {
				if a.err != nil || a.status != http.StatusCreated || a != answers[0] {
					t.Fatalf("answer %d = %+v, answer 0 = %+v", i, a, answers[0])
				}
			}
			if c := e.count(t, uid); c != 1 {
				t.Fatalf("%d tasks created, want 1", c)
			}
		})
	}
}

// TestIdempotencyKeyInProgress holds a key's row lock in another
// transaction: past the wait, a repeat is a 409 and creates nothing.
func TestIdempotencyKeyInProgress(t *testing.T) {
	e := newTestEnvWith(t, dbtest.New(t), Deps{})
	e.mod.h.svc.keyWait = 200 * time.Millisecond
	uid := e.user(t)
	ctx := context.Background()
	tx, err := e.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, expires_at) VALUES ($1, 'busy', 'x', $2, $3)`,
		uid, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"a"}`, http.Header{"Idempotency-Key": {"busy"}})
	wantStatus(t, res, http.StatusConflict, "idempotency_in_progress")
	if c := e.count(t, uid); c != 0 {
		t.Fatalf("%d tasks created, want 0", c)
	}
}

// TestIdempotencyKeyExpiry checks that an expired key is ignored (a new
// task) and that expired keys are purged.
func TestIdempotencyKeyExpiry(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var clock atomic.Pointer[time.Time]
			start := time.Now()
			clock.Store(&start)
			e := newTestEnvWith(t, b.open(t), Deps{Now: func() time.Time { return *clock.Load() }})
			uid := e.user(t)
			key := http.Header{"Idempotency-Key": {"k"}}
			first := e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"a"}`, key)
			wantStatus(t, first, http.StatusCreated, "")
			later := start.Add(25 * time.Hour)
			clock.Store(&later)
			second := e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"b"}`, key)
			wantStatus(t, second, http.StatusCreated, "")
			if second.Header.Get("Location") == first.Header.Get("Location") || e.count(t, uid) != 2 {
				t.Fatalf("an expired key was replayed")
			}
			e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"c"}`, http.Header{"Idempotency-Key": {"other"}})
			evenLater := later.Add(25 * time.Hour)
			clock.Store(&evenLater)
			e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"d"}`, http.Header{"Idempotency-Key": {"third"}})
			keys, err := e.db.Ent.IdempotencyKey.Query().Count(t.Context())
			if err != nil || keys != 1 {
				t.Fatalf("%d keys left (err %v), want only the live one", keys, err)
			}
		})
	}
}

// TestPagingUnderWrites pages through every status while another goroutine
// inserts, completes, reopens and deletes tasks: no task is repeated and
// none that kept its status throughout is skipped.
func TestPagingUnderWrites(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			svc := e.mod.h.svc
			ctx := context.Background()
			uid := e.user(t)
			stable := map[Status]map[int64]bool{StatusAll: {}, StatusPending: {}, StatusCompleted: {}}
			var volatile []int64
			for i := range 120 {
				tk, err := svc.Create(ctx, uid, CreateInput{Title: fmt.Sprint("t", i)})
				if err != nil {
					t.Fatal(err)
				}
				if i%4 == 0 {
					volatile = append(volatile, tk.ID)
					continue
				}
				stable[StatusAll][tk.ID] = true
				if i%4 == 1 {
					if _, err := svc.Toggle(ctx, uid, tk.ID, ifMatch{}); err != nil {
						t.Fatal(err)
					}
					stable[StatusCompleted][tk.ID] = true
				} else {
					stable[StatusPending][tk.ID] = true
				}
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				r := rand.New(rand.NewPCG(1, 2))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					switch i % 3 {
					case 0:
						if tk, err := svc.Create(ctx, uid, CreateInput{Title: "new"}); err == nil {
							volatile = append(volatile, tk.ID)
						}
					case 1:
						_, _ = svc.Toggle(ctx, uid, volatile[r.IntN(len(volatile))], ifMatch{})
					case 2:
						_ = svc.Delete(ctx, uid, volatile[r.IntN(len(volatile))], ifMatch{})
					}
				}
			})
			defer func() { close(stop); wg.Wait() }()
			for _, st := range []Status{StatusAll, StatusPending, StatusCompleted} {
				seen := map[int64]bool{}
				var after *position
				for pages := 0; ; pages++ {
					if pages > 200 {
						t.Fatalf("%s: paging does not end", st)
					}
					page, err := svc.List(ctx, uid, st, after, 7)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range page.Items {
						if seen[it.ID] {
							t.Fatalf("%s: task %d repeated", st, it.ID)
						}
						seen[it.ID] = true
					}
					if page.NextCursor == "" {
						break
					}
					p, err := svc.cursors.decode(page.NextCursor, uid, st)
					if err != nil {
						t.Fatal(err)
					}
					after = &p
				}
				var missing []int64
				for id := range stable[st] {
					if !seen[id] {
						missing = append(missing, id)
					}
				}
				if len(missing) > 0 {
					t.Fatalf("%s: skipped %v", st, missing)
				}
			}
		})
	}
}

// TestPagingTimestampTies pages through tasks whose timestamps tie or differ
// only in their fractional seconds (whole seconds, 1 to 6 digits): SQLite
// compares these as text, so the order must still be the time order.
func TestPagingTimestampTies(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	offsets := []time.Duration{0, 500 * time.Millisecond, 123 * time.Millisecond, 123456 * time.Microsecond,
		100 * time.Millisecond, 120 * time.Millisecond, 999999 * time.Microsecond, time.Second, 10 * time.Microsecond}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var clock atomic.Pointer[time.Time]
			clock.Store(&base)
			e := newTestEnvWith(t, b.open(t), Deps{Now: func() time.Time { return *clock.Load() }})
			svc := e.mod.h.svc
			ctx := context.Background()
			uid := e.user(t)
			var all []Task
			for i := range 4 {
				for _, off := range offsets {
					at := base.Add(off)
					clock.Store(&at)
					tk, err := svc.Create(ctx, uid, CreateInput{Title: fmt.Sprint(i)})
					if err != nil {
						t.Fatal(err)
					}
					if i%2 == 0 { // completed at the same instants, in another order
						done := base.Add(offsets[(len(offsets)-1)-int(tk.ID)%len(offsets)])
						clock.Store(&done)
						if tk, err = svc.Toggle(ctx, uid, tk.ID, ifMatch{}); err != nil {
							t.Fatal(err)
						}
					}
					all = append(all, tk)
				}
			}
			for _, st := range []Status{StatusAll, StatusPending, StatusCompleted} {
				want := expectedOrder(all, st)
				var got []int64
				var after *position
				for range 100 {
					page, err := svc.List(ctx, uid, st, after, 4)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range page.Items {
						got = append(got, it.ID)
					}
					if page.NextCursor == "" {
						break
					}
					p, _ := svc.cursors.decode(page.NextCursor, uid, st)
					after = &p
				}
				if !equalIDs(got, want) {
					t.Fatalf("%s: got %v, want %v", st, got, want)
				}
			}
		})
	}
}

func expectedOrder(all []Task, st Status) []int64 {
	var ts []Task
	for _, t := range all {
		if st == StatusAll || (st == StatusCompleted) == t.Completed {
			ts = append(ts, t)
		}
	}
	key := func(t Task) time.Time {
		if st == StatusCompleted {
			return *t.CompletedAt
		}
		return t.CreatedAt
	}
	sort.Slice(ts, func(i, j int) bool {
		a, b := key(ts[i]), key(ts[j])
		if !a.Equal(b) {
			return a.After(b)
		}
		return ts[i].ID > ts[j].ID
	})
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}
