package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"todo/platform/database"
)

// LockName is the advisory lock the Atlas CLI takes while it applies
// migrations; taking the same one keeps the CLI and Apply out of each other's way.
const LockName = "atlas_migrate_execute"

// DefaultLockTimeout is how long Apply waits for LockName, the CLI's
// --lock-timeout default.
const DefaultLockTimeout = 10 * time.Second

// ApplyOptions configures Apply, Status and Pending.
type ApplyOptions struct {
	// RevisionsSchema is the PostgreSQL schema of the revisions table:
	// RevisionsSchema(databaseURL). Empty means DefaultRevisionsSchema.
	// SQLite keeps the table in main.
	RevisionsSchema string
	// OperatorVersion is written to each revision's operator_version.
	// Empty means "todo migrate" and the Atlas library's version.
	OperatorVersion string
	// LockTimeout bounds the wait for another migration run to finish.
	// Zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

func (o ApplyOptions) withDefaults() ApplyOptions {
	if o.OperatorVersion == "" {
		o.OperatorVersion = operatorVersion()
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o
}

// operatorVersion names this program the way the CLI names itself
// ("Atlas CLI v0.38.0").
func operatorVersion() string {
	const name = "todo migrate"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "ariga.io/atlas" {
				return name + " (ariga.io/atlas " + m.Version + ")"
			}
		}
	}
	return name
}

// Report is what Apply did: the files it applied, in order.
type Report struct {
	Files []FileReport
}

// FileReport is one applied migration file.
type FileReport struct {
	Name       string        // 20261126155505_init.sql
	Version    string        // 20261126155505
	Statements int           // statements executed
	Duration   time.Duration // wall time of its transaction
}

// Statements returns the number of statements executed across all files.
func (r Report) Statements() int {
	n := 0
	for _, f := range r.Files {
		n += f.Statements
	}
	return n
}

// ApplyEmbedded applies the migrations compiled into the binary to db: what
// `todo migrate apply`, DB_AUTO_MIGRATE and dbtest run.
func ApplyEmbedded(ctx context.Context, db *database.DB, opts ApplyOptions) (Report, error) {
	dir, err := Embedded(db.Dialect)
	if err != nil {
		return Report{}, err
	}
	return Apply(ctx, db.SQL, db.Dialect, dir, opts)
}

// Apply applies the pending migration files of dir (*.sql and atlas.sum, as
// `todo migrate diff` writes them) to db, the way `atlas migrate apply`
// does: under the CLI's lock, one transaction per file, recording each in the
// CLI's revisions table within that transaction. A file that fails leaves
// neither a schema change nor a revision, and the error names the file and
// the failing statement. The files applied before it stay applied.
//
// A file with the directive `-- atlas:txmode none` (CREATE INDEX
// CONCURRENTLY cannot run in a transaction) runs outside one, as the CLI
// runs it: its revision records each statement as it succeeds, and a failure
// leaves the file partially applied, resumed at the failed statement.
//
// On PostgreSQL the lock is the CLI's advisory lock, held by one dedicated
// connection that also runs the transactions. SQLite has no such lock: each
// transaction starts with BEGIN IMMEDIATE, which serialises writers, and
// decides which file is next only once it holds the write lock.
func Apply(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts ApplyOptions) (rep Report, err error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return Report{}, err
	}
	mem, err := loadDir(dir)
	if err != nil {
		return Report{}, err
	}
	opts = opts.withDefaults()
	conn, err := db.Conn(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if dia == dialect.Postgres {
		unlock, lerr := lockPostgres(ctx, conn, opts.LockTimeout)
		if lerr != nil {
			return Report{}, lerr
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}
	for {
		f, ok, ferr := applyNext(ctx, conn, dia, mem, opts)
		if ferr != nil || !ok {
			return rep, ferr
		}
		rep.Files = append(rep.Files, f)
	}
}

// applyNext applies the first pending file in its own transaction. It
// reports false when nothing is pending.
func applyNext(ctx context.Context, conn *sql.Conn, dia string, dir atlas.Dir, opts ApplyOptions) (_ FileReport, _ bool, err error) {
	start := time.Now()
	tx, err := begin(ctx, conn, dia)
	if err != nil {
		return FileReport{}, false, err
	}
	finished := false // committed, or rolled back by a failed Commit
	defer func() {
		if !finished {
			if rerr := tx.Rollback(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("migrate: roll back: %w", rerr))
			}
		}
	}()
	ex, revs, err := executor(tx, dia, dir, opts)
	if err != nil {
		return FileReport{}, false, err
	}
	if err := revs.Init(ctx); err != nil {
		return FileReport{}, false, err
	}
	pending, err := ex.Pending(ctx)
	switch {
	case errors.Is(err, atlas.ErrNoPendingFiles):
		return FileReport{}, false, nil
	case err != nil:
		return FileReport{}, false, fmt.Errorf("migrate: pending files: %w", err)
	}
	f := pending[0]
	if txModeNone(f) {
		finished = true
		if err := tx.Commit(); err != nil {
			return FileReport{}, false, fmt.Errorf("migrate: commit: %w", err)
		}
		return applyWithoutTx(ctx, conn, dia, dir, opts, f, start)
	}
	if err := ex.Execute(ctx, f); err != nil {
		return FileReport{}, false, executeError(f, err)
	}
	rev, err := revs.ReadRevision(ctx, f.Version())
	if err != nil {
		return FileReport{}, false, fmt.Errorf("migrate: %s: %w", f.Name(), err)
	}
	finished = true
	if err := tx.Commit(); err != nil {
		return FileReport{}, false, fmt.Errorf("migrate: commit %s: %w", f.Name(), err)
	}
	return FileReport{Name: f.Name(), Version: f.Version(), Statements: rev.Applied, Duration: time.Since(start)}, true, nil
}

// executor binds an Atlas driver and the revisions table to the
// transaction of one file.
func executor(db execQuerier, dia string, dir atlas.Dir, opts ApplyOptions) (*atlas.Executor, *RevisionTable, error) {
	drv, err := openDriver(dia, db)
	if err != nil {
		return nil, nil, err
	}
	revs, err := NewRevisionTable(db, dia, opts.RevisionsSchema)
	if err != nil {
		return nil, nil, err
	}
	ex, err := atlas.NewExecutor(drv, dir, revs, atlas.WithOperatorVersion(opts.OperatorVersion))
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return ex, revs, nil
}

func openDriver(dia string, db execQuerier) (atlas.Driver, error) {
	open := postgres.Open
	if dia == dialect.SQLite {
		open = sqlite.Open
	}
	drv, err := open(db)
	if err != nil {
		return nil, fmt.Errorf("migrate: open %s driver: %w", dia, err)
	}
	return drv, nil
}

// executeError names the file and, when a statement failed, the statement,
// leaving out the library's follow-up failure to record the error in a
// transaction PostgreSQL has already aborted.
func executeError(f atlas.File, err error) error {
	var se *atlas.StmtExecError
	if errors.As(err, &se) {
		return fmt.Errorf("migrate: %s: statement %q failed, file rolled back: %w", f.Name(), se.Stmt.Text, se.Err)
	}
	return fmt.Errorf("migrate: %s: file rolled back: %w", f.Name(), err)
}
