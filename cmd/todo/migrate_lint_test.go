package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	atlas "ariga.io/atlas/sql/migrate"
)

// TestMigrateLintCommand runs `todo migrate lint` on a directory with a
// destructive file: one line per finding and a failure; a lint:ignore with
// a reason (and `todo migrate hash`) makes it pass; one without does not.
func TestMigrateLintCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sqlite")
	write := func(name, body string) {
		t.Helper()
		ld, err := atlas.NewLocalDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := ld.WriteFile(name, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	write("20260101000000_a.sql", "CREATE TABLE a (id integer PRIMARY KEY, x text);\nCREATE TABLE b (id integer);\n")
	lint := func(args ...string) (string, error) {
		var out strings.Builder
		if err := run(context.Background(), []string{"migrate", "hash", dir}, envFunc(nil), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), append([]string{"migrate", "lint", "--dir", dir}, args...), envFunc(nil), &out, io.Discard)
		return out.String(), err
	}
	write("20260101000001_b.sql", "-- Drop\nDROP TABLE b;\n-- lint:ignore DS103\nALTER TABLE a DROP COLUMN x;\n")
	out, err := lint()
	if err == nil || !strings.Contains(err.Error(), "2 finding(s)") {
		t.Fatalf("lint: got %v, want 2 findings\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], filepath.Join(dir, "20260101000001_b.sql")+":2: DS102 ") ||
		!strings.Contains(lines[1], ":4: DS103 ") || !strings.Contains(lines[1], "no reason") {
		t.Fatalf("lint output:\n%s", out)
	}
	write("20260101000001_b.sql", "-- lint:ignore DS102 b was never used\nDROP TABLE b;\n-- lint:ignore DS103 x was never written\nALTER TABLE a DROP COLUMN x;\n")
	if out, err := lint(); err != nil || !strings.Contains(out, "no findings") {
		t.Fatalf("lint with reasons: %v\n%s", err, out)
	}
	if out, err := lint("--latest", "2"); err != nil {
		t.Fatalf("lint --latest 2: %v\n%s", err, out)
	}
	if _, err := lint("20260101000000_a.sql"); err != nil {
		t.Fatalf("lint of a named file: %v", err)
	}
	for _, bad := range [][]string{{"--latest"}, {"--latest", "0"}, {"--bogus"}} {
		if _, err := lint(bad...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: got %v, want the usage", bad, err)
		}
	}
	if err := run(context.Background(), []string{"migrate", "lint", "--dir", t.TempDir()}, envFunc(nil), io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "dialect") {
		t.Errorf("a directory of no known dialect: got %v", err)
	}
}
