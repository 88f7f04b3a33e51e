package database_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"todo/platform/config"
	"todo/platform/database"
)

func TestIsUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"pool-timeout/wrapped", fmt.Errorf("select tasks: %w", database.ErrPoolTimeout), true},
		{"bad-conn", driver.ErrBadConn, true},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"broken-pipe", syscall.EPIPE, true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"pg/08006-connection-failure", &pgconn.PgError{Code: "08006"}, true},
		{"pg/57P01-admin-shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"pg/57P03-cannot-connect-now", &pgconn.PgError{Code: "57P03"}, true},
		{"pg/53300-too-many-connections", &pgconn.PgError{Code: "53300"}, true},
		{"pg/23505-unique-violation", &pgconn.PgError{Code: "23505"}, false},
		{"pg/42P01-undefined-table", fmt.Errorf("select: %w", &pgconn.PgError{Code: "42P01"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := database.IsUnavailable(tc.err); got != tc.want {
				t.Errorf("IsUnavailable(%v): got %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestOpenRedactsPassword: a DATABASE_URL pgx cannot parse is reported
// without the password it carries.
func TestOpenRedactsPassword(t *testing.T) {
	cfg := config.Database{
		URL:             "postgres://todo:s3cret-pw@127.0.0.1:notaport/todo",
		MinConns:        0,
		MaxConns:        1,
		AcquireTimeout:  time.Second,
		MaxConnLifetime: time.Minute,
	}
	db, err := database.Open(context.Background(), cfg)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open: got nil error for an invalid port")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("Open error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("Open error does not name DATABASE_URL: %v", err)
	}
}

func TestSQLiteDSN(t *testing.T) {
	dir := t.TempDir() // SQLiteDSN creates the file's directory
	tests := []struct {
		name    string
		url     string
		want    string // the DSN's path
		wantErr bool
	}{
		{"empty/data-dir", "", dir + "/data/todo.db", false},
		{"sqlite-scheme", "sqlite://" + dir + "/x.db", dir + "/x.db", false},
		{"file-scheme/query-dropped", "file:" + dir + "/y.db?mode=rwc", dir + "/y.db", false},
		{"sqlite-scheme/no-file", "sqlite://", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn, err := database.SQLiteDSN(config.Database{URL: tc.url, DataDir: dir + "/data"})
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("SQLiteDSN(%q): got %q, want an error", tc.url, dsn)
			case !tc.wantErr && err != nil:
				t.Fatalf("SQLiteDSN(%q): %v", tc.url, err)
			case !tc.wantErr && !strings.HasPrefix(dsn, "file:"+tc.want+"?"):
				t.Errorf("SQLiteDSN(%q): got %q, want file:%s?…", tc.url, dsn, tc.want)
			}
		})
	}
}
