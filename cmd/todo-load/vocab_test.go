package main

import (
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

func TestVocabulary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	titles := map[string]bool{}
	for range 5000 {
		title := randomTitle(rng)
		if n := utf8.RuneCountInString(title); n < 1 || n > 200 {
			t.Fatalf("title %q: %d code points", title, n)
		}
		titles[title] = true
		if d := randomDescription(rng); utf8.RuneCountInString(d) > 1000 || d == "" {
			t.Fatalf("description %q", d)
		}
	}
	if len(titles) < 200 {
		t.Errorf("only %d distinct titles in 5000", len(titles))
	}
	if !titles["Buy groceries"] || !titles["Call mom"] {
		t.Error("the fixed phrases never came up")
	}
}

func TestSpreadTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-365 * 24 * time.Hour)
	const n = 10000
	prev := time.Time{}
	for k := range n {
		ts := spreadTime(k, n, start, end, rng)
		if ts.Before(start) || !ts.Before(end) {
			t.Fatalf("task %d at %v, outside [%v, %v)", k, ts, start, end)
		}
		if ts.Before(prev) {
			t.Fatalf("task %d at %v before task %d at %v", k, ts, k-1, prev)
		}
		if ts.Location() != time.UTC || ts.Nanosecond()%1000 != 0 {
			t.Fatalf("%v: not UTC microseconds", ts)
		}
		prev = ts
	}
	// The first and last tenth hold about a tenth each: spread, not bunched.
	if first := spreadTime(n/10, n, start, end, rng); first.Sub(start) < 35*24*time.Hour || first.Sub(start) > 38*24*time.Hour {
		t.Errorf("task n/10 at %v after start", first.Sub(start))
	}
	if got := spreadTime(0, 0, start, end, rng); !got.Equal(start) {
		t.Errorf("no tasks: %v", got)
	}
}

func TestCompletionTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		created := now.Add(-time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))).Truncate(time.Microsecond)
		if i%10 == 0 {
			created = now.Add(-time.Duration(rng.Int64N(int64(time.Minute)))).Truncate(time.Microsecond)
		}
		c := completionTime(created, now, rng)
		if c.Before(created) || c.After(now) {
			t.Fatalf("created %v completed %v now %v", created, c, now)
		}
	}
	if c := completionTime(now, now, rng); !c.Equal(now) {
		t.Errorf("created now: completed %v", c)
	}
}

func TestSeedPlan(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cfg := seedConfig{Users: 7, TasksPerUser: 30, Completed: 0.3, Described: 0.4, Seed: 9, Span: 365 * 24 * time.Hour}
	p := newSeedPlan(cfg, 11, "hash", now)
	if p.users[0].email != "seed-11@example.com" || p.users[6].email != "seed-17@example.com" {
		t.Errorf("emails %q … %q", p.users[0].email, p.users[6].email)
	}
	perUser := map[string]int{}
	completed := 0
	for k := range p.taskCount() {
		r := p.task(k, p.batchRNG(k/50))
		perUser[r.userID]++
		if r.completed {
			completed++
			if r.completedAt == nil || r.completedAt.Before(r.created) || !r.updated.Equal(*r.completedAt) {
				t.Fatalf("task %d: completed %v created %v updated %v", k, r.completedAt, r.created, r.updated)
			}
		} else if r.completedAt != nil || !r.updated.Equal(r.created) {
			t.Fatalf("pending task %d: completed_at %v", k, r.completedAt)
		}
	}
	if len(perUser) != 7 {
		t.Fatalf("%d owners, want 7", len(perUser))
	}
	for id, n := range perUser {
		if n != 30 {
			t.Errorf("user %s owns %d tasks, want 30", id, n)
		}
	}
	if completed < 30 || completed > 100 {
		t.Errorf("%d of 210 completed, want about 63", completed)
	}
	again := newSeedPlan(cfg, 11, "hash", now)
	if !again.users[3].created.Equal(p.users[3].created) || again.task(5, again.batchRNG(0)).title != p.task(5, p.batchRNG(0)).title {
		t.Error("the same seed gave different data")
	}
}
