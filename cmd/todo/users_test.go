package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/database/dbtest"
)

// TestUsersCommands: the operators' account commands act on the configured
// database, and a running service sees them at once: a disabled account's
// tokens are refused and its login is a 403; enabling it revives no old
// session; a deleted account is gone with its tasks.
func TestUsersCommands(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	cfg := testConfig(t, url)
	h, err := newHandler(context.Background(), cfg, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.New(t, h)
	tokens := map[string]string{}
	for _, email := range []string{"ops-a@example.com", "ops-b@example.com"} {
		r := s.Do("POST", "/api/v1/auth/register", map[string]string{"email": email, "name": "Ops \x1b[31mred", "password": "a long password"})
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		var p struct {
			AccessToken string `json:"access_token"`
		}
		r.JSON(&p)
		tokens[email] = p.AccessToken
	}
	env := envFunc(map[string]string{"DATABASE_URL": url, "AUTH_SECRET": testSecret})
	users := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"users"}, args...), env, &out, io.Discard)
		return out.String(), err
	}
	me := func(email string) int {
		return s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tokens[email])).Status
	}
	login := func(email string) int {
		return s.Do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "a long password"}).Status
	}

	out, err := users("list")
	if err != nil || !strings.Contains(out, "ops-a@example.com") || !strings.Contains(out, "ops-b@example.com") || !strings.Contains(out, "2 account(s)") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("users list passed an escape sequence to the terminal:\n%q", out)
	}

	if out, err := users("disable", "OPS-A@example.com"); err != nil || !strings.Contains(out, "disabled ops-a@example.com") {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	if st := me("ops-a@example.com"); st != http.StatusUnauthorized {
		t.Errorf("a disabled account's token: %d, want 401", st)
	}
	if r := s.Do("POST", "/api/v1/auth/login", map[string]string{"email": "ops-a@example.com", "password": "a long password"}); r.Status != http.StatusForbidden || r.Problem().Code != "account_disabled" {
		t.Errorf("a disabled account's login: %d %s, want 403 account_disabled", r.Status, r.Body)
	}
	if _, err := users("enable", "ops-a@example.com"); err != nil {
		t.Fatal(err)
	}
	if st := me("ops-a@example.com"); st != http.StatusUnauthorized {
		t.Errorf("an old token after enabling again: %d, want 401", st)
	}
	if st := login("ops-a@example.com"); st != http.StatusOK {
		t.Errorf("login after enabling again: %d", st)
	}

	if out, err := users("delete", "ops-b@example.com"); err != nil || !strings.Contains(out, "deleted ops-b@example.com") {
		t.Fatalf("users delete: %v\n%s", err, out)
	}
	if st := me("ops-b@example.com"); st != http.StatusUnauthorized {
		t.Errorf("a deleted account's token: %d, want 401", st)
	}
	if _, err := users("disable", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Errorf("an unknown email: %v", err)
	}
	for _, args := range [][]string{{}, {"list", "x"}, {"disable"}, {"frobnicate", "a@b.c"}} {
		if _, err := users(args...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("users %v: %v, want the usage", args, err)
		}
	}
	empty := dbtest.NewEmpty(t)
	if err := run(context.Background(), []string{"users", "list"}, envFunc(map[string]string{"DATABASE_URL": empty, "AUTH_SECRET": testSecret}), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "todo migrate apply") {
		t.Errorf("users on an unmigrated database: %v", err)
	}
}

// TestUsersCommandsPrintNoEscapesFromExternalIDs: an external account's id
// is its issuer's sub, which may hold any character but NUL; `todo users`
// printed ids as they are, so a sub holding an escape sequence drove the
// operator's terminal (a title change, a cleared screen, a hidden line).
func TestUsersCommandsPrintNoEscapesFromExternalIDs(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	const id = "ext\x1b]0;owned\x07\x1b[2J\tx"
	now := time.Now()
	err := db.Ent.User.Create().SetID(id).SetEmail("escape-id@example.com").SetName("Ext").
		SetHashedPassword("!external https://auth.example.com").SetCreatedAt(now).SetUpdatedAt(now).Exec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	env := envFunc(map[string]string{"DATABASE_URL": url, "AUTH_SECRET": testSecret})
	for _, args := range [][]string{{"list"}, {"disable", "escape-id@example.com"}, {"enable", "escape-id@example.com"}, {"delete", "escape-id@example.com"}} {
		var out strings.Builder
		if err := run(context.Background(), append([]string{"users"}, args...), env, &out, io.Discard); err != nil {
			t.Fatalf("users %v: %v", args, err)
		}
		if strings.ContainsAny(out.String(), "\x1b\x07") || strings.Contains(out.String(), "\tx") {
			t.Errorf("users %v passed the id's control characters to the terminal:\n%q", args, out.String())
		}
	}
}

// TestUsersCommandsNeedAnExistingDatabase: with DATA_DIR mistyped, `todo
// users` created the directory and an empty database file there, then
// asked for `todo migrate apply` — which would have made an empty
// database and had `users list` answer "0 account(s)". It names the
// missing file and creates nothing.
func TestUsersCommandsNeedAnExistingDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mistyped", "data")
	env := envFunc(map[string]string{"DATA_DIR": dir})
	err := run(context.Background(), []string{"users", "list"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "todo.db")) {
		t.Errorf("users list on a missing database: %v, want an error naming the file", err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("users list created %s (%v)", filepath.Dir(dir), err)
	}
}
