package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	atlas "ariga.io/atlas/sql/migrate"
)

// CheckInSync fails unless the migration directories under root
// (migrations/postgres, migrations/sqlite) are intact and describe the Ent
// schema: each atlas.sum must match its files, and Diff, run on a copy,
// must have nothing to write. It is the CI check for "the schema changed
// but nobody ran `todo migrate diff`". devURL is an empty PostgreSQL server
// to replay into, as for Diff; root itself is never written.
func CheckInSync(ctx context.Context, root, devURL string) error {
	tmp, err := os.MkdirTemp("", "todo-migrations-check-*")
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	defer os.RemoveAll(tmp)
	dirs := []string{"postgres", "sqlite"}
	var errs []error
	for _, name := range dirs {
		if err := copyChecked(filepath.Join(root, name), filepath.Join(tmp, name)); err != nil {
			errs = append(errs, fmt.Errorf("migrations/%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	written, err := Diff(ctx, tmp, "check_in_sync", devURL)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	for _, name := range dirs {
		if files := filesIn(written, filepath.Join(tmp, name)); len(files) > 0 {
			errs = append(errs, fmt.Errorf("migrations/%s is behind ent/schema: `todo migrate diff <name>` would write %s; run it and commit the result",
				name, strings.Join(files, ", ")))
		}
	}
	return errors.Join(errs...)
}

// copyChecked validates the migration directory src against its atlas.sum
// and copies its files to dst.
func copyChecked(src, dst string) error {
	dir, err := atlas.NewLocalDir(src)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if err := validate(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dst, f.Name()), f.Bytes(), 0o600); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(src, atlas.HashFileName)) //nolint:gosec // G304: src is the repository's migrations directory named by the caller
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, atlas.HashFileName), sum, 0o600); err != nil { //nolint:gosec // G703: dst is under CheckInSync's os.MkdirTemp
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// filesIn returns the base names of the paths that lie in dir.
func filesIn(paths []string, dir string) []string {
	var out []string
	for _, p := range paths {
		if filepath.Dir(p) == dir {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}
