package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"todo/platform/config"
	"todo/platform/database"
)

// seedConfig is what `todo-load seed` was asked to do.
type seedConfig struct {
	DB           string        // postgres://… or sqlite:///path, file:path, or a plain path
	Users        int           // users to create
	TasksPerUser int           // tasks each user owns
	Completed    float64       // share of completed tasks
	Described    float64       // share of tasks with a description
	Password     string        // every seeded user's password
	BcryptCost   int           // cost of the one hash all users share
	Batch        int           // rows per COPY or per SQLite transaction
	Workers      int           // concurrent COPY streams (PostgreSQL)
	Seed         uint64        // random seed: the same seed gives the same titles and times (ids are always fresh)
	First        int           // number of the first user (seed-<First>@example.com); 0: after the highest present
	Span         time.Duration // created_at is spread over this span before now
}

// seedReport is what a seed run did.
type seedReport struct {
	First, Users, Tasks int
	Hash, Elapsed       time.Duration
}

// seedUser is one user row to insert.
type seedUser struct {
	id, email, name string
	created         time.Time
}

// taskRow is one task row to insert.
type taskRow struct {
	userID      string
	title       string
	description *string
	completed   bool
	created     time.Time
	updated     time.Time
	completedAt *time.Time
}

// seedPlan generates the data set deterministically from its seed, so
// batches can be produced concurrently and in any order.
type seedPlan struct {
	users     []seedUser
	owners    []int32 // owners[k] is the index in users of task k's owner
	hash      string
	start     time.Time
	now       time.Time
	completed float64
	described float64
	seed      uint64
}

var taskColumns = []string{"user_id", "title", "description", "completed", "created_at", "updated_at", "completed_at"}

var userColumns = []string{"id", "email", "name", "hashed_password", "is_active", "email_verified", "created_at", "updated_at"}

// seedEmail is the address of seeded user n.
func seedEmail(n int) string { return "seed-" + strconv.Itoa(n) + "@example.com" }

// newSeedPlan builds the users and the shuffled task ownership. Tasks are
// interleaved across users in creation order, the way a shared table fills
// up over a year, rather than stored user by user.
func newSeedPlan(cfg seedConfig, first int, hash string, now time.Time) *seedPlan {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0)) //nolint:gosec // G404: reproducible seed data, not secrets
	start := now.Add(-cfg.Span)
	p := &seedPlan{hash: hash, start: start, now: now, completed: cfg.Completed, described: cfg.Described, seed: cfg.Seed}
	p.users = make([]seedUser, cfg.Users)
	for i := range p.users {
		n := first + i
		p.users[i] = seedUser{
			id:      uuid.NewString(), // random: a second seed of the same database must not collide
			email:   seedEmail(n),
			name:    "Seed User " + strconv.Itoa(n),
			created: start.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).UTC().Truncate(time.Microsecond),
		}
	}
	p.owners = make([]int32, cfg.Users*cfg.TasksPerUser)
	for k := range p.owners {
		p.owners[k] = int32(k / cfg.TasksPerUser) //nolint:gosec // G115: a user index, below -users' bound of 10,000,000
	}
	rng.Shuffle(len(p.owners), func(i, j int) { p.owners[i], p.owners[j] = p.owners[j], p.owners[i] })
	return p
}

// taskCount returns the number of tasks in the plan.
func (p *seedPlan) taskCount() int { return len(p.owners) }

// batchRNG returns the generator of batch b: each batch is reproducible on its own.
func (p *seedPlan) batchRNG(b int) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed, uint64(b)+1)) //nolint:gosec // G404: reproducible seed data, not secrets
}

// task returns task k, drawing its random parts from rng.
func (p *seedPlan) task(k int, rng *rand.Rand) taskRow {
	t := taskRow{
		userID:  p.users[p.owners[k]].id,
		title:   randomTitle(rng),
		created: spreadTime(k, len(p.owners), p.start, p.now, rng),
	}
	t.updated = t.created
	if rng.Float64() < p.described {
		d := randomDescription(rng)
		t.description = &d
	}
	if rng.Float64() < p.completed {
		c := completionTime(t.created, p.now, rng)
		t.completed, t.completedAt, t.updated = true, &c, c
	}
	return t
}

// seedDatabase fills cfg.DB with the planned users and tasks and reports
// what it did. Progress lines go to out.
func seedDatabase(ctx context.Context, cfg seedConfig, out io.Writer) (seedReport, error) {
	t0 := time.Now()
	hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Password), cfg.BcryptCost)
	if err != nil {
		return seedReport{}, fmt.Errorf("hash password: %w", err)
	}
	rep := seedReport{Hash: time.Since(t0)}
	var s seeder
	if database.IsPostgres(cfg.DB) {
		s, err = openPGSeeder(ctx, cfg)
	} else {
		s, err = openSQLiteSeeder(ctx, cfg)
	}
	if err != nil {
		return rep, err
	}
	defer s.close()
	first := cfg.First
	if first == 0 {
		last, err := s.lastSeedNumber(ctx)
		if err != nil {
			return rep, fmt.Errorf("find existing seeded users: %w", err)
		}
		first = last + 1
	}
	plan := newSeedPlan(cfg, first, string(hash), time.Now().UTC())
	fmt.Fprintf(out, "seeding %d users x %d tasks (%d tasks, %.0f%% completed) into %s\n",
		cfg.Users, cfg.TasksPerUser, plan.taskCount(), cfg.Completed*100, s.name())
	if err := s.insertUsers(ctx, plan, cfg.Batch); err != nil {
		return rep, fmt.Errorf("insert users: %w", err)
	}
	prog := newProgress(out, plan.taskCount())
	defer prog.stop()
	if err := s.insertTasks(ctx, plan, cfg.Batch, cfg.Workers, prog.add); err != nil {
		return rep, fmt.Errorf("insert tasks: %w", err)
	}
	prog.stop()
	if err := s.countTasks(ctx); err != nil {
		return rep, fmt.Errorf("count tasks: %w", err)
	}
	if err := s.analyze(ctx); err != nil {
		return rep, fmt.Errorf("analyze: %w", err)
	}
	rep.First, rep.Users, rep.Tasks, rep.Elapsed = first, cfg.Users, plan.taskCount(), time.Since(t0)
	return rep, nil
}

// printSeedReport prints the totals and the flags a load run logs in with.
func printSeedReport(out io.Writer, cfg seedConfig, rep seedReport) {
	secs := rep.Elapsed.Seconds()
	fmt.Fprintf(out, "seeded %d users and %d tasks in %s (%.0f tasks/s, %.0f rows/s; bcrypt cost %d hash %s)\n",
		rep.Users, rep.Tasks, rep.Elapsed.Round(time.Millisecond), float64(rep.Tasks)/secs,
		float64(rep.Tasks+rep.Users)/secs, cfg.BcryptCost, rep.Hash.Round(time.Millisecond))
	last := rep.First + rep.Users - 1
	fmt.Fprintf(out, "users %s … %s, password %q, %d tasks each\n", seedEmail(rep.First), seedEmail(last), cfg.Password, cfg.TasksPerUser)
	show := min(rep.Users, 8)
	emails := make([]string, show)
	for i := range emails {
		emails[i] = seedEmail(rep.First + i)
	}
	if rep.First == 1 {
		fmt.Fprintf(out, "load them with: todo-load run -seeded-users %d -password %s …\n", show, cfg.Password)
	}
	fmt.Fprintf(out, "or: todo-load run -login-as %s -password %s …\n", strings.Join(emails, ","), cfg.Password)
}

// seeder writes a plan into one kind of database.
type seeder interface {
	name() string
	lastSeedNumber(ctx context.Context) (int, error)
	insertUsers(ctx context.Context, p *seedPlan, batch int) error
	insertTasks(ctx context.Context, p *seedPlan, batch, workers int, done func(int)) error
	countTasks(ctx context.Context) error
	analyze(ctx context.Context) error
	close()
}

// countTasksSQL gives every seeded user without one the counter row the
// service keeps per user (task_counters: the change feed's number and the
// counts GET /tasks/stats serves), counted from their tasks as the service
// does on a user's first write, so that stats is one row read from the
// start and the first write pays no count.
const countTasksSQL = `INSERT INTO task_counters (user_id, seq, total, completed, purged_seq) ` +
	`SELECT u.id, 0, COUNT(t.id), COALESCE(SUM(CASE WHEN t.completed THEN 1 ELSE 0 END), 0), 0 ` +
	`FROM users u LEFT JOIN tasks t ON t.user_id = u.id WHERE u.email LIKE 'seed-%@example.com' GROUP BY u.id ` +
	`ON CONFLICT (user_id) DO NOTHING`

// errNotMigrated explains an empty database.
var errNotMigrated = errors.New("the database has no users/tasks tables: run `todo migrate apply` (or `todo serve` with DB_AUTO_MIGRATE=true) first")

// pgSeeder writes with COPY over a pgx pool.
type pgSeeder struct{ pool *pgxpool.Pool }

func openPGSeeder(ctx context.Context, cfg seedConfig) (*pgSeeder, error) {
	pc, err := pgxpool.ParseConfig(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("parse -db: %w", err)
	}
	pc.MaxConns = int32(cfg.Workers) + 1 //nolint:gosec // G115: validate bounds -workers to 1..64
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var ok bool
	err = pool.QueryRow(ctx, `SELECT to_regclass('tasks') IS NOT NULL AND to_regclass('users') IS NOT NULL`).Scan(&ok)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if !ok {
		pool.Close()
		return nil, errNotMigrated
	}
	return &pgSeeder{pool: pool}, nil
}

func (s *pgSeeder) name() string { return "PostgreSQL (COPY)" }
func (s *pgSeeder) close()       { s.pool.Close() }

func (s *pgSeeder) lastSeedNumber(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(substring(email from '^seed-([0-9]{1,9})@example\.com$')::int), 0)
		FROM users WHERE email LIKE 'seed-%@example.com'`).Scan(&n)
	return n, err
}

func (s *pgSeeder) insertUsers(ctx context.Context, p *seedPlan, batch int) error {
	for lo := 0; lo < len(p.users); lo += batch {
		hi := min(lo+batch, len(p.users))
		rows := make([][]any, 0, hi-lo)
		for _, u := range p.users[lo:hi] {
			rows = append(rows, []any{u.id, u.email, u.name, p.hash, true, false, u.created, u.created})
		}
		if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"users"}, userColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	return nil
}

func (s *pgSeeder) insertTasks(ctx context.Context, p *seedPlan, batch, workers int, done func(int)) error {
	return forEachBatch(ctx, p.taskCount(), batch, workers, func(ctx context.Context, b, lo, hi int) error {
		src := &taskSource{plan: p, rng: p.batchRNG(b), next: lo, hi: hi}
		n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"tasks"}, taskColumns, src)
		done(int(n))
		return err
	})
}

func (s *pgSeeder) countTasks(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, countTasksSQL)
	return err
}

func (s *pgSeeder) analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "ANALYZE users, tasks, task_counters")
	return err
}

// taskSource streams the tasks [next, hi) of a plan to CopyFrom without
// materialising the batch.
type taskSource struct {
	plan     *seedPlan
	rng      *rand.Rand
	next, hi int
	row      taskRow
}

func (t *taskSource) Next() bool {
	if t.next >= t.hi {
		return false
	}
	t.row = t.plan.task(t.next, t.rng)
	t.next++
	return true
}

func (t *taskSource) Values() ([]any, error) {
	r := &t.row
	return []any{r.userID, r.title, r.description, r.completed, r.created, r.updated, r.completedAt}, nil
}

func (t *taskSource) Err() error { return nil }

// forEachBatch splits [0, n) into batches and runs fn on them with the given
// number of workers, stopping at the first error.
func forEachBatch(ctx context.Context, n, batch, workers int, fn func(ctx context.Context, b, lo, hi int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				lo := b * batch
				if err := fn(ctx, b, lo, min(lo+batch, n)); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for b := 0; b*batch < n; b++ {
		select {
		case jobs <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}

// sqliteSeeder writes with multi-row INSERTs, one transaction per batch.
type sqliteSeeder struct {
	db   *database.DB
	path string
}

// sqliteRowsPerInsert keeps a statement's parameters (8 per user row) far
// below SQLite's limit of 32,766.
const sqliteRowsPerInsert = 500

// sqliteURL turns a -db value that is not a PostgreSQL URL into the form
// platform/database understands: sqlite://path or file:path.
func sqliteURL(db string) string {
	if strings.HasPrefix(db, "sqlite://") || strings.HasPrefix(db, "file:") {
		return db
	}
	return "file:" + db
}

func openSQLiteSeeder(ctx context.Context, cfg seedConfig) (*sqliteSeeder, error) {
	u := sqliteURL(cfg.DB)
	dsn, err := database.SQLiteDSN(config.Database{URL: u})
	if err != nil {
		return nil, err
	}
	db, err := database.OpenSQLite(dsn)
	if err != nil {
		return nil, err
	}
	var n int
	err = db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'tasks')`).Scan(&n)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", u, err)
	}
	if n != 2 {
		db.Close()
		return nil, errNotMigrated
	}
	return &sqliteSeeder{db: db, path: u}, nil
}

func (s *sqliteSeeder) name() string { return "SQLite " + s.path }
func (s *sqliteSeeder) close()       { s.db.Close() }

func (s *sqliteSeeder) lastSeedNumber(ctx context.Context) (int, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT email FROM users WHERE email LIKE 'seed-%@example.com'`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	last := 0
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return 0, err
		}
		num, ok := strings.CutSuffix(strings.TrimPrefix(e, "seed-"), "@example.com")
		if n, err := strconv.Atoi(num); ok && err == nil && n > last {
			last = n
		}
	}
	return last, rows.Err()
}

func (s *sqliteSeeder) insertUsers(ctx context.Context, p *seedPlan, batch int) error {
	return s.insertBatched(ctx, "users", userColumns, len(p.users), batch, func(i int, _ *rand.Rand, args []any) []any {
		u := p.users[i]
		return append(args, u.id, u.email, u.name, p.hash, true, false, u.created, u.created)
	})
}

func (s *sqliteSeeder) insertTasks(ctx context.Context, p *seedPlan, batch, _ int, done func(int)) error {
	return s.insertBatchedProgress(ctx, "tasks", taskColumns, p.taskCount(), batch, p.batchRNG, func(k int, rng *rand.Rand, args []any) []any {
		r := p.task(k, rng)
		return append(args, r.userID, r.title, r.description, r.completed, r.created, r.updated, r.completedAt)
	}, done)
}

func (s *sqliteSeeder) countTasks(ctx context.Context) error {
	_, err := s.db.SQL.ExecContext(ctx, countTasksSQL)
	return err
}

func (s *sqliteSeeder) analyze(ctx context.Context) error {
	_, err := s.db.SQL.ExecContext(ctx, "ANALYZE")
	return err
}

func (s *sqliteSeeder) insertBatched(ctx context.Context, table string, cols []string, n, batch int, row func(int, *rand.Rand, []any) []any) error {
	return s.insertBatchedProgress(ctx, table, cols, n, batch, func(int) *rand.Rand { return nil }, row, func(int) {})
}

// insertBatchedProgress inserts rows [0, n) of table, batch rows per
// transaction and up to sqliteRowsPerInsert rows per statement.
func (s *sqliteSeeder) insertBatchedProgress(ctx context.Context, table string, cols []string, n, batch int,
	rngOf func(int) *rand.Rand, row func(int, *rand.Rand, []any) []any, done func(int)) error {
	stmts := map[int]string{}
	stmt := func(rows int) string {
		if q, ok := stmts[rows]; ok {
			return q
		}
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
		stmts[rows] = q
		return q
	}
	args := make([]any, 0, sqliteRowsPerInsert*len(cols))
	for b := 0; b*batch < n; b++ {
		lo, hi := b*batch, min((b+1)*batch, n)
		rng := rngOf(b)
		err := withTx(ctx, s.db.SQL, func(tx *sql.Tx) error {
			for i := lo; i < hi; i += sqliteRowsPerInsert {
				j := min(i+sqliteRowsPerInsert, hi)
				args = args[:0]
				for k := i; k < j; k++ {
					args = row(k, rng, args)
				}
				if _, err := tx.ExecContext(ctx, stmt(j-i), args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done(hi - lo)
	}
	return nil
}

func withTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// progress prints how far a long insert has come every few seconds.
type progress struct {
	done  atomic.Int64
	total int
	t0    time.Time
	quit  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newProgress(out io.Writer, total int) *progress {
	p := &progress{total: total, t0: time.Now(), quit: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
				d := p.done.Load()
				fmt.Fprintf(out, "  tasks %d/%d (%.0f/s)\n", d, p.total, float64(d)/time.Since(p.t0).Seconds())
			}
		}
	}()
	return p
}

func (p *progress) add(n int) { p.done.Add(int64(n)) }

func (p *progress) stop() {
	p.once.Do(func() { close(p.quit) })
	p.wg.Wait()
}
