package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection

	"todo/platform/config"
)

// TestOpenNeonStyleURL opens the pool with a URL of the form Neon hands out
// — a role with a password, sslmode=require and channel_binding=require —
// against the local server, which has ssl on with its snakeoil certificate.
// The test gives its own role a SCRAM-over-TLS line at the top of
// pg_hba.conf (it touches no other role's access) and reloads the server.
func TestOpenNeonStyleURL(t *testing.T) {
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ssl, hba string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('ssl'), current_setting('hba_file')").Scan(&ssl, &hba); err != nil {
		t.Fatalf("PostgreSQL on %s: %v", admin, err)
	}
	if ssl != "on" {
		t.Fatalf("the test server has ssl=%s; Neon's URLs need TLS", ssl)
	}
	const role = "todo_tls_test"
	var b [12]byte
	_, _ = rand.Read(b[:])
	password := hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s LOGIN; END IF;
	END $$`, role)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET password_encryption = 'scram-sha-256'; ALTER ROLE %s PASSWORD '%s'", role, password)); err != nil {
		t.Fatal(err)
	}
	line := "hostssl all " + role + " 127.0.0.1/32 scram-sha-256"
	body, err := os.ReadFile(hba)
	if err != nil {
		t.Fatalf("read %s (the test runs as root next to the server): %v", hba, err)
	}
	if !strings.Contains(string(body), line) {
		if err := os.WriteFile(hba, []byte(line+"\n"+string(body)), 0o640); err != nil { //nolint:gosec // G306: pg_hba.conf keeps its usual mode
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the postmaster rereads pg_hba.conf asynchronously
	}

	u := url.URL{Scheme: "postgresql", User: url.UserPassword(role, password), Host: "127.0.0.1:5432", Path: "/postgres",
		RawQuery: "sslmode=require&channel_binding=require"}
	cfg := config.Database{URL: u.String(), MinConns: 0, MaxConns: 2, AcquireTimeout: 5 * time.Second, MaxConnLifetime: time.Hour}
	pg, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer pg.Close()
	var tls bool
	var user string
	if err := pg.SQL.QueryRowContext(ctx, "SELECT ssl, current_user FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()").Scan(&tls, &user); err != nil {
		t.Fatalf("query over the Neon-style URL: %v", err)
	}
	if !tls || user != role {
		t.Errorf("connection: ssl=%v user=%s; want TLS as %s", tls, user, role)
	}

	// A wrong password is refused, and the error keeps the password out.
	u.User = url.UserPassword(role, "wrong-"+password)
	cfg.URL = u.String()
	if bad, err := Open(ctx, cfg); err == nil {
		err = bad.Ping(ctx)
		bad.Close()
		if err == nil {
			t.Fatal("a wrong password was accepted")
		} else if strings.Contains(err.Error(), password) {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}
