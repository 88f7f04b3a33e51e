// Command todo is the todo service: `todo serve` runs the REST API, `todo
// migrate apply|status|down|lint|hash|adopt|diff` manages the database schema, `todo backup PATH`
// copies the embedded SQLite database, and `todo
// users list|disable|enable|delete` manages accounts.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  todo serve                 run the REST API (configuration: environment, see README)
  todo migrate apply         apply pending migrations to DATABASE_URL
  todo migrate status        list applied and pending migrations
  todo migrate down [N]      revert the last N applied migrations (default 1; --dry-run, --force)
  todo migrate lint          lint the newest migration files (--dir DIR, --latest N, or FILE.sql ...)
  todo migrate hash [DIR]    rewrite atlas.sum after a lint:ignore comment in an uncommitted file
  todo migrate diff NAME     write a migration for both dialects from the Ent schema
  todo migrate adopt         bring a database made by the seed's SQL under the migrations, keeping its rows
  todo backup PATH           copy the embedded SQLite database, while it serves, to a new file PATH
  todo users list            list every account
  todo users disable EMAIL   disable an account: every token stops working at once
  todo users enable EMAIL    enable it again (old sessions stay revoked)
  todo users delete EMAIL    delete an account with its tasks and sessions`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout)
	case "users":
		return usersCmd(ctx, args[1:], getenv, stdout)
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
