package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// TestBackupWhileWriting: `todo backup PATH` copies the embedded database
// while writers keep inserting; the copy passes integrity_check and holds
// every task acknowledged before the backup started. It refuses to
// overwrite, and the copy restores (migrated, nothing pending).
func TestBackupWhileWriting(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{"DATA_DIR": dataDir}
	if err := run(context.Background(), []string{"migrate", "apply"}, envFunc(env), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db := dbtest.Open(t, config.Database{DataDir: dataDir})
	if _, err := db.SQL.Exec(`INSERT INTO users (id, email, name, hashed_password) VALUES ('u1', 'u1@example.com', 'U', 'x')`); err != nil {
		t.Fatal(err)
	}
	insert := func(title string) (int64, error) {
		var id int64
		err := db.SQL.QueryRow(`INSERT INTO tasks (user_id, title, description) VALUES ('u1', ?, ?) RETURNING id`, title, strings.Repeat("d", 500)).Scan(&id)
		return id, err
	}
	// Enough rows that the copy takes a while.
	if _, err := db.SQL.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO tasks (user_id, title, description) SELECT 'u1', 'bulk ' || i, printf('%.500c', 'd') FROM n`); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make(chan error, 4)
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, err := insert(fmt.Sprintf("writer %d #%d", w, i))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	waitFor := func(n int) {
		for {
			mu.Lock()
			k := len(acked)
			mu.Unlock()
			if k >= n {
				return
			}
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
		}
	}
	waitFor(200)
	mu.Lock()
	before := append([]int64(nil), acked...)
	mu.Unlock()

	path := filepath.Join(t.TempDir(), "copy.db")
	var out strings.Builder
	err := run(context.Background(), []string{"backup", path}, envFunc(env), &out, io.Discard)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	waitFor(len(before) + during + 50) // the writers still write after the copy
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	t.Logf("%s; %d tasks acknowledged before it started, %d while it ran", strings.TrimSpace(out.String()), len(before), during)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	cp, err := database.OpenSQLite("file:" + path + "?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var check string
	if err := cp.SQL.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	have := map[int64]bool{}
	rows, err := cp.SQL.Query(`SELECT id FROM tasks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("task %d was acknowledged before the backup started and is not in it", id)
		}
	}
	if len(have) < 20000+len(before) {
		t.Fatalf("backup holds %d tasks, want at least %d", len(have), 20000+len(before))
	}

	// Never overwrites.
	err = run(context.Background(), []string{"backup", path}, envFunc(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if fi2, err := os.Stat(path); err != nil || fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("existing file touched: %v", err)
	}

	// Restore: the copy as another data directory's todo.db is a migrated
	// database with nothing pending.
	restored := t.TempDir()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "todo.db"), b, 0o600); err != nil { //nolint:gosec // G703: a temporary directory of the test
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "status"}, envFunc(map[string]string{"DATA_DIR": restored}), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " 0 pending") {
		t.Fatalf("status of the restored copy:\n%s", out.String())
	}
}

func TestBackupRefusals(t *testing.T) {
	// PostgreSQL: pointed to pg_dump and Neon's restore, nothing opened.
	err := run(context.Background(), []string{"backup", filepath.Join(t.TempDir(), "x")},
		envFunc(map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "Neon") {
		t.Fatalf("backup on PostgreSQL: %v", err)
	}
	// No database yet: refused, and none created.
	dataDir := t.TempDir()
	err = run(context.Background(), []string{"backup", filepath.Join(t.TempDir(), "x")}, envFunc(map[string]string{"DATA_DIR": dataDir}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no database to back up") {
		t.Fatalf("backup without a database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "todo.db")); !os.IsNotExist(err) {
		t.Fatalf("backup created a database: %v", err)
	}
	if err := run(context.Background(), []string{"backup"}, envFunc(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("backup without PATH: %v", err)
	}
}
