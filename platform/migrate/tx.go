package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
)

// execQuerier is what the Atlas drivers and RevisionTable run on.
type execQuerier = schema.ExecQuerier

// tx is a transaction of one migration file.
type tx interface {
	execQuerier
	Commit() error
	Rollback() error
}

// begin starts the transaction of one migration file on conn.
func begin(ctx context.Context, conn *sql.Conn, dia string) (tx, error) {
	if dia == dialect.SQLite {
		return beginSQLite(ctx, conn)
	}
	t, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	return t, nil
}

// lockPostgres takes the CLI's advisory lock through the Atlas driver on
// conn, so that lock and unlock run in the same session.
func lockPostgres(ctx context.Context, conn *sql.Conn, timeout time.Duration) (func() error, error) {
	drv, err := openDriver(dialect.Postgres, conn)
	if err != nil {
		return nil, err
	}
	locker, ok := drv.(schema.Locker)
	if !ok {
		return nil, fmt.Errorf("migrate: the %T driver cannot lock", drv)
	}
	unlock, err := locker.Lock(ctx, LockName, timeout)
	switch {
	case errors.Is(err, schema.ErrLocked):
		return nil, fmt.Errorf("migrate: another migration still holds lock %q after %s: %w", LockName, timeout, err)
	case err != nil:
		return nil, fmt.Errorf("migrate: take lock %q: %w", LockName, err)
	}
	return func() error {
		if err := unlock(); err != nil {
			// The session returns to the pool: never let it keep the lock.
			if _, err2 := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock_all()"); err2 != nil {
				return fmt.Errorf("migrate: release lock %q: %w", LockName, errors.Join(err, err2))
			}
		}
		return nil
	}, nil
}

// beginSQLite opens a transaction the way the Atlas CLI does on SQLite:
// foreign keys off for its length (a table rebuild would otherwise cascade),
// and a foreign key check before commit. BEGIN IMMEDIATE takes the write
// lock up front, which is what serialises concurrent Applys; database/sql
// offers no way to ask for it, hence the hand-written BEGIN on one connection.
func beginSQLite(ctx context.Context, conn *sql.Conn) (tx, error) {
	var on sql.NullBool
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil {
		return nil, fmt.Errorf("migrate: read foreign_keys pragma: %w", err)
	}
	if on.Bool {
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return nil, fmt.Errorf("migrate: disable foreign keys: %w", err)
		}
	}
	// Restoring the pragma must not depend on the caller's deadline.
	bg := context.WithoutCancel(ctx)
	raw := &sqliteTx{conn: conn, ctx: bg}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		err = fmt.Errorf("migrate: begin: %w", err)
		return nil, restoreForeignKeys(bg, conn, on.Bool, err)
	}
	commit, err := sqlite.CommitFunc(bg, conn, raw, on.Bool)
	if err != nil {
		return nil, errors.Join(err, sqlite.RollbackFunc(bg, conn, raw, on.Bool)())
	}
	return &funcTx{execQuerier: raw, commit: commit, rollback: sqlite.RollbackFunc(bg, conn, raw, on.Bool)}, nil
}

func restoreForeignKeys(ctx context.Context, conn *sql.Conn, on bool, err error) error {
	if !on {
		return err
	}
	if _, err2 := conn.ExecContext(ctx, "PRAGMA foreign_keys = on"); err2 != nil {
		discard(conn)
		return errors.Join(err, fmt.Errorf("migrate: re-enable foreign keys: %w", err2))
	}
	return err
}

// sqliteTx is a transaction begun by hand on one connection.
type sqliteTx struct {
	conn *sql.Conn
	ctx  context.Context // for COMMIT and ROLLBACK
}

func (t *sqliteTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(ctx, q, args...)
}

func (t *sqliteTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(ctx, q, args...)
}

// Commit commits; a failed COMMIT leaves SQLite in the transaction, so it
// rolls back too.
func (t *sqliteTx) Commit() error {
	if _, err := t.conn.ExecContext(t.ctx, "COMMIT"); err != nil {
		return errors.Join(err, t.Rollback())
	}
	return nil
}

// Rollback rolls back; a connection that may still be inside the
// transaction is not handed back to the pool.
func (t *sqliteTx) Rollback() error {
	if _, err := t.conn.ExecContext(t.ctx, "ROLLBACK"); err != nil {
		discard(t.conn)
		return err
	}
	return nil
}

// funcTx is a transaction whose Commit and Rollback are given.
type funcTx struct {
	execQuerier
	commit, rollback func() error
}

func (t *funcTx) Commit() error   { return t.commit() }
func (t *funcTx) Rollback() error { return t.rollback() }

// discard makes database/sql close conn instead of reusing it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
