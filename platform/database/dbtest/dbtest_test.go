package dbtest_test

import (
	"context"
	"testing"

	"todo/ent"
	"todo/ent/task"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *database.DB
	}{
		{"new/postgres", func(t *testing.T) *database.DB { return dbtest.New(t) }},
		{"new/sqlite", func(t *testing.T) *database.DB { return dbtest.NewSQLite(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := tc.open(t)
			if err := db.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Run("cascade", func(t *testing.T) { testCascade(t, db.Ent) })
			t.Run("orphan-task/rejected", func(t *testing.T) { testOrphan(t, db.Ent) })
		})
	}
}

// testCascade: deleting a user deletes their tasks, in the database.
func testCascade(t *testing.T, client *ent.Client) {
	ctx := context.Background()
	u, err := client.User.Create().SetEmail("ada@example.com").SetName("Ada").SetHashedPassword("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := client.User.Create().SetEmail("bob@example.com").SetName("Bob").SetHashedPassword("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{u.ID, u.ID, other.ID} {
		if _, err := client.Task.Create().SetUserID(owner).SetTitle("t").Save(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := client.Task.Query().Where(task.UserID(u.ID)).CountX(ctx); n != 0 {
		t.Errorf("tasks of the deleted user: got %d, want 0", n)
	}
	if n := client.Task.Query().Where(task.UserID(other.ID)).CountX(ctx); n != 1 {
		t.Errorf("tasks of the other user: got %d, want 1", n)
	}
}

// testOrphan: a task must belong to an existing user.
func testOrphan(t *testing.T, client *ent.Client) {
	_, err := client.Task.Create().SetUserID("00000000-0000-0000-0000-000000000000").SetTitle("t").Save(context.Background())
	if !ent.IsConstraintError(err) {
		t.Fatalf("got %v, want a constraint error", err)
	}
}

func TestNewWithURL(t *testing.T) {
	t.Parallel()
	db, u := dbtest.NewWithURL(t)
	again := dbtest.Open(t, dbtest.Config(u))
	var name string
	if err := again.SQL.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	var same string
	if err := db.SQL.QueryRow("SELECT current_database()").Scan(&same); err != nil {
		t.Fatal(err)
	}
	if name != same {
		t.Fatalf("URL opens %q, want %q", name, same)
	}
}

// TestNewParallel is the load dbtest is built for: many tests, each with
// its own migrated database, at once.
func TestNewParallel(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run("parallel/"+string(rune('a'+i)), func(t *testing.T) {
			t.Parallel()
			db := dbtest.New(t)
			if n := db.Ent.User.Query().CountX(context.Background()); n != 0 {
				t.Fatalf("users: got %d, want 0", n)
			}
		})
	}
}
