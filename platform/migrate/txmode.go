package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	atlas "ariga.io/atlas/sql/migrate"
)

// txModeNone reports whether f carries the Atlas CLI's file directive
// `-- atlas:txmode none`: run without a transaction.
func txModeNone(f atlas.File) bool {
	d, ok := f.(interface{ Directive(string) []string })
	if !ok {
		return false
	}
	for _, v := range d.Directive("txmode") {
		if v == "none" {
			return true
		}
	}
	return false
}

// applyWithoutTx runs f statement by statement on conn, the Atlas CLI's
// txmode none: the Executor writes the revision before the first statement
// and after each one, so a failure leaves a partial revision that the next
// Apply resumes.
func applyWithoutTx(ctx context.Context, conn *sql.Conn, dia string, dir atlas.Dir, opts ApplyOptions, f atlas.File, start time.Time) (FileReport, bool, error) {
	ex, revs, err := executor(conn, dia, dir, opts)
	if err != nil {
		return FileReport{}, false, err
	}
	if err := ex.Execute(ctx, f); err != nil {
		var se *atlas.StmtExecError
		if errors.As(err, &se) {
			return FileReport{}, false, fmt.Errorf("migrate: %s (txmode none): statement %q failed; the statements before it stay applied and the next apply resumes at it: %w",
				f.Name(), se.Stmt.Text, se.Err)
		}
		return FileReport{}, false, fmt.Errorf("migrate: %s (txmode none): %w", f.Name(), err)
	}
	rev, err := revs.ReadRevision(ctx, f.Version())
	if err != nil {
		return FileReport{}, false, fmt.Errorf("migrate: %s: %w", f.Name(), err)
	}
	return FileReport{Name: f.Name(), Version: f.Version(), Statements: rev.Applied, Duration: time.Since(start)}, true, nil
}
