package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"todo/modules/auth"
	"todo/platform/config"
	"todo/platform/database"
)

const usersUsage = "usage: todo users list | todo users disable|enable|delete EMAIL"

// usersCmd runs the operators' account commands on the configured
// database: list every account, disable or enable one (disabling revokes
// every session at once; enabling revives none), or delete one with its
// tasks and sessions.
func usersCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cmd, email string
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 {
		email = args[1]
	}
	switch {
	case len(args) == 1 && cmd == "list":
	case len(args) == 2 && (cmd == "disable" || cmd == "enable" || cmd == "delete"):
	default:
		return errors.New(usersUsage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.Database.Embedded() {
		// Opening creates a missing file (and its directory): a mistyped
		// DATA_DIR would get an empty database, whose accounts are none.
		path, err := database.SQLitePath(cfg.Database)
		if err != nil {
			return err
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no database at %s (DATA_DIR or DATABASE_URL): %w", path, err)
		}
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := requireMigrated(ctx, cfg.Database, db); err != nil {
		return err
	}
	admin := auth.NewAdmin(db.Ent, db.Dialect, time.Now)
	if cmd == "list" {
		return listUsers(ctx, admin, stdout)
	}
	var u auth.User
	switch cmd {
	case "disable":
		u, err = admin.SetActive(ctx, email, false)
	case "enable":
		u, err = admin.SetActive(ctx, email, true)
	default:
		u, err = admin.Delete(ctx, email)
	}
	if errors.Is(err, auth.ErrUserNotFound) {
		return fmt.Errorf("no account has the email %q", email)
	}
	if err != nil {
		return err
	}
	switch cmd {
	case "disable":
		fmt.Fprintf(stdout, "disabled %s (%s): every session revoked; login answers 403 account_disabled\n", printable(u.Email), printable(u.ID))
	case "enable":
		fmt.Fprintf(stdout, "enabled %s (%s): its owner can log in again; old sessions stay revoked\n", printable(u.Email), printable(u.ID))
	default:
		fmt.Fprintf(stdout, "deleted %s (%s) with its tasks and sessions\n", printable(u.Email), printable(u.ID))
	}
	return nil
}

// requireMigrated refuses to act on a database whose schema is behind.
func requireMigrated(ctx context.Context, cfg config.Database, db *database.DB) error {
	pending, err := pendingMigrations(ctx, cfg, db)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("%d migration(s) pending: run `todo migrate apply` first", len(pending))
	}
	return nil
}

func listUsers(ctx context.Context, admin *auth.Admin, stdout io.Writer) error {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tNAME\tACTIVE\tVERIFIED\tCREATED")
	n := 0
	err := admin.Users(ctx, func(u auth.User) error {
		n++
		_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%t\t%s\n", printable(u.ID), printable(u.Email), printable(u.Name), u.IsActive, u.EmailVerified,
			u.CreatedAt.UTC().Format(time.RFC3339))
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d account(s)\n", n)
	return nil
}

// printable keeps what users typed (and an external issuer's sub, an
// external account's id) from driving the operator's terminal:
// control and format characters (escape sequences, bidirectional
// overrides) and tabs are shown as U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || !unicode.IsPrint(r) && r != ' ' {
			return '\uFFFD'
		}
		return r
	}, s)
}
