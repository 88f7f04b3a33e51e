package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/migrate"
)

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: todo migrate apply|status|down [N]|lint|hash|adopt|diff NAME")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "diff":
		if len(args) != 2 {
			return errors.New("usage: todo migrate diff NAME")
		}
		return migrateDiff(ctx, cfg, args[1], stdout)
	case "adopt":
		if len(args) != 1 {
			return errors.New("usage: todo migrate adopt")
		}
		return migrateAdopt(ctx, cfg, stdout)
	case "down":
		return migrateDown(ctx, cfg, args[1:], stdout)
	case "lint":
		return migrateLint(ctx, cfg, args[1:], stdout)
	case "hash":
		return migrateHash(args[1:], stdout)
	case "apply", "status":
		if len(args) != 1 {
			return fmt.Errorf("usage: todo migrate %s", args[0])
		}
	default:
		return fmt.Errorf("unknown migrate command %q: want apply, status, down, lint, hash, adopt or diff NAME", args[0])
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	opts := migrateOptions(cfg.Database)
	if args[0] == "apply" {
		rep, err := migrate.ApplyEmbedded(ctx, db, opts)
		for _, f := range rep.Files {
			fmt.Fprintf(stdout, "applied %s (%d statements, %s)\n", f.Name, f.Statements, f.Duration.Round(1e6))
		}
		if err != nil {
			return err
		}
		if len(rep.Files) == 0 {
			fmt.Fprintln(stdout, "no pending migrations")
		}
		return nil
	}
	dir, err := migrate.Embedded(db.Dialect)
	if err != nil {
		return err
	}
	st, err := migrate.Status(ctx, db.SQL, db.Dialect, dir, opts)
	if err != nil {
		return err
	}
	for _, r := range st.Applied {
		fmt.Fprintf(stdout, "applied  %s_%s.sql  %s  %s\n", r.Version, r.Description, r.ExecutedAt.UTC().Format("2006-01-02T15:04:05Z"), r.OperatorVersion)
	}
	for _, name := range st.Pending {
		fmt.Fprintf(stdout, "pending  %s\n", name)
	}
	fmt.Fprintf(stdout, "%d applied, %d pending\n", len(st.Applied), len(st.Pending))
	return nil
}

func migrateOptions(cfg config.Database) migrate.ApplyOptions {
	return migrate.ApplyOptions{RevisionsSchema: migrate.RevisionsSchema(cfg.URL)}
}

// migrateDiff writes the migration files for both dialects; it runs in the
// repository root, where migrations/ lives.
func migrateDiff(ctx context.Context, cfg config.Config, name string, stdout io.Writer) error {
	root := "migrations"
	if _, err := os.Stat(filepath.Join(root, "postgres", "atlas.sum")); err != nil {
		return errors.New("todo migrate diff runs in the repository root (no migrations/postgres/atlas.sum here)")
	}
	files, err := migrate.Diff(ctx, root, name, cfg.Database.DevURL)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stdout, "the migrations already match the Ent schema; nothing written")
	}
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	return nil
}

// migrateAtStart applies pending migrations on the embedded SQLite database
// (always) and on PostgreSQL when DB_AUTO_MIGRATE is set; otherwise it
// refuses to serve a database with pending migrations.
func migrateAtStart(ctx context.Context, cfg config.Database, db *database.DB, log *slog.Logger) error {
	if db.Dialect != "postgres" || cfg.AutoMigrate {
		rep, err := migrate.ApplyEmbedded(ctx, db, migrateOptions(cfg))
		for _, f := range rep.Files {
			log.Info("migration applied", "file", f.Name, "statements", f.Statements)
		}
		return err
	}
	pending, err := pendingMigrations(ctx, cfg, db)
	if err != nil {
		return fmt.Errorf("read migration state: %w", err)
	}
	if len(pending) > 0 {
		return fmt.Errorf("%d migration(s) pending (%s): run `todo migrate apply` (or set DB_AUTO_MIGRATE=true)", len(pending), strings.Join(pending, ", "))
	}
	return nil
}

func pendingMigrations(ctx context.Context, cfg config.Database, db *database.DB) ([]string, error) {
	dir, err := migrate.Embedded(db.Dialect)
	if err != nil {
		return nil, err
	}
	return migrate.Pending(ctx, db.SQL, db.Dialect, dir, migrateOptions(cfg))
}
