package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"

	"todo/platform/config"
	"todo/platform/migrate"
)

const migrateLintUsage = "usage: todo migrate lint [--dir DIR] [--latest N] [FILE.sql ...]"

// migrateHash rewrites atlas.sum of each directory (default: both of the
// repository root) from its files, as `atlas migrate hash` does: after a
// lint:ignore comment was added to a file not yet committed.
func migrateHash(args []string, stdout io.Writer) error {
	dirs := args
	if len(dirs) == 0 {
		dirs = []string{filepath.Join("migrations", "postgres"), filepath.Join("migrations", "sqlite")}
	}
	for _, d := range dirs {
		if err := migrate.Rehash(d); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rehashed", filepath.Join(d, "atlas.sum"))
	}
	return nil
}

// migrateLint lints migration files: `todo migrate lint [--dir DIR]
// [--latest N] [FILE.sql ...]`. Without --dir it lints migrations/postgres
// and migrations/sqlite of the repository root; the dialect of a directory
// is told by its name. Named files are linted instead of the newest N. It
// prints one line per finding and fails when there is any.
func migrateLint(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	var (
		dirs   []string
		latest int
		files  []string
	)
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case strings.HasPrefix(a, "-") && (name == "dir" || name == "latest"):
			if !hasVal {
				if len(args) == 0 {
					return errors.New(migrateLintUsage)
				}
				val, args = args[0], args[1:]
			}
			if name == "dir" {
				dirs = append(dirs, val)
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return errors.New(migrateLintUsage)
			}
			latest = n
		case strings.HasPrefix(a, "-"):
			return errors.New(migrateLintUsage)
		default:
			files = append(files, filepath.Base(a))
		}
	}
	if len(dirs) == 0 {
		dirs = []string{filepath.Join("migrations", "postgres"), filepath.Join("migrations", "sqlite")}
	}
	if len(files) > 0 && len(dirs) != 1 {
		return errors.New("todo migrate lint: name files together with exactly one --dir")
	}
	total := 0
	for _, d := range dirs {
		dia, err := dirDialect(d)
		if err != nil {
			return err
		}
		opts := migrate.LintOptions{Latest: latest, Files: files, DevURL: cfg.Database.DevURL}
		found, err := migrate.Lint(ctx, dia, os.DirFS(d), opts)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		for _, f := range found {
			fmt.Fprintf(stdout, "%s\n", filepath.Join(d, f.String()))
		}
		total += len(found)
	}
	if total > 0 {
		return fmt.Errorf("migrate lint: %d finding(s); fix the migration, or silence one that is intended with `-- lint:ignore CODE reason` on the line before its statement", total)
	}
	fmt.Fprintln(stdout, "migrate lint: no findings")
	return nil
}

// dirDialect tells a migration directory's dialect from its name.
func dirDialect(dir string) (string, error) {
	base := strings.ToLower(filepath.Base(filepath.Clean(dir)))
	switch {
	case strings.HasPrefix(base, "sqlite"):
		return dialect.SQLite, nil
	case strings.HasPrefix(base, "postgres"):
		return dialect.Postgres, nil
	}
	return "", fmt.Errorf("todo migrate lint: cannot tell the dialect of %s: name the directory postgres… or sqlite…", dir)
}
