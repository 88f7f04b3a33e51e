// Package dbtest gives each test its own database, migrated with the code
// `todo migrate apply` runs, and drops it when the test ends.
//
// PostgreSQL comes from TEST_DATABASE_URL (default DefaultAdminURL), an
// account that may create databases. A server that does not answer fails
// the test: these tests are never skipped.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/migrate"
)

// DefaultAdminURL is the server used when TEST_DATABASE_URL is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns TEST_DATABASE_URL, or DefaultAdminURL when it is unset.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// New returns a fresh PostgreSQL database with the embedded migrations
// applied. It is closed and dropped when the test ends.
func New(t testing.TB) *database.DB {
	t.Helper()
	db, _ := NewWithURL(t)
	return db
}

// NewWithURL is New, also returning the database's URL.
func NewWithURL(t testing.TB) (*database.DB, string) {
	t.Helper()
	u := NewEmpty(t)
	db := open(t, Config(u))
	migrateDB(t, db, u)
	return db, u
}

// NewSQLite returns a fresh SQLite database in a temporary directory, with
// the embedded migrations applied. It is closed when the test ends.
func NewSQLite(t testing.TB) *database.DB {
	t.Helper()
	db := open(t, config.Database{DataDir: t.TempDir()})
	migrateDB(t, db, "")
	return db
}

// NewEmpty creates an empty PostgreSQL database named test_<random> and
// returns its URL; it is dropped (WITH (FORCE)) when the test ends.
func NewEmpty(t testing.TB) string {
	t.Helper()
	admin := AdminURL()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("dbtest: TEST_DATABASE_URL: %v", err)
	}
	name := "test_" + randomHex(t, 8)
	if err := exec(admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Config is the pool configuration tests open a database URL with.
func Config(databaseURL string) config.Database {
	return config.Database{
		URL:             databaseURL,
		MinConns:        0,
		MaxConns:        10,
		AcquireTimeout:  5 * time.Second,
		MaxConnLifetime: time.Hour,
	}
}

// Open opens cfg's database with database.Open and closes it when the test
// ends; it applies no migrations.
func Open(t testing.TB, cfg config.Database) *database.DB {
	t.Helper()
	return open(t, cfg)
}

func open(t testing.TB, cfg config.Database) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dbtest: open database: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("dbtest: close database: %v", err)
		}
	})
	return db
}

func migrateDB(t testing.TB, db *database.DB, databaseURL string) {
	t.Helper()
	opts := migrate.ApplyOptions{RevisionsSchema: migrate.RevisionsSchema(databaseURL)}
	if _, err := migrate.ApplyEmbedded(context.Background(), db, opts); err != nil {
		t.Fatalf("dbtest: apply migrations: %v", err)
	}
}

// exec runs one statement on a short-lived connection to the server.
func exec(databaseURL, stmt string) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", redacted(databaseURL), err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s on %s (is PostgreSQL running? set TEST_DATABASE_URL): %w", stmt, redacted(databaseURL), err)
	}
	return nil
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("dbtest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// redacted hides the password of a URL.
func redacted(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "TEST_DATABASE_URL"
	}
	return u.Redacted()
}
