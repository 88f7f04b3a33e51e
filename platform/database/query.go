package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Rows is the result of a statement, as database/sql and pgx both give it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Query runs one statement outside any transaction and returns its rows,
// which the caller must close. On PostgreSQL it goes to the pgx pool
// directly: database/sql's connection wrapper, per-statement locking and
// conversions cost about a fifth of the server's CPU for a task read
// (docs/performance.md), and a statement on its own needs none of them. Waiting for a connection is bounded
// by DB_ACQUIRE_TIMEOUT as on the database/sql path (ErrPoolTimeout). On
// SQLite it goes through database/sql.
func (db *DB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if db.Pool == nil {
		return querySQL(ctx, db.SQL, query, args...)
	}
	conn, err := acquire(ctx, db.Pool, db.acquireTimeout)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		conn.Release()
		return nil, err
	}
	return &pgxRows{Rows: rows, conn: conn}, nil
}

// QueryFunc runs one statement and returns its rows, which the caller must
// close: DB.Query, or Via's.
type QueryFunc func(ctx context.Context, query string, args ...any) (Rows, error)

// Querier runs statements through database/sql: a *sql.DB, a *sql.Tx, an
// Ent client or transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Via runs statements on q, such as those of a transaction.
func Via(q Querier) QueryFunc {
	return func(ctx context.Context, query string, args ...any) (Rows, error) {
		return querySQL(ctx, q, query, args...)
	}
}

func querySQL(ctx context.Context, q Querier, query string, args ...any) (Rows, error) {
	rows, err := q.QueryContext(ctx, query, args...) //nolint:rowserrcheck // the caller reads and closes the rows
	if err != nil {
		return nil, err // not a nil *sql.Rows in a non-nil Rows
	}
	return rows, nil
}

// acquire takes a connection from the pool, waiting at most timeout.
func acquire(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) (*pgxpool.Conn, error) {
	return boundWait(ctx, timeout, pool.Acquire)
}

// boundWait runs get with ctx bounded by timeout (no bound when it is 0),
// and reports a wait that ran out as ErrPoolTimeout.
func boundWait[T any](ctx context.Context, timeout time.Duration, get func(context.Context) (T, error)) (T, error) {
	if timeout <= 0 {
		return get(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := get(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
		return v, fmt.Errorf("%w: %w", ErrPoolTimeout, err)
	}
	return v, err
}

// pgxRows are pgx's rows on a connection of their own, handed back to the
// pool when they are closed (once, however often Close is called).
type pgxRows struct {
	pgx.Rows
	conn *pgxpool.Conn
	once sync.Once
}

func (r *pgxRows) Close() error {
	r.once.Do(func() {
		r.Rows.Close()
		r.conn.Release()
	})
	return r.Err()
}

// Execer runs a statement that returns no rows: a *sql.DB, a *sql.Tx, an
// *ent.Tx (database/sql's signature).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ExecCount runs a statement on db and returns how many rows it changed:
// the batches of the background purges, which stop when one comes back
// short.
func ExecCount(ctx context.Context, db Execer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
