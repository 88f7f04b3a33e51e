package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"todo/platform/config"
	"todo/platform/database"
)

// backupCmd writes an online copy of the embedded SQLite database to a new
// file; on PostgreSQL it refuses, naming pg_dump and Neon's restore.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("usage: todo backup PATH")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if database.IsPostgres(cfg.Database.URL) {
		return database.ErrBackupPostgres
	}
	// Opening a missing file would create an empty database: back up only
	// one that exists.
	src, err := database.SQLitePath(cfg.Database)
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("no database to back up at %s: %w", src, err)
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	start := time.Now()
	if err := database.Backup(ctx, db, args[0]); err != nil {
		return err
	}
	fi, err := os.Stat(args[0]) //nolint:gosec // G703: the operator names the file
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, %s); integrity_check ok\n", src, args[0], fi.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}
