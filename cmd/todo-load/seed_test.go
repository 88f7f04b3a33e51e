package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"todo/ent"
	"todo/ent/task"
	"todo/ent/user"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

func testSeedConfig(db string) seedConfig {
	return seedConfig{DB: db, Users: 5, TasksPerUser: 200, Completed: 0.3, Described: 0.4, Password: defaultPassword,
		BcryptCost: 4, Batch: 300, Workers: 2, Seed: 1, Span: 365 * 24 * time.Hour}
}

// checkSeeded asserts what a 5 × 200 seed must leave in the database,
// reading it back through Ent as the service will.
func checkSeeded(t *testing.T, client *ent.Client, first int) {
	t.Helper()
	ctx := context.Background()
	users, err := client.User.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, u := range users {
		if strings.HasPrefix(u.Email, "seed-") {
			mine[u.ID] = true
		}
	}
	if len(mine) != 5 {
		t.Fatalf("%d seeded users, want 5", len(mine))
	}
	for n := first; n < first+5; n++ {
		u, err := client.User.Query().Where(user.EmailEQ(seedEmail(n))).Only(ctx)
		if err != nil {
			t.Fatalf("user %s: %v", seedEmail(n), err)
		}
		if !u.IsActive || bcrypt.CompareHashAndPassword([]byte(u.HashedPassword), []byte(defaultPassword)) != nil {
			t.Errorf("user %s: active %v, or the password does not match its hash", u.Email, u.IsActive)
		}
	}
	tasks, err := client.Task.Query().Order(ent.Asc(task.FieldID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1000 {
		t.Fatalf("%d tasks, want 1000", len(tasks))
	}
	perUser := map[string]int{}
	completed := 0
	now := time.Now()
	for _, tk := range tasks {
		if !mine[tk.UserID] {
			t.Fatalf("task %d owned by %q, not a seeded user", tk.ID, tk.UserID)
		}
		perUser[tk.UserID]++
		if tk.Title == "" || tk.CreatedAt.After(now) || tk.CreatedAt.Before(now.Add(-366*24*time.Hour)) {
			t.Fatalf("task %d: title %q created %v", tk.ID, tk.Title, tk.CreatedAt)
		}
		if tk.Completed {
			completed++
			if tk.CompletedAt == nil || tk.CompletedAt.Before(tk.CreatedAt) {
				t.Fatalf("completed task %d: created %v completed %v", tk.ID, tk.CreatedAt, tk.CompletedAt)
			}
		} else if tk.CompletedAt != nil {
			t.Fatalf("pending task %d has completed_at %v", tk.ID, tk.CompletedAt)
		}
		if tk.UpdatedAt.Before(tk.CreatedAt) {
			t.Fatalf("task %d updated before created", tk.ID)
		}
	}
	completedBy := map[string]int64{}
	for _, tk := range tasks {
		if tk.Completed {
			completedBy[tk.UserID]++
		}
	}
	for id, n := range perUser {
		if n != 200 {
			t.Errorf("user %s owns %d tasks, want 200", id, n)
		}
		// The counter row the service keeps, counted from the tasks.
		c, err := client.TaskCounter.Get(ctx, id)
		if err != nil || c.Total != 200 || c.Completed != completedBy[id] || c.Seq != 0 {
			t.Errorf("user %s: counter %+v, %v; want 200 tasks, %d completed", id, c, err, completedBy[id])
		}
	}
	if completed < 220 || completed > 380 {
		t.Errorf("%d of 1000 completed, want about 300", completed)
	}
}

func TestSeedPostgres(t *testing.T) {
	db, u := dbtest.NewWithURL(t)
	ctx := context.Background()
	rep, err := seedDatabase(ctx, testSeedConfig(u), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 1 || rep.Users != 5 || rep.Tasks != 1000 {
		t.Fatalf("report %+v", rep)
	}
	checkSeeded(t, db.Ent, 1)
	// A second run continues the numbering instead of colliding.
	cfg := testSeedConfig(u)
	cfg.Users, cfg.TasksPerUser = 2, 3
	rep, err = seedDatabase(ctx, cfg, io.Discard)
	if err != nil || rep.First != 6 {
		t.Fatalf("second seed: %+v, %v", rep, err)
	}
	if n, err := db.Ent.Task.Query().Count(ctx); err != nil || n != 1006 {
		t.Errorf("%d tasks after the second seed, %v", n, err)
	}
}

func TestSeedSQLite(t *testing.T) {
	dir := t.TempDir()
	db, err := database.Open(context.Background(), config.Database{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrate.ApplyEmbedded(context.Background(), db, migrate.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := seedDatabase(context.Background(), testSeedConfig("sqlite://"+filepath.Join(dir, "todo.db")), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tasks != 1000 {
		t.Fatalf("report %+v", rep)
	}
	checkSeeded(t, db.Ent, 1)
}

func TestSeedRefusesUnmigratedDatabase(t *testing.T) {
	u := dbtest.NewEmpty(t)
	_, err := seedDatabase(context.Background(), testSeedConfig(u), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "todo migrate apply") {
		t.Errorf("seed of an empty PostgreSQL database: %v", err)
	}
	_, err = seedDatabase(context.Background(), testSeedConfig(filepath.Join(t.TempDir(), "empty.db")), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "todo migrate apply") {
		t.Errorf("seed of an empty SQLite file: %v", err)
	}
}
