// Package database opens the service's database, PostgreSQL through a pgx
// pool or the embedded SQLite file, and hands it to Ent.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"todo/ent"
	"todo/platform/config"
)

// SQLiteDriver is the database/sql name of the pure-Go SQLite driver, the
// name Ent and Atlas use for the SQLite dialect.
const SQLiteDriver = dialect.SQLite

var registerOnce sync.Once

// RegisterSQLite registers the pure-Go SQLite driver under SQLiteDriver:
// Ent and Atlas name the dialect "sqlite3", modernc registers "sqlite".
func RegisterSQLite() {
	registerOnce.Do(func() {
		if !slices.Contains(sql.Drivers(), SQLiteDriver) {
			sql.Register(SQLiteDriver, &sqlite.Driver{})
		}
	})
}

// DB is an open database: the Ent client and what lies beneath it.
type DB struct {
	Ent     *ent.Client
	SQL     *sql.DB
	Dialect string        // dialect.Postgres or dialect.SQLite
	Pool    *pgxpool.Pool // nil on SQLite
	// acquireTimeout bounds the wait for a connection of Query.
	acquireTimeout time.Duration
}

// Close closes the Ent client, the database/sql handle and the pool.
func (db *DB) Close() error {
	err := db.Ent.Close()
	if db.Pool != nil {
		db.Pool.Close()
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// IsPostgres reports whether the database is PostgreSQL.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens the database named by cfg: PostgreSQL when URL is a postgres://
// URL, else the embedded SQLite file (DataDir/todo.db when URL is empty).
func Open(ctx context.Context, cfg config.Database) (*DB, error) {
	if IsPostgres(cfg.URL) {
		return openPostgres(ctx, cfg)
	}
	dsn, err := SQLiteDSN(cfg)
	if err != nil {
		return nil, err
	}
	return OpenSQLite(dsn)
}

func openPostgres(ctx context.Context, cfg config.Database) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", redact(err))
	}
	pc.MinConns = cfg.MinConns
	pc.MaxConns = cfg.MaxConns
	pc.MaxConnLifetime = cfg.MaxConnLifetime
	pc.MaxConnLifetimeJitter = cfg.MaxConnLifetime / 10
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", redact(err))
	}
	sqlDB := sql.OpenDB(acquireTimeout{Connector: stdlib.GetPoolConnector(pool), timeout: cfg.AcquireTimeout})
	// The pgx pool keeps the connections; database/sql only borrows them.
	sqlDB.SetMaxIdleConns(0)
	drv := entsql.OpenDB(dialect.Postgres, sqlDB)
	return &DB{Ent: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialect.Postgres, Pool: pool, acquireTimeout: cfg.AcquireTimeout}, nil
}

// acquireTimeout bounds how long a request waits for a pooled connection,
// the seed's pool_timeout; past it the caller gets ErrPoolTimeout.
type acquireTimeout struct {
	driver.Connector
	timeout time.Duration
}

// ErrPoolTimeout is returned when no connection was free within the
// configured DB_ACQUIRE_TIMEOUT.
var ErrPoolTimeout = errors.New("database: timed out waiting for a pooled connection")

func (a acquireTimeout) Connect(ctx context.Context) (driver.Conn, error) {
	return boundWait(ctx, a.timeout, a.Connector.Connect)
}

// SQLitePath is the file of the embedded database: DataDir/todo.db when
// URL is empty, else the file a sqlite:// or file: URL names.
func SQLitePath(cfg config.Database) (string, error) {
	path := filepath.Join(cfg.DataDir, "todo.db")
	switch {
	case strings.HasPrefix(cfg.URL, "sqlite://"):
		path = strings.TrimPrefix(cfg.URL, "sqlite://")
	case strings.HasPrefix(cfg.URL, "file:"):
		path = strings.TrimPrefix(cfg.URL, "file:")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "", errors.New("DATABASE_URL: the SQLite URL names no file")
	}
	return path, nil
}

// SQLiteDSN is the modernc DSN of the embedded database: foreign keys on for
// every connection (SQLite leaves them off otherwise), WAL, a busy timeout,
// and write transactions that take the lock at BEGIN so two writers never
// deadlock upgrading a read lock.
func SQLiteDSN(cfg config.Database) (string, error) {
	path, err := SQLitePath(cfg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	if err := privateFiles(path); err != nil {
		return "", err
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// privateFiles makes the database file readable by its owner only (0600),
// creating it empty when it does not exist, and takes any group or other
// permission off its WAL and shared-memory files. SQLite creates those two
// with the database file's permissions, so they follow.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600) //nolint:gosec // G304: the operator's DATA_DIR or DATABASE_URL
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return fmt.Errorf("database file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o600); err != nil {
				return fmt.Errorf("make %s private: %w", p, err)
			}
		}
	}
	return nil
}

// OpenSQLite opens a SQLite database from a modernc DSN.
func OpenSQLite(dsn string) (*DB, error) {
	RegisterSQLite()
	sqlDB, err := sql.Open(SQLiteDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	drv := entsql.OpenDB(dialect.SQLite, sqlDB)
	return &DB{Ent: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialect.SQLite}, nil
}

// redact keeps a password that a parse error might quote out of logs.
func redact(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j >= 0 {
			return errors.New(msg[:i+3] + "…" + msg[i+j:])
		}
	}
	return err
}
