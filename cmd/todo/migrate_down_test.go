package main

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"

	"todo/migrations"
	"todo/platform/database/dbtest"
)

// TestMigrateDownCommand runs `todo migrate down` as an operator would, on
// PostgreSQL and on the embedded SQLite file.
func TestMigrateDownCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"postgres", func(t *testing.T) map[string]string { return map[string]string{"DATABASE_URL": dbtest.NewEmpty(t)} }},
		{"sqlite", func(t *testing.T) map[string]string { return map[string]string{"DATA_DIR": t.TempDir()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := envFunc(tc.env(t))
			cmd := func(args ...string) (string, error) {
				var out strings.Builder
				err := run(context.Background(), append([]string{"migrate"}, args...), env, &out, io.Discard)
				return out.String(), err
			}
			if _, err := cmd("apply"); err != nil {
				t.Fatal(err)
			}
			dir, err := migrations.Dir(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			files, err := fs.Glob(dir, "*.sql")
			if err != nil || len(files) == 0 {
				t.Fatal(files, err)
			}
			last := files[len(files)-1]
			for _, bad := range [][]string{{"down", "0"}, {"down", "x"}, {"down", "1", "2"}} {
				if _, err := cmd(bad...); err == nil || !strings.Contains(err.Error(), "usage") {
					t.Errorf("%v: got %v, want the usage", bad, err)
				}
			}
			out, err := cmd("down", "--dry-run")
			if err != nil || !strings.Contains(out, "-- revert ["+strings.SplitN(last, "_", 2)[0]+"]") || !strings.Contains(out, "dry run: nothing changed") {
				t.Fatalf("down --dry-run: %v\n%s", err, out)
			}
			if out, _ := cmd("status"); !strings.Contains(out, " 0 pending") {
				t.Fatalf("a dry run changed the revisions:\n%s", out)
			}
			if out, err := cmd("down"); err != nil || !strings.Contains(out, "reverted 1 migration(s)") {
				t.Fatalf("down: %v\n%s", err, out)
			}
			if out, _ := cmd("status"); !strings.Contains(out, "pending  "+last) {
				t.Fatalf("status after down:\n%s", out)
			}
			if _, err := cmd("down", "100"); err == nil || !strings.Contains(err.Error(), "cannot revert 100 files") {
				t.Fatalf("down 100: got %v", err)
			}
			if out, err := cmd("apply"); err != nil || !strings.Contains(out, "applied "+last) {
				t.Fatalf("apply after down: %v\n%s", err, out)
			}
		})
	}
}
