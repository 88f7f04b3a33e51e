package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// TestServeRevocationAcrossInstances: two `todo serve` processes' worth of
// service on one PostgreSQL database, each with its session cache on (the
// default) and its listener. A logout through one, and an operator's
// `todo users disable` (another process again), are refused by the other
// instance that had the session cached, within the contract's second
// (polled; a generous bound fails the test, the delay is logged).
func TestServeRevocationAcrossInstances(t *testing.T) {
	_, url := dbtest.NewWithURL(t)
	env := func() map[string]string {
		return map[string]string{"DATABASE_URL": url, "AUTH_SECRET": testSecret, "DATA_DIR": t.TempDir()}
	}
	baseA, logA, stopA := startServe(t, env())
	baseB, logB, stopB := startServe(t, env())
	for _, l := range []*lineWriter{logA, logB} {
		waitLog(t, l, "database listener connected")
	}

	pair := func(base, path string, body any) (access, refresh string) {
		t.Helper()
		var p struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		code, out := send(t, "POST", base+path, "", body)
		if code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, out)
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		return p.AccessToken, p.RefreshToken
	}
	me := func(base, token string) int {
		code, _ := send(t, "GET", base+"/api/v1/users/me", token, nil)
		return code
	}
	waitRefused := func(base, token string, since time.Time) time.Duration {
		t.Helper()
		for me(base, token) != http.StatusUnauthorized {
			if time.Since(since) > 5*time.Second {
				t.Fatalf("%s still accepts the revoked token 5 s after the revocation", base)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(since)
	}

	const email, password = "cluster@example.com", "a long password"
	access, refresh := pair(baseA, "/api/v1/auth/register", map[string]string{"email": email, "name": "Cluster", "password": password})
	access2, _ := pair(baseA, "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	for _, tok := range []string{access, access2} {
		if code := me(baseB, tok); code != http.StatusOK { // cached by B
			t.Fatalf("B: %d", code)
		}
	}

	start := time.Now()
	if code, out := send(t, "POST", baseA+"/api/v1/auth/logout", "", map[string]string{"refresh_token": refresh}); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, out)
	}
	if code := me(baseA, access); code != http.StatusUnauthorized {
		t.Errorf("the instance that logged out: %d, want 401 at once", code)
	}
	t.Logf("logout through A: refused by B after %v", waitRefused(baseB, access, start).Round(time.Microsecond))
	if code := me(baseB, access2); code != http.StatusOK {
		t.Errorf("the user's other session: %d, want 200", code)
	}

	start = time.Now()
	var out strings.Builder
	if err := run(context.Background(), []string{"users", "disable", email}, envFunc(env()), &out, io.Discard); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out.String())
	}
	for _, base := range []string{baseA, baseB} {
		t.Logf("todo users disable: refused by %s after %v", base, waitRefused(base, access2, start).Round(time.Microsecond))
	}

	for _, stop := range []func() error{stopA, stopB} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLog waits for a line containing s in l.
func waitLog(t *testing.T, l *lineWriter, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.text(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", s, l.text())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// send makes one request with an optional bearer token and JSON body.
func send(t *testing.T, method, url, token string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
