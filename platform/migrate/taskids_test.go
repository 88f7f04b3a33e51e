package migrate_test

import (
	"io/fs"
	"testing"

	"entgo.io/ent/dialect"
)

// TestMigrationsNeverReuseTaskIDs applies the migrations one file at a
// time, and after each creates a task and deletes the newest: the next id
// must be above every id ever handed out. A migration that rebuilds tasks
// on SQLite (copy into a new table, drop, rename, as Atlas does for most
// changes) resets the AUTOINCREMENT high-water mark to the largest id left
// and hands out the ids of deleted tasks again, which the change feed's
// tombstones (keyed by task id) cannot tell apart from new tasks.
func TestMigrationsNeverReuseTaskIDs(t *testing.T) {
	t.Parallel()
	for _, dia := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run(dia, func(t *testing.T) {
			t.Parallel()
			all := embedded(t, dia)
			names, err := fs.Glob(all, "*.sql")
			if err != nil || len(names) == 0 {
				t.Fatalf("migrations: %v, %v", names, err)
			}
			tg := emptyTarget(t, dia)
			files := map[string]string{}
			var highest int64
			user := false
			for _, name := range names {
				b, err := fs.ReadFile(all, name)
				if err != nil {
					t.Fatal(err)
				}
				files[name] = string(b)
				tg.apply(t, dirOf(t, files))
				if !user {
					if _, err := tg.db.SQL.Exec(`INSERT INTO users (id, email, name, hashed_password) VALUES ('u1', 'u1@example.com', 'U', 'h')`); err != nil {
						t.Fatalf("after %s: insert user: %v", name, err)
					}
					user = true
				}
				for i := range 2 {
					var id int64
					if err := tg.db.SQL.QueryRow(`INSERT INTO tasks (user_id, title) VALUES ('u1', 't') RETURNING id`).Scan(&id); err != nil {
						t.Fatalf("after %s: insert task: %v", name, err)
					}
					if id <= highest {
						t.Fatalf("after %s: new task id %d, but %d was handed out before", name, id, highest)
					}
					highest = id
					if i == 1 { // the newest goes: its id is the high-water mark
						if _, err := tg.db.SQL.Exec(`DELETE FROM tasks WHERE id = $1`, id); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
}
