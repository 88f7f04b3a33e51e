package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"todo/platform/apitest"
	"todo/platform/database/dbtest"
)

// TestSeedEraUserAfterAdopt: a database made by the seed's exact SQL and
// sample rows, plus an account of that era (an id that is no UUID, a $2b$
// bcrypt hash, tasks with the seed's integer ids), adopted by `todo migrate
// adopt` and served: the user signs in with the old password, lists and
// pages through the old tasks, creates one, refreshes, and syncs.
func TestSeedEraUserAfterAdopt(t *testing.T) {
	u := dbtest.NewEmpty(t)
	db := dbtest.Open(t, dbtest.Config(u))
	for _, f := range []string{"seed_schema.sql", "seed_sample_data.sql"} {
		b, err := os.ReadFile("../../platform/migrate/testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// Python's bcrypt writes $2b$; the hash itself is the same computation
	// as Go's $2a$ for passwords of at most 72 bytes.
	h, err := bcrypt.GenerateFromPassword([]byte("seed-era password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	hash := "$2b$" + strings.TrimPrefix(string(h), "$2a$")
	const id = "user-789-ghi" // the seed's id style, not a UUID
	if _, err := db.SQL.Exec(`INSERT INTO users (id, email, name, hashed_password, created_at) VALUES ($1, 'Old@Example.com', 'Old Timer', $2, '2026-01-01 09:00:00')`, id, hash); err != nil {
		t.Fatal(err)
	}
	var seedIDs []int64
	for i := range 5 {
		var tid int64
		err := db.SQL.QueryRow(`INSERT INTO tasks (user_id, title, completed, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
			id, fmt.Sprintf("old task %d", i), i%2 == 1, fmt.Sprintf("2026-01-0%d 10:00:00", i+2)).Scan(&tid)
		if err != nil {
			t.Fatal(err)
		}
		seedIDs = append(seedIDs, tid)
	}

	env := map[string]string{"DATABASE_URL": u, "AUTH_SECRET": testSecret}
	var out strings.Builder
	if err := run(context.Background(), []string{"migrate", "adopt"}, envFunc(env), &out, &out); err != nil {
		t.Fatalf("migrate adopt: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "3 users and 8 tasks kept") {
		t.Fatalf("migrate adopt said:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "adopt"}, envFunc(env), &out, &out); err != nil || !strings.Contains(out.String(), "nothing to adopt") {
		t.Fatalf("second migrate adopt: %v\n%s", err, out.String())
	}

	a, err := newApp(context.Background(), testConfig(t, u), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.New(t, a.api)

	// The seed's sample accounts keep their $2b$12$ hashes: a wrong
	// password is a plain 401, not a failure to read the hash.
	if r := s.Do("POST", "/api/v1/auth/login", map[string]string{"email": "john@example.com", "password": "not the password"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %d %s", r.Status, r.Body)
	}
	type pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	var p pair
	r := s.Do("POST", "/api/v1/auth/login", map[string]string{"email": "old@example.com", "password": "seed-era password"})
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	r.JSON(&p)
	auth := apitest.Bearer(p.AccessToken)
	r = s.Do("GET", "/api/v1/users/me", nil, auth)
	var me struct {
		ID, Email string
		CreatedAt string `json:"created_at"`
	}
	r.JSON(&me)
	if r.Status != http.StatusOK || me.ID != id || me.CreatedAt != "2026-01-01T09:00:00.000000Z" {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}

	// Page through the old tasks two at a time: every id, newest first.
	type task struct {
		ID        int64  `json:"id"`
		UserID    string `json:"user_id"`
		CreatedAt string `json:"created_at"`
	}
	listAll := func(status string) []int64 {
		var ids []int64
		q := "/api/v1/tasks?limit=2&status=" + status
		for range 10 {
			r := s.Do("GET", q, nil, auth)
			if r.Status != http.StatusOK {
				t.Fatalf("list %s: %d %s", q, r.Status, r.Body)
			}
			var page struct {
				Items      []task  `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			r.JSON(&page)
			for _, it := range page.Items {
				ids = append(ids, it.ID)
			}
			if page.NextCursor == nil {
				return ids
			}
			q = "/api/v1/tasks?limit=2&status=" + status + "&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		t.Fatal("paging did not end")
		return nil
	}
	want := slices.Clone(seedIDs)
	slices.Reverse(want)
	if got := listAll("all"); !slices.Equal(got, want) {
		t.Fatalf("all tasks = %v, want %v", got, want)
	}
	if got := listAll("completed"); !slices.Equal(got, []int64{seedIDs[3], seedIDs[1]}) {
		t.Fatalf("completed tasks = %v, want %v", got, []int64{seedIDs[3], seedIDs[1]})
	}

	// A new task (with an Idempotency-Key) gets the next id.
	h2 := apitest.Bearer(p.AccessToken)
	h2.Set("Idempotency-Key", "seed-era-key")
	r = s.Do("POST", "/api/v1/tasks", map[string]string{"title": "new"}, h2)
	var created task
	r.JSON(&created)
	if r.Status != http.StatusCreated || created.ID != seedIDs[4]+1 || created.UserID != id {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r = s.Do("POST", "/api/v1/tasks", map[string]string{"title": "new"}, h2); r.Status != http.StatusCreated {
		t.Fatalf("replayed create: %d %s", r.Status, r.Body)
	}

	// Refresh, and the new access token works.
	r = s.Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": p.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	r.JSON(&p)
	auth = apitest.Bearer(p.AccessToken)

	// A full sync, a change, and an incremental sync with the token.
	var feed struct {
		Changes []struct {
			Op   string `json:"op"`
			Task task   `json:"task"`
		} `json:"changes"`
		NextToken string `json:"next_token"`
		HasMore   bool   `json:"has_more"`
	}
	r = s.Do("GET", "/api/v1/tasks/changes", nil, auth)
	r.JSON(&feed)
	if r.Status != http.StatusOK || len(feed.Changes) != 6 || feed.HasMore {
		t.Fatalf("full sync: %d %s", r.Status, r.Body)
	}
	r = s.Do("PATCH", fmt.Sprintf("/api/v1/tasks/%d", seedIDs[0]), map[string]any{"completed": true}, auth)
	if r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r = s.Do("GET", "/api/v1/tasks/changes?since="+url.QueryEscape(feed.NextToken), nil, auth)
	r.JSON(&feed)
	if r.Status != http.StatusOK || len(feed.Changes) != 1 || feed.Changes[0].Task.ID != seedIDs[0] {
		t.Fatalf("incremental sync: %d %s", r.Status, r.Body)
	}
	r = s.Do("GET", "/api/v1/users/me/sessions", nil, auth)
	if r.Status != http.StatusOK {
		t.Fatalf("sessions: %d %s", r.Status, r.Body)
	}
}
