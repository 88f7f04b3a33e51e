package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/migrate"
)

// migrateAdopt brings a database made by the seed's SQL under the
// migrations, keeping its rows, then applies what is pending.
func migrateAdopt(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	dir, err := migrate.Embedded(db.Dialect)
	if err != nil {
		return err
	}
	rep, err := migrate.Adopt(ctx, db.SQL, db.Dialect, dir, migrateOptions(cfg.Database))
	switch rep.State {
	case migrate.AdoptSeed:
		fmt.Fprintf(stdout, "adopted the seed's schema: %d users and %d tasks kept, next task id %d; recorded %s as the baseline\n",
			rep.Users, rep.Tasks, rep.NextID, rep.Baseline)
		if n := len(rep.Unreadable); n > 0 {
			fmt.Fprintf(stdout, "warning: %d account(s) hold a password hash bcrypt cannot read and sign in only after a password reset: %s\n",
				n, strings.Join(rep.Unreadable[:min(n, 20)], ", "))
		}
		if rep.Alembic != "" {
			fmt.Fprintf(stdout, "dropped alembic_version (it held revision %s): the migrations own the schema now\n", rep.Alembic)
		}
	case migrate.AdoptEmpty:
		fmt.Fprintln(stdout, "the database is empty: nothing to adopt, applying the migrations")
	case migrate.AdoptManaged:
		fmt.Fprintln(stdout, "the database is already migrated (it has revisions): nothing to adopt")
	}
	for _, f := range rep.Applied.Files {
		fmt.Fprintf(stdout, "applied %s (%d statements, %s)\n", f.Name, f.Statements, f.Duration.Round(1e6))
	}
	return err
}
