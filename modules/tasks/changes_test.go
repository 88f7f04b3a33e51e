package tasks

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"todo/platform/config"
)

// changeJSON is one change of the feed as the API returns it.
type changeJSON struct {
	Op        string    `json:"op"`
	Task      *taskJSON `json:"task"`
	ID        int64     `json:"id"`
	DeletedAt string    `json:"deleted_at"`
}

// id is the task the change is about.
func (c changeJSON) id() int64 {
	if c.Task != nil {
		return c.Task.ID
	}
	return c.ID
}

type changesJSON struct {
	Changes   []changeJSON `json:"changes"`
	NextToken string       `json:"next_token"`
	HasMore   bool         `json:"has_more"`
}

// changesPath is the feed's path with since (none when empty) and limit
// (the default when 0).
func changesPath(since string, limit int) string {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return "/api/v1/tasks/changes"
	}
	return "/api/v1/tasks/changes?" + q.Encode()
}

// sync asks for one page of the feed and checks that no task appears twice
// in it.
func (e *testEnv) sync(t testing.TB, uid, since string, limit ...int) changesJSON {
	t.Helper()
	n := 0
	if len(limit) > 0 {
		n = limit[0]
	}
	res := e.do(t, uid, http.MethodGet, changesPath(since, n), nil)
	if res.Status != http.StatusOK {
		t.Fatalf("changes since %q: status %d, body %s", since, res.Status, res.Body)
	}
	var page changesJSON
	res.JSON(&page)
	if err := checkPage(page, n); err != nil {
		t.Fatal(err)
	}
	return page
}

// checkPage checks what holds for every page: a token, at most limit
// changes (the default when 0), each task at most once.
func checkPage(page changesJSON, limit int) error {
	if limit == 0 {
		limit = defaultChangesLimit
	}
	if page.NextToken == "" {
		return fmt.Errorf("no next_token")
	}
	if len(page.Changes) > limit {
		return fmt.Errorf("%d changes on a page of %d", len(page.Changes), limit)
	}
	seen := map[int64]bool{}
	for _, c := range page.Changes {
		if seen[c.id()] {
			return fmt.Errorf("task %d twice on one page: %+v", c.id(), page.Changes)
		}
		seen[c.id()] = true
	}
	return nil
}

// apply applies a page to a client's local copy, as docs/sync.md says.
func apply(local map[int64]taskJSON, page changesJSON) {
	for _, c := range page.Changes {
		switch c.Op {
		case "upsert":
			local[c.Task.ID] = *c.Task
		case "delete":
			delete(local, c.ID)
		}
	}
}

// syncToEnd follows next_token from since until has_more is false, applying
// each page, and returns the last token.
func (e *testEnv) syncToEnd(t testing.TB, uid, since string, local map[int64]taskJSON, limit int) string {
	t.Helper()
	for range 10_000 {
		page := e.sync(t, uid, since, limit)
		apply(local, page)
		since = page.NextToken
		if !page.HasMore {
			return since
		}
	}
	t.Fatal("the feed does not end")
	return ""
}

// serverTasks reads the user's tasks from the database, as the API would
// show them.
func (e *testEnv) serverTasks(t testing.TB, uid string) map[int64]taskJSON {
	t.Helper()
	rows := e.readTasks(t, `"user_id" = $1`, uid)
	out := make(map[int64]taskJSON, len(rows))
	for _, r := range rows {
		var tj taskJSON
		if err := json.Unmarshal(toTaskResponse(r).AppendJSON(nil), &tj); err != nil {
			t.Fatal(err)
		}
		out[tj.ID] = tj
	}
	return out
}

// diffTasks describes how local differs from server, or "".
func diffTasks(local, server map[int64]taskJSON) string {
	var out string
	for id, s := range server {
		l, ok := local[id]
		switch {
		case !ok:
			out += fmt.Sprintf("missing %d %+v\n", id, s)
		case !reflect.DeepEqual(l, s):
			out += fmt.Sprintf("stale %d: local %+v, server %+v\n", id, l, s)
		}
	}
	for id := range local {
		if _, ok := server[id]; !ok {
			out += fmt.Sprintf("deleted on the server but not locally: %d\n", id)
		}
	}
	return out
}

func TestChanges(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			t.Run("full/empty", func(t *testing.T) {
				page := e.sync(t, e.user(t), "")
				if len(page.Changes) != 0 || page.HasMore {
					t.Fatalf("empty user: %+v", page)
				}
			})
			t.Run("full/pages", func(t *testing.T) {
				uid := e.user(t)
				want := map[int64]bool{}
				for i := range 7 {
					want[e.create(t, uid, fmt.Sprint("t", i)).ID] = true
				}
				got := map[int64]bool{}
				since := ""
				var sizes []int
				for {
					page := e.sync(t, uid, since, 3)
					sizes = append(sizes, len(page.Changes))
					for _, c := range page.Changes {
						if c.Op != "upsert" || got[c.Task.ID] {
							t.Fatalf("full sync: %+v", c)
						}
						got[c.Task.ID] = true
					}
					since = page.NextToken
					if !page.HasMore {
						break
					}
				}
				if !reflect.DeepEqual(got, want) || !slices.Equal(sizes, []int{3, 3, 1}) {
					t.Fatalf("full sync sent %v in pages of %v, want %v in 3, 3, 1", got, sizes, want)
				}
			})
			t.Run("incremental", func(t *testing.T) { testIncremental(t, e) })
			t.Run("latest-state-once-per-page", func(t *testing.T) { testLatestOnce(t, e) })
			t.Run("errors", func(t *testing.T) { testChangesErrors(t, e) })
		})
	}
}

func testIncremental(t *testing.T, e *testEnv) {
	uid := e.user(t)
	keep, edit, gone := e.create(t, uid, "keep"), e.create(t, uid, "edit"), e.create(t, uid, "gone")
	local := map[int64]taskJSON{}
	token := e.syncToEnd(t, uid, "", local, 0)
	if len(local) != 3 {
		t.Fatalf("full sync: %v", local)
	}
	e.do(t, uid, http.MethodPatch, taskPath(edit.ID), map[string]any{"title": "edited"})
	wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(gone.ID), nil), http.StatusNoContent, "")
	added := e.create(t, uid, "added")
	page := e.sync(t, uid, token)
	var ops []string
	for _, c := range page.Changes {
		ops = append(ops, fmt.Sprint(c.Op, " ", c.id()))
	}
	want := []string{fmt.Sprint("upsert ", edit.ID), fmt.Sprint("delete ", gone.ID), fmt.Sprint("upsert ", added.ID)}
	if !slices.Equal(ops, want) || page.HasMore {
		t.Fatalf("since the full sync: %v (has_more %v), want %v in change order", ops, page.HasMore, want)
	}
	if page.Changes[1].DeletedAt == "" || page.Changes[0].Task.Title != "edited" {
		t.Fatalf("changes: %+v", page.Changes)
	}
	apply(local, page)
	if d := diffTasks(local, e.serverTasks(t, uid)); d != "" || local[keep.ID].Title != "keep" {
		t.Fatalf("after applying:\n%s", d)
	}
	// Applying the same page again changes nothing.
	apply(local, page)
	if d := diffTasks(local, e.serverTasks(t, uid)); d != "" {
		t.Fatalf("after applying twice:\n%s", d)
	}
	// Nothing changed since: no changes, and a token that still works.
	quiet := e.sync(t, uid, page.NextToken)
	if len(quiet.Changes) != 0 || quiet.HasMore {
		t.Fatalf("nothing changed: %+v", quiet)
	}
	again := e.sync(t, uid, quiet.NextToken)
	if len(again.Changes) != 0 || again.HasMore {
		t.Fatalf("nothing changed, twice: %+v", again)
	}
}

// testLatestOnce changes tasks several times between two syncs: each
// appears once, with its state at the time of the page, in pages of any size.
func testLatestOnce(t *testing.T, e *testEnv) {
	uid := e.user(t)
	a, b := e.create(t, uid, "a"), e.create(t, uid, "b")
	token := e.sync(t, uid, "").NextToken
	for i := range 3 {
		e.do(t, uid, http.MethodPatch, taskPath(a.ID), map[string]any{"title": fmt.Sprint("a", i)})
		e.do(t, uid, http.MethodPost, taskPath(b.ID)+"/toggle", nil)
	}
	short := e.create(t, uid, "short-lived")
	e.do(t, uid, http.MethodDelete, taskPath(short.ID), nil)
	server := e.serverTasks(t, uid)
	for _, limit := range []int{1, 2, 3, 500} {
		local := map[int64]taskJSON{a.ID: a, b.ID: b}
		var ids []int64
		since := token
		for {
			page := e.sync(t, uid, since, limit)
			for _, c := range page.Changes {
				ids = append(ids, c.id())
				if c.Op == "upsert" && !reflect.DeepEqual(*c.Task, server[c.Task.ID]) {
					t.Fatalf("limit %d: task %d is not in its latest state: %+v", limit, c.Task.ID, *c.Task)
				}
			}
			apply(local, page)
			since = page.NextToken
			if !page.HasMore {
				break
			}
		}
		// a, b and the short-lived task (as a delete only) once each.
		if len(ids) != 3 || !slices.Contains(ids, a.ID) || !slices.Contains(ids, b.ID) || !slices.Contains(ids, short.ID) {
			t.Fatalf("limit %d: changes for %v", limit, ids)
		}
		if d := diffTasks(local, server); d != "" {
			t.Fatalf("limit %d:\n%s", limit, d)
		}
	}
}

func testChangesErrors(t *testing.T, e *testEnv) {
	uid, foreign := e.user(t), e.user(t)
	e.create(t, uid, "x")
	token := e.sync(t, uid, "").NextToken
	cursor := e.mod.h.svc.cursors.encode(uid, StatusAll, position{At: time.Now(), ID: 1})
	runErrorCases(t, e, uid, []errorCase{
		{name: "changes/tampered-token/400", method: "GET", path: changesPath(tamper(token), 0), status: 400, code: "bad_request"},
		{name: "changes/empty-token/400", method: "GET", path: "/api/v1/tasks/changes?since=", status: 400, code: "bad_request"},
		{name: "changes/list-cursor/400", method: "GET", path: changesPath(cursor, 0), status: 400, code: "bad_request"},
		{name: "changes/bad-token-beats-bad-limit/400", method: "GET", path: "/api/v1/tasks/changes?limit=0&since=abc", status: 400, code: "bad_request"},
		{name: "changes/limit-0/422", method: "GET", path: "/api/v1/tasks/changes?limit=0", status: 422, code: "validation_failed"},
		{name: "changes/limit-1001/422", method: "GET", path: "/api/v1/tasks/changes?limit=1001", status: 422, code: "validation_failed"},
		{name: "changes/limit-abc/422", method: "GET", path: "/api/v1/tasks/changes?limit=abc", status: 422, code: "validation_failed"},
		{name: "changes/limit-negative/422", method: "GET", path: "/api/v1/tasks/changes?limit=-1", status: 422, code: "validation_failed"},
		{name: "changes/malformed-query/400", method: "GET", path: "/api/v1/tasks/changes?limit=%zz", status: 400, code: "bad_request"},
		{name: "changes/no-token/401", method: "GET", path: "/api/v1/tasks/changes", headers: anonymous, status: 401, code: "unauthorized"},
	})
	t.Run("changes/foreign-token/400", func(t *testing.T) {
		wantStatus(t, e.do(t, foreign, http.MethodGet, changesPath(token, 0), nil), http.StatusBadRequest, "bad_request")
	})
	t.Run("changes/limit-bounds/200", func(t *testing.T) {
		e.sync(t, uid, token, 1)
		e.sync(t, uid, token, 1000)
	})
}

// clockEnv is a test environment whose clock the test sets.
type clockEnv struct {
	*testEnv
	now atomic.Pointer[time.Time]
}

func newClockEnv(t *testing.T, b backend, ttl time.Duration) *clockEnv {
	ce := &clockEnv{}
	start := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	ce.now.Store(&start)
	ce.testEnv = newTestEnvWith(t, b.open(t), Deps{
		Now:    func() time.Time { return *ce.now.Load() },
		Config: config.Tasks{TombstoneTTL: ttl},
	})
	return ce
}

func (ce *clockEnv) advance(d time.Duration) {
	next := ce.now.Load().Add(d)
	ce.now.Store(&next)
}

// TestChangesExpiry checks the 410s: a token issued more than
// TASKS_TOMBSTONE_TTL ago, whether or not anything was purged; a token the
// feed cannot continue because a deletion it needs was purged; and that a
// full sync then recovers.
func TestChangesExpiry(t *testing.T) {
	const ttl = 48 * time.Hour
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newClockEnv(t, b, ttl)
			t.Run("age", func(t *testing.T) {
				uid := e.user(t)
				e.create(t, uid, "a")
				token := e.sync(t, uid, "").NextToken
				e.advance(ttl)
				fresh := e.sync(t, uid, token).NextToken // exactly the TTL old: still valid
				e.advance(time.Microsecond)
				wantStatus(t, e.do(t, uid, http.MethodGet, changesPath(token, 0), nil), http.StatusGone, "sync_token_expired")
				// A token issued later is still good, and so is a full sync.
				e.sync(t, uid, fresh)
				e.sync(t, uid, "")
			})
			t.Run("purged", func(t *testing.T) {
				uid := e.user(t)
				token := e.sync(t, uid, "").NextToken
				e.advance(time.Second)
				kept := e.create(t, uid, "kept")
				gone := e.create(t, uid, "gone")
				e.do(t, uid, http.MethodDelete, taskPath(gone.ID), nil)
				e.advance(time.Second)
				// A page of one: the client has the first change; the
				// deletion is still to come.
				page := e.sync(t, uid, token, 1)
				if !page.HasMore || page.Changes[0].id() != kept.ID {
					t.Fatalf("first page: %+v", page)
				}
				// The deletion's tombstone passes the retention window and
				// is purged while the token is younger than the TTL.
				e.advance(ttl - time.Second/2)
				n, err := e.mod.h.svc.PurgeTombstones(t.Context())
				if err != nil || n != 1 {
					t.Fatalf("purge: %d, %v", n, err)
				}
				wantStatus(t, e.do(t, uid, http.MethodGet, changesPath(page.NextToken, 0), nil), http.StatusGone, "sync_token_expired")
				// A full sync recovers, and tokens from it work.
				local := map[int64]taskJSON{}
				next := e.syncToEnd(t, uid, "", local, 0)
				if d := diffTasks(local, e.serverTasks(t, uid)); d != "" {
					t.Fatal(d)
				}
				e.sync(t, uid, next)
			})
		})
	}
}

// TestPurgeTombstones checks the purge: tombstones past the window go,
// younger ones stay, a purge is bounded, and purged_seq records the
// highest change number purged.
func TestPurgeTombstones(t *testing.T) {
	const ttl = time.Hour
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newClockEnv(t, b, ttl)
			svc := e.mod.h.svc
			users := []string{e.user(t), e.user(t), e.user(t)}
			deleteSome := func(uid string, n int) {
				for range n {
					wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(e.create(t, uid, "x").ID), nil), http.StatusNoContent, "")
				}
			}
			for _, uid := range users {
				deleteSome(uid, 3)
			}
			e.advance(ttl / 2)
			deleteSome(users[0], 2) // younger
			e.advance(ttl/2 + time.Second)
			// One user per purge: the oldest tombstone's.
			n, err := svc.store.purgeTombstones(t.Context(), e.now.Load().Add(-ttl), 1)
			if err != nil || n != 3 {
				t.Fatalf("bounded purge: %d, %v; want 3", n, err)
			}
			n, err = svc.PurgeTombstones(t.Context())
			if err != nil || n != 6 {
				t.Fatalf("purge: %d, %v; want 6", n, err)
			}
			left, err := e.db.Ent.TaskTombstone.Query().All(t.Context())
			if err != nil || len(left) != 2 || left[0].UserID != users[0] {
				t.Fatalf("left: %v, %v; want user 0's two younger ones", left, err)
			}
			for _, uid := range users {
				c, err := e.db.Ent.TaskCounter.Get(t.Context(), uid)
				if err != nil {
					t.Fatal(err)
				}
				// Each user's first three deletes were changes 2, 4 and 6.
				if c.PurgedSeq != 6 {
					t.Fatalf("user %s: purged_seq %d, want 6", uid, c.PurgedSeq)
				}
			}
			if n, err := svc.PurgeTombstones(t.Context()); err != nil || n != 0 {
				t.Fatalf("second purge: %d, %v", n, err)
			}
		})
	}
}

// TestTombstonePurgeJob runs the module's background job: it purges the
// tombstones past the retention window and keeps the younger ones.
func TestTombstonePurgeJob(t *testing.T) {
	const ttl = time.Hour
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newClockEnv(t, b, ttl)
			jobs := e.mod.Jobs(slog.New(slog.DiscardHandler))
			if len(jobs) != 1 || jobs[0].Name != "purge expired tombstones" || jobs[0].Every != time.Minute {
				t.Fatalf("jobs %+v", jobs)
			}
			uid := e.user(t)
			old := e.create(t, uid, "old")
			e.do(t, uid, http.MethodDelete, taskPath(old.ID), nil)
			e.advance(ttl)
			young := e.create(t, uid, "young")
			e.do(t, uid, http.MethodDelete, taskPath(young.ID), nil)
			if err := jobs[0].Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			if ids, _ := e.db.Ent.TaskTombstone.Query().IDs(t.Context()); len(ids) != 2 {
				t.Fatalf("tombstones %v: the old one is exactly the TTL old, not past it", ids)
			}
			e.advance(time.Microsecond)
			if err := jobs[0].Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			if ids, _ := e.db.Ent.TaskTombstone.Query().IDs(t.Context()); !slices.Equal(ids, []int64{young.ID}) {
				t.Fatalf("tombstones %v, want only %d", ids, young.ID)
			}
		})
	}
}

// TestChangesLegacyTasks covers tasks written before the change feed
// existed (change_seq null, no counter row), as after the migration: a full
// sync sends them, stats count them, the first write creates the counter
// row from them, and their later changes reach incremental syncs.
func TestChangesLegacyTasks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			for i := range 5 {
				if _, err := e.db.SQL.ExecContext(t.Context(),
					`INSERT INTO tasks (user_id, title, completed, created_at, updated_at, completed_at) VALUES ($1, $2, $3, $4, $4, $5)`,
					uid, fmt.Sprint("legacy ", i), i < 2, now.Add(time.Duration(i)*time.Second), map[bool]any{true: now, false: nil}[i < 2]); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.checkStats(t, uid, e.serverTasks(t, uid)); err != nil {
				t.Fatalf("stats without a counter row: %v", err)
			}
			local := map[int64]taskJSON{}
			token := e.syncToEnd(t, uid, "", local, 2)
			if d := diffTasks(local, e.serverTasks(t, uid)); d != "" || len(local) != 5 {
				t.Fatalf("full sync of legacy tasks:\n%s", d)
			}
			if page := e.sync(t, uid, token); len(page.Changes) != 0 {
				t.Fatalf("nothing changed: %+v", page)
			}
			var some int64
			for id := range local {
				some = id
				break
			}
			e.do(t, uid, http.MethodPost, taskPath(some)+"/toggle", nil)
			e.do(t, uid, http.MethodDelete, taskPath(e.create(t, uid, "new").ID), nil)
			page := e.sync(t, uid, token)
			apply(local, page)
			if len(page.Changes) != 2 || page.Changes[0].id() != some {
				t.Fatalf("since the full sync: %+v", page.Changes)
			}
			server := e.serverTasks(t, uid)
			if d := diffTasks(local, server); d != "" {
				t.Fatal(d)
			}
			c, err := e.db.Ent.TaskCounter.Get(t.Context(), uid)
			if err != nil || c.Total != 5 {
				t.Fatalf("counter row %+v, %v: want total 5", c, err)
			}
			if err := e.checkStats(t, uid, server); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestChangesCounterWentBack answers 410 to a token ahead of the user's
// change numbers, as after a restore of an older backup: the client holds
// changes the server no longer has, and only a full sync sets it right.
func TestChangesCounterWentBack(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			e.create(t, uid, "a")
			e.create(t, uid, "b")
			token := e.sync(t, uid, "").NextToken
			if _, err := e.db.SQL.ExecContext(t.Context(), `UPDATE task_counters SET seq = 1 WHERE user_id = $1`, uid); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, e.do(t, uid, http.MethodGet, changesPath(token, 0), nil), http.StatusGone, "sync_token_expired")
		})
	}
}

// TestChangesCounterRebuilt: a counter row lost (deleted by hand, or a
// restore that missed it) is rebuilt at the next write from what remains,
// tombstones included: no change number is handed out twice, and a token
// from before the loss, which may owe deletions the rebuilt row knows
// nothing of, is answered 410, while one from the rebuild on syncs on.
func TestChangesCounterRebuilt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			uid := e.user(t)
			t1 := e.create(t, uid, "a")
			t2 := e.create(t, uid, "b")
			old := e.sync(t, uid, "").NextToken
			wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(t2.ID), nil), http.StatusNoContent, "")
			if _, err := e.db.SQL.ExecContext(t.Context(), `DELETE FROM task_counters WHERE user_id = $1`, uid); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, e.do(t, uid, http.MethodPost, taskPath(t1.ID)+"/toggle", nil), http.StatusOK, "")
			wantStatus(t, e.do(t, uid, http.MethodPost, taskPath(t1.ID)+"/toggle", nil), http.StatusOK, "")
			var twice, behind int
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM (SELECT "change_seq" FROM (SELECT "change_seq" FROM "tasks" WHERE "user_id" = $1 AND "change_seq" IS NOT NULL `+
				`UNION ALL SELECT "change_seq" FROM "task_tombstones" WHERE "user_id" = $1) AS "s" GROUP BY "change_seq" HAVING COUNT(*) > 1) AS "d"`, uid).Scan(&twice); err != nil {
				t.Fatal(err)
			}
			if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM "task_tombstones" WHERE "user_id" = $1 AND "change_seq" > (SELECT "seq" FROM "task_counters" WHERE "user_id" = $1)`, uid).Scan(&behind); err != nil {
				t.Fatal(err)
			}
			if twice != 0 || behind != 0 {
				t.Fatalf("after the rebuild: %d change numbers used twice, %d tombstones numbered above the counter", twice, behind)
			}
			wantStatus(t, e.do(t, uid, http.MethodGet, changesPath(old, 0), nil), http.StatusGone, "sync_token_expired")
			full := e.sync(t, uid, "", 100)
			local := map[int64]taskJSON{}
			apply(local, full)
			if full.HasMore || len(local) != 1 || local[t1.ID].Completed {
				t.Fatalf("a full sync after the rebuild: %+v", local)
			}
			wantStatus(t, e.do(t, uid, http.MethodPost, taskPath(t1.ID)+"/toggle", nil), http.StatusOK, "")
			if next := e.sync(t, uid, full.NextToken); len(next.Changes) != 1 {
				t.Fatalf("the change after the rebuild: %+v", next.Changes)
			}
		})
	}
}
