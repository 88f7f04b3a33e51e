package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database/dbtest"
)

// TestMetricsOnTheirOwnListener (issue 11, item 10): /metrics is not served
// on the API's address but on METRICS_ADDR, a listener of its own, and with
// METRICS_TOKEN only to scrapes that carry the token.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	base, out, stop := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "METRICS_ADDR": "127.0.0.1:0", "METRICS_TOKEN": "scrape-secret"})
	defer func() { _ = stop() }()
	var metrics string
	select {
	case addr := <-out.metricsAddr:
		metrics = "http://" + addr + "/metrics"
	case <-time.After(10 * time.Second):
		t.Fatalf("no metrics listener\n%s", out.text())
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the API address: %d, want 404", code)
	}
	if code, _ := get(t, metrics); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without the token: %d, want 401", code)
	}
	req, err := http.NewRequest("GET", metrics, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer scrape-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "http_requests_total") {
		t.Errorf("GET /metrics with the token: %d %.200s", res.StatusCode, b)
	}
}

// TestMetricsAddrBeyondLoopbackNeedsToken (item 10): an address other
// machines can reach is refused without METRICS_TOKEN.
func TestMetricsAddrBeyondLoopbackNeedsToken(t *testing.T) {
	_, err := config.Load(envFunc(map[string]string{"METRICS_ADDR": "0.0.0.0:9090"}))
	if err == nil || !strings.Contains(err.Error(), "METRICS_TOKEN") {
		t.Fatalf("METRICS_ADDR 0.0.0.0:9090 without a token: %v", err)
	}
	if _, err := config.Load(envFunc(map[string]string{"METRICS_ADDR": "0.0.0.0:9090", "METRICS_TOKEN": "t"})); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	for v, want := range map[string]string{"off": "", "OFF": "", "": "127.0.0.1:9464", "127.0.0.1:0": "127.0.0.1:0"} {
		cfg, err := config.Load(envFunc(map[string]string{"METRICS_ADDR": v}))
		if err != nil || cfg.HTTP.MetricsAddr != want {
			t.Errorf("METRICS_ADDR=%q: %q, %v; want %q", v, cfg.HTTP.MetricsAddr, err, want)
		}
	}
}

// TestSQLiteFilesPrivate (item 9): in an existing data directory, the
// database and its WAL files are readable by their owner only, like
// auth_secret, whether serve creates them or finds them readable by others.
func TestSQLiteFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "todo.db"), nil, 0o644); err != nil { //nolint:gosec // G306: the loose mode under test
		t.Fatal(err)
	}
	base, _, stop := startServe(t, map[string]string{"DATA_DIR": dir})
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: %d %s", code, body)
	}
	for _, f := range []string{"todo.db", "todo.db-wal", "todo.db-shm", "auth_secret"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, perm)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	_, _, stop = startServe(t, map[string]string{"DATA_DIR": fresh})
	defer func() { _ = stop() }()
	for _, f := range []string{"todo.db", "todo.db-wal"} {
		if fi, err := os.Stat(filepath.Join(fresh, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("fresh %s: %v, %v; want mode 600", f, fi.Mode(), err)
		}
	}
}

// TestAPIAnswersAreNotStored (item 11): every answer under /api/v1, tasks
// included and errors too, tells caches not to keep it.
func TestAPIAnswersAreNotStored(t *testing.T) {
	env := testEnvSQLite(t)
	s := apitest.New(t, env)
	r := s.Do("POST", "/api/v1/auth/register", map[string]string{"email": "nostore@example.com", "name": "N", "password": "a long password"})
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	r.JSON(&pair)
	auth := apitest.Bearer(pair.AccessToken)
	created := s.Do("POST", "/api/v1/tasks", map[string]string{"title": "private"}, auth)
	for _, r := range []*apitest.Response{
		created,
		s.Do("GET", created.Header.Get("Location"), nil, auth),
		s.Do("GET", "/api/v1/tasks", nil, auth),
		s.Do("GET", "/api/v1/tasks/stats", nil, auth),
		s.Do("GET", "/api/v1/tasks/999", nil, auth),
		s.Do("GET", "/api/v1/tasks", nil),
	} {
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%d answer: Cache-Control %q, want no-store", r.Status, cc)
		}
	}
}

// testEnvSQLite is the whole handler on a fresh embedded database.
func testEnvSQLite(t *testing.T) http.Handler {
	t.Helper()
	cfg, err := config.Load(envFunc(map[string]string{"DATA_DIR": t.TempDir(), "AUTH_SECRET": testSecret, "AUTH_BCRYPT_COST": "4"}))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(context.Background(), cfg, dbtest.NewSQLite(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
