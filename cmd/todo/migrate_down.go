package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/migrate"
)

const migrateDownUsage = "usage: todo migrate down [N] [--dry-run] [--force]"

// migrateDown reverts the last N applied migrations: `todo migrate down [N]
// [--dry-run] [--force]`. It prints the planned SQL before running it.
func migrateDown(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	opts := migrate.DownOptions{ApplyOptions: migrateOptions(cfg.Database), Steps: 1}
	gotN := false
	for _, a := range args {
		switch a {
		case "--dry-run", "-dry-run":
			opts.DryRun = true
		case "--force", "-force":
			opts.Force = true
		default:
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 || gotN {
				return errors.New(migrateDownUsage)
			}
			opts.Steps, gotN = n, true
		}
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	// The throwaway dev database is created on the live database's server.
	opts.DevURL = cfg.Database.URL
	dir, err := migrate.Embedded(db.Dialect)
	if err != nil {
		return err
	}
	rep, err := migrate.Down(ctx, db.SQL, db.Dialect, dir, opts)
	if len(rep.Reverted) > 0 {
		target := rep.Target
		if target == "" {
			target = "no migration"
		}
		fmt.Fprintf(stdout, "-- revert %v, back to %s\n", rep.Reverted, target)
		for _, s := range rep.Statements {
			fmt.Fprintf(stdout, "%s;\n", s)
		}
	}
	switch {
	case err != nil:
		return err
	case opts.DryRun:
		fmt.Fprintln(stdout, "-- dry run: nothing changed")
	default:
		fmt.Fprintf(stdout, "-- reverted %d migration(s), %d statements, revisions deleted\n", len(rep.Reverted), len(rep.Statements))
	}
	return nil
}
