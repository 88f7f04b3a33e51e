package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	atlas "ariga.io/atlas/sql/migrate"
)

// StatusReport is the migration state of a database.
type StatusReport struct {
	Applied []*atlas.Revision // the revisions table, ordered by version
	Pending []string          // file names Apply would run, in order
}

// Current returns the version of the last revision, or "" when none.
func (s StatusReport) Current() string {
	if len(s.Applied) == 0 {
		return ""
	}
	return s.Applied[len(s.Applied)-1].Version
}

// Status reads the revisions table and lists the files of dir that Apply
// would run. It writes nothing: a database never migrated has every file
// pending. It fails as Apply would on a broken directory or history.
func Status(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts ApplyOptions) (StatusReport, error) {
	ex, revs, err := reader(ctx, db, dialectName, dir, opts)
	if err != nil {
		return StatusReport{}, err
	}
	applied, err := revs.ReadRevisions(ctx)
	if err != nil {
		return StatusReport{}, fmt.Errorf("migrate: %w", err)
	}
	pending, err := pendingNames(ctx, ex)
	if err != nil {
		return StatusReport{}, err
	}
	return StatusReport{Applied: applied, Pending: pending}, nil
}

// Pending returns the names of the files of dir that Apply would run, in
// order; none means the database is up to date. It is cheap enough for a
// readiness probe: a handful of queries, no lock, no writes.
func Pending(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts ApplyOptions) ([]string, error) {
	ex, _, err := reader(ctx, db, dialectName, dir, opts)
	if err != nil {
		return nil, err
	}
	return pendingNames(ctx, ex)
}

// reader returns an executor that only reads: on a database without the
// revisions table it sees no revisions instead of creating the table.
func reader(ctx context.Context, db *sql.DB, dialectName string, dir fs.FS, opts ApplyOptions) (*atlas.Executor, atlas.RevisionReadWriter, error) {
	dia, err := normalizeDialect(dialectName)
	if err != nil {
		return nil, nil, err
	}
	mem, err := loadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	drv, err := openDriver(dia, db)
	if err != nil {
		return nil, nil, err
	}
	table, err := NewRevisionTable(db, dia, opts.RevisionsSchema)
	if err != nil {
		return nil, nil, err
	}
	var revs atlas.RevisionReadWriter = table
	switch exists, err := table.Exists(ctx); {
	case err != nil:
		return nil, nil, fmt.Errorf("migrate: %w", err)
	case !exists:
		revs = noRevisions{ident: table.Ident()}
	}
	ex, err := atlas.NewExecutor(drv, mem, revs)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return ex, revs, nil
}

func pendingNames(ctx context.Context, ex *atlas.Executor) ([]string, error) {
	files, err := ex.Pending(ctx)
	switch {
	case errors.Is(err, atlas.ErrNoPendingFiles):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("migrate: pending files: %w", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
	}
	return names, nil
}

// noRevisions is the revisions table of a database that has none yet. Its
// Ident still names the table, which is how Executor tells it apart from
// the schema when it checks that the database is clean.
type noRevisions struct {
	atlas.NopRevisionReadWriter
	ident *atlas.TableIdent
}

func (n noRevisions) Ident() *atlas.TableIdent { return n.ident }
