// Command todo-load measures the todo REST service and fills its database.
//
//	todo-load run  -url http://127.0.0.1:8080 [-compare http://127.0.0.1:8090] -scenarios list-all,get -c 16 -d 10s
//	todo-load seed -db postgres://postgres@127.0.0.1:5432/todo?sslmode=disable -users 1000 -tasks 1000
//	todo-load flood -url http://127.0.0.1:8080 -endpoint delete -c 32 -d 20s
//
// run is a closed-loop load generator that registers its own users through
// the API (or logs in as seeded ones), reports requests/s, latency
// percentiles, errors and the CPU split per scenario, and compares two
// servers round by round. It talks only to loopback addresses unless told
// otherwise, and every run is bounded in time and in requests.
//
// seed writes users and tasks straight into a migrated database: COPY on
// PostgreSQL, batched INSERTs on SQLite. See docs/load-tool.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  todo-load run  -url URL [-compare URL] [-scenarios a,b] [-c N] [-d DUR] ...   drive load (see -h)
  todo-load seed -db URL -users N -tasks M ...                                   fill a migrated database (see -h)
  todo-load flood -url URL -endpoint login|register|password|delete [-c N] [-d DUR]   one account floods a password endpoint; others' login latency`

// defaultPassword is the password of the users the tool creates.
const defaultPassword = "load-test-password"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "todo-load:", err)
		}
		os.Exit(2)
	}
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "run":
		cfg, err := parseRunFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		return runLoad(ctx, cfg, stdout)
	case "seed":
		cfg, err := parseSeedFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		rep, err := seedDatabase(ctx, cfg, stdout)
		if err != nil {
			return err
		}
		printSeedReport(stdout, cfg, rep)
		return nil
	case "flood":
		cfg, err := parseFloodFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		return runFlood(ctx, cfg, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// parseRunFlags reads and validates the flags of `todo-load run`.
func parseRunFlags(args []string, stderr io.Writer) (runConfig, error) {
	var c runConfig
	var scenarios, loginAs string
	fs := flag.NewFlagSet("todo-load run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "base URL of target A (the service)")
	fs.StringVar(&c.CompareURL, "compare", "", "base URL of target B; rounds alternate A, B, A, B… and the report gives A/B")
	fs.StringVar(&c.Mode, "mode", "auto", "target A's kind: api (auth endpoints), raw (no auth, X-User-ID: the rawceiling yardstick) or auto (raw when register is a 404)")
	fs.StringVar(&c.CompareMode, "compare-mode", "auto", "target B's kind: api, raw or auto")
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioNames(), ","), "comma-separated scenarios, or all")
	fs.IntVar(&c.Concurrency, "c", 16, "concurrent workers (closed loop, one request in flight each)")
	fs.DurationVar(&c.Duration, "d", 10*time.Second, "measured duration of each scenario round (required, at most 1h)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measured round")
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds per scenario and target; figures are the median of rounds")
	fs.IntVar(&c.MaxRequests, "max-requests", 2_000_000, "cap on requests of each measured round (and each warm-up)")
	fs.IntVar(&c.Users, "users", 16, "users the tool registers on an api target")
	fs.IntVar(&c.TasksPerUser, "tasks-per-user", 200, "tasks created per registered user before the rounds")
	fs.StringVar(&loginAs, "login-as", "", "comma-separated emails of existing (seeded) users to log in as instead of registering")
	fs.IntVar(&c.SeededUsers, "seeded-users", 0, "log in as seed-1@example.com … seed-N@example.com (made by todo-load seed)")
	fs.StringVar(&c.Password, "password", defaultPassword, "password of registered and seeded users")
	fs.StringVar(&c.RawUser, "raw-user", "00000000-0000-4000-8000-000000000001", "X-User-ID sent to a raw target (rawceiling seed: user 1 owns tasks 1..1000)")
	fs.StringVar(&c.RawCreateUser, "raw-create-user", "00000000-0000-4000-8000-000000000002", "X-User-ID of the create scenario on a raw target, so the list user's task count stays as seeded (rawceiling seed: user 2 has none); empty: -raw-user")
	fs.IntVar(&c.ListLimit, "list-limit", 50, "page size of the list scenarios (1..100)")
	fs.IntVar(&c.DeletePool, "delete-pool", 20_000, "tasks created before each delete round; a round that empties it ends early")
	fs.IntVar(&c.SyncLimit, "sync-limit", 1000, "page size of the sync-full scenario (1..1000)")
	fs.IntVar(&c.SyncChanges, "sync-changes", 10, "tasks each account changes before a sync-incremental round, the changes every request of the round returns (1..1000)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow targets that are not loopback addresses")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "pid of target A's server: report its CPU and memory")
	fs.IntVar(&c.ComparePID, "compare-pid", 0, "pid of target B's server")
	fs.StringVar(&c.PGMatch, "pg-match", "", "count only postgres processes whose command line contains this (e.g. the database name); default all postgres processes")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Scenarios = splitList(scenarios)
	if len(c.Scenarios) == 1 && c.Scenarios[0] == "all" {
		c.Scenarios = scenarioNames()
	}
	c.LoginAs = splitList(loginAs)
	return c, c.validate()
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validate rejects configurations that are unsafe or unbounded.
func (c *runConfig) validate() error {
	if err := checkTarget(c.URL, c.AllowRemote); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if c.CompareURL != "" {
		if err := checkTarget(c.CompareURL, c.AllowRemote); err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
	}
	for _, m := range []string{c.Mode, c.CompareMode} {
		if !slices.Contains([]string{modeAuto, modeAPI, modeRaw}, m) {
			return fmt.Errorf("-mode/-compare-mode %q: want auto, api or raw", m)
		}
	}
	if len(c.Scenarios) == 0 {
		return errors.New("-scenarios: none given")
	}
	for _, s := range c.Scenarios {
		if _, ok := lookupScenario(s); !ok {
			return fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", s, strings.Join(scenarioNames(), ", "))
		}
	}
	switch {
	case c.Duration <= 0:
		return errors.New("-d: a finite, positive duration is required")
	case c.Duration > time.Hour:
		return errors.New("-d: at most 1h per round")
	case c.Warmup < 0 || c.Warmup > 10*time.Minute:
		return errors.New("-warmup: between 0 and 10m")
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return errors.New("-c: between 1 and 4096")
	case c.Rounds < 1 || c.Rounds > 100:
		return errors.New("-rounds: between 1 and 100")
	case c.MaxRequests < 1:
		return errors.New("-max-requests: at least 1")
	case c.Users < 1 || c.Users > 10_000:
		return errors.New("-users: between 1 and 10000")
	case c.TasksPerUser < 1 || c.TasksPerUser > 100_000:
		return errors.New("-tasks-per-user: between 1 and 100000")
	case len(c.LoginAs) > 0 && c.SeededUsers > 0:
		return errors.New("-login-as and -seeded-users: give one of them")
	case c.SeededUsers < 0 || c.SeededUsers > 10_000:
		return errors.New("-seeded-users: between 0 and 10000")
	case len(c.Password) < 8 || len(c.Password) > 72:
		return errors.New("-password: 8 to 72 bytes")
	case c.RawUser == "":
		return errors.New("-raw-user: empty")
	case c.ListLimit < 1 || c.ListLimit > 100:
		return errors.New("-list-limit: between 1 and 100")
	case c.DeletePool < 1 || c.DeletePool > 1_000_000:
		return errors.New("-delete-pool: between 1 and 1000000")
	case c.SyncLimit < 1 || c.SyncLimit > 1000:
		return errors.New("-sync-limit: between 1 and 1000")
	case c.SyncChanges < 1 || c.SyncChanges > 1000:
		return errors.New("-sync-changes: between 1 and 1000")
	case c.ServerPID < 0 || c.ComparePID < 0:
		return errors.New("-server-pid/-compare-pid: not negative")
	case c.Timeout <= 0 || c.Timeout > 10*time.Minute:
		return errors.New("-timeout: between 0 and 10m")
	}
	if c.SeededUsers > 0 {
		c.LoginAs = make([]string, c.SeededUsers)
		for i := range c.LoginAs {
			c.LoginAs[i] = seedEmail(i + 1)
		}
		c.SeededUsers = 0
	}
	return nil
}

// checkTarget accepts an http(s) base URL whose host is a loopback address
// (127.0.0.0/8, ::1 or localhost) unless allowRemote is set.
func checkTarget(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: a base URL takes no query or fragment", raw)
	}
	if !allowRemote && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q is not a loopback address (127.0.0.0/8, ::1, localhost); pass -allow-remote to load another machine", raw)
	}
	return nil
}

// parseSeedFlags reads and validates the flags of `todo-load seed`.
func parseSeedFlags(args []string, stderr io.Writer) (seedConfig, error) {
	var c seedConfig
	fs := flag.NewFlagSet("todo-load seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DB, "db", "", "database: postgres://… , sqlite:///path/todo.db, file:path or a plain SQLite path (migrated with `todo migrate apply`)")
	fs.IntVar(&c.Users, "users", 1000, "users to create")
	fs.IntVar(&c.TasksPerUser, "tasks", 100, "tasks per user")
	fs.Float64Var(&c.Completed, "completed", 0.3, "share of completed tasks (0..1)")
	fs.Float64Var(&c.Described, "described", 0.4, "share of tasks with a description (0..1)")
	fs.StringVar(&c.Password, "password", defaultPassword, "password of every seeded user (hashed once)")
	fs.IntVar(&c.BcryptCost, "bcrypt-cost", 12, "bcrypt cost of the shared password hash")
	fs.IntVar(&c.Batch, "batch", 50_000, "rows per COPY (PostgreSQL) or per transaction (SQLite)")
	fs.IntVar(&c.Workers, "workers", 2, "concurrent COPY streams (PostgreSQL; SQLite uses one)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed of titles, times and ids")
	fs.IntVar(&c.First, "first", 0, "number of the first user (seed-N@example.com); 0: one past the highest already present")
	fs.DurationVar(&c.Span, "span", 365*24*time.Hour, "tasks' created_at spread over this span before now")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.validate()
}

// validate rejects impossible seed configurations.
func (c seedConfig) validate() error {
	switch {
	case c.DB == "":
		return errors.New("-db: required")
	case c.Users < 1 || c.Users > 10_000_000:
		return errors.New("-users: between 1 and 10000000")
	case c.TasksPerUser < 0 || c.TasksPerUser > 10_000_000:
		return errors.New("-tasks: between 0 and 10000000")
	case int64(c.Users)*int64(c.TasksPerUser) > 200_000_000:
		return errors.New("-users × -tasks: at most 200,000,000 tasks")
	case c.Completed < 0 || c.Completed > 1:
		return errors.New("-completed: between 0 and 1")
	case c.Described < 0 || c.Described > 1:
		return errors.New("-described: between 0 and 1")
	case len(c.Password) < 8 || len(c.Password) > 72:
		return errors.New("-password: 8 to 72 bytes")
	case c.BcryptCost < 4 || c.BcryptCost > 31:
		return errors.New("-bcrypt-cost: between 4 and 31")
	case c.Batch < 1:
		return errors.New("-batch: at least 1")
	case c.Workers < 1 || c.Workers > 64:
		return errors.New("-workers: between 1 and 64")
	case c.First < 0:
		return errors.New("-first: not negative")
	case c.Span <= 0:
		return errors.New("-span: positive")
	}
	return nil
}
