package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"entgo.io/ent/dialect"
)

// ErrBackupPostgres is Backup's answer on PostgreSQL, whose own tools do it
// better than a copy made here could.
var ErrBackupPostgres = errors.New("todo backup copies the embedded SQLite database only; " +
	"for PostgreSQL use pg_dump (pg_dump --format=custom --file=todo.dump \"$DATABASE_URL\", restored with pg_restore), " +
	"and on Neon its point-in-time restore or a branch (see README, \"Backups\")")

// Backup writes a consistent copy of the embedded SQLite database db to
// path, while the service keeps reading and writing it: SQLite's VACUUM INTO
// reads one snapshot (a read transaction, which WAL lets run beside
// writers), so the copy holds every transaction committed before it began
// and none of a later one. path must not exist: an existing file is never
// overwritten. The copy is created readable by its owner only (0600), like
// the database, synced to disk, and checked with PRAGMA integrity_check; on
// any failure it is removed.
func Backup(ctx context.Context, db *DB, path string) (err error) {
	if db.Dialect != dialect.SQLite {
		return ErrBackupPostgres
	}
	if path == "" {
		return errors.New("backup: no file named")
	}
	// O_EXCL: refuse an existing file (or symlink) atomically. VACUUM INTO
	// writes into an empty file and keeps its permissions.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: the operator names the file
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("backup: %s already exists; it is never overwritten, name a new file", path)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("backup: remove the incomplete copy: %w", rerr))
			}
		}
	}()
	if _, err := db.SQL.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup: VACUUM INTO %s: %w", path, err)
	}
	if err := syncFile(path); err != nil {
		return err
	}
	return checkIntegrity(ctx, path)
}

// syncFile flushes the copy and its directory entry to disk: VACUUM INTO
// does not.
func syncFile(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p) //nolint:gosec // G304: the operator's file and its directory
		if err != nil {
			return fmt.Errorf("backup: sync %s: %w", p, err)
		}
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(serr, cerr); err != nil {
			return fmt.Errorf("backup: sync %s: %w", p, err)
		}
	}
	return nil
}

// checkIntegrity opens the copy read-only and runs PRAGMA integrity_check.
func checkIntegrity(ctx context.Context, path string) error {
	copyDB, err := OpenSQLite("file:" + path + "?mode=ro")
	if err != nil {
		return fmt.Errorf("backup: open the copy: %w", err)
	}
	defer copyDB.Close()
	var res string
	if err := copyDB.SQL.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("backup: check the copy: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("backup: the copy fails PRAGMA integrity_check: %s", res)
	}
	return nil
}
