package migrate_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	atlas "ariga.io/atlas/sql/migrate"

	"todo/platform/database/dbtest"
	"todo/platform/migrate"
)

const repoMigrations = "../../migrations"

func TestCheckInSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(t *testing.T, root string)
		want   []string // substrings of the error; none: in sync
	}{
		{name: "check/repository", modify: func(*testing.T, string) {}},
		{
			name: "check/edited-file",
			modify: func(t *testing.T, root string) {
				appendTo(t, filepath.Join(root, "postgres", "20261126155505_init.sql"), "-- edited\n")
			},
			want: []string{"migrations/postgres", "20261126155505_init.sql", "edited"},
		},
		{
			name: "check/missing-migration",
			modify: func(t *testing.T, root string) {
				// Drop the latest sqlite file and re-sum, as if the schema
				// had changed without `todo migrate diff`.
				dir := filepath.Join(root, "sqlite")
				latest, err := filepath.Glob(filepath.Join(dir, "*.sql"))
				if err != nil || len(latest) == 0 {
					t.Fatalf("sqlite migrations: %v %v", latest, err)
				}
				if err := os.Remove(latest[len(latest)-1]); err != nil {
					t.Fatal(err)
				}
				ld, err := atlas.NewLocalDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				sum, err := ld.Checksum()
				if err != nil {
					t.Fatal(err)
				}
				if err := atlas.WriteSumFile(ld, sum); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"migrations/sqlite is behind", "check_in_sync.sql"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := copyTree(t, repoMigrations)
			tc.modify(t, root)
			err := migrate.CheckInSync(context.Background(), root, dbtest.AdminURL())
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckInSync: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckInSync: got nil error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "migrations/postgres is behind") {
				t.Errorf("error %q blames postgres, which is in sync", err)
			}
		})
	}
	t.Run("check/leaves-root-alone", func(t *testing.T) {
		t.Parallel()
		before := listTree(t, repoMigrations)
		if err := migrate.CheckInSync(context.Background(), repoMigrations, dbtest.AdminURL()); err != nil {
			t.Fatal(err)
		}
		if after := listTree(t, repoMigrations); after != before {
			t.Fatalf("CheckInSync changed %s:\nbefore %s\nafter %s", repoMigrations, before, after)
		}
	})
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, rerr := os.ReadFile(p) //nolint:gosec // G122: p is under the test's own t.TempDir copy
			fmt.Fprintf(&b, "%s %x\n", p, sha256.Sum256(data))
			return rerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
