package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"todo/migrations"
	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database/dbtest"
)

const testSecret = "e2e-secret-0123456789abcdef0123456789"

// lineWriter collects the process's log lines and signals the address it
// listens on.
type lineWriter struct {
	mu          sync.Mutex
	lines       []string
	addr        chan string
	metricsAddr chan string
	buf         strings.Builder
}

func newLineWriter() *lineWriter {
	return &lineWriter{addr: make(chan string, 1), metricsAddr: make(chan string, 1)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	s := w.buf.String()
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		line := s[:i]
		s = s[i+1:]
		w.lines = append(w.lines, line)
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			ch := map[string]chan string{"listening": w.addr, "metrics listening": w.metricsAddr}[rec.Msg]
			select {
			case ch <- rec.Addr:
			default:
			}
		}
	}
	w.buf.Reset()
	w.buf.WriteString(s)
	return len(p), nil
}

func (w *lineWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func envFunc(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// startServe runs `todo serve` in-process and returns its base URL and a
// stop function that returns run's error.
func startServe(t *testing.T, env map[string]string) (string, *lineWriter, func() error) {
	t.Helper()
	return startServeTee(t, env, nil)
}

// startServeTee is startServe whose log also goes to tee, when not nil.
func startServeTee(t *testing.T, env map[string]string, tee io.Writer) (string, *lineWriter, func() error) {
	t.Helper()
	env["HTTP_ADDR"] = "127.0.0.1:0"
	if _, ok := env["METRICS_ADDR"]; !ok {
		env["METRICS_ADDR"] = "127.0.0.1:0"
	}
	// The auth module hashes a dummy password at start: at the default cost
	// (12) that took 16 s under -race on a busy 2-core machine, and two
	// starts in one test ran past the 30 s allowed below.
	if _, ok := env["AUTH_BCRYPT_COST"]; !ok {
		env["AUTH_BCRYPT_COST"] = "4"
	}
	out := newLineWriter()
	var log io.Writer = out
	if tee != nil {
		log = io.MultiWriter(out, tee)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFunc(env), log, io.Discard) }()
	select {
	case addr := <-out.addr:
		stop := func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(30 * time.Second):
				return fmt.Errorf("serve did not stop")
			}
		}
		t.Cleanup(func() { cancel() })
		return "http://" + addr, out, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before listening: %v\n%s", err, out.text())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", out.text())
	}
	return "", nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeEmbeddedDefault: with no configuration but a data directory, the
// binary creates the SQLite file and a secret, migrates, serves, and stops
// cleanly when its context ends (SIGTERM).
func TestServeEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	base, out, stop := startServe(t, map[string]string{"DATA_DIR": dir})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if code, body := get(t, base+"/openapi.yaml"); code != http.StatusOK || !strings.HasPrefix(body, "openapi: 3.0") && !strings.Contains(body, "\nopenapi: 3.0") {
		t.Errorf("GET /openapi.yaml: %d, body starts %.40q", code, body)
	}
	if code, _ := get(t, base+"/docs"); code != http.StatusOK {
		t.Errorf("GET /docs: %d", code)
	}
	for _, f := range []string{"todo.db", "auth_secret"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(out.text(), `"msg":"database closed"`) {
		t.Errorf("the database was not closed on shutdown:\n%s", out.text())
	}
}

// TestServePostgresRefusesPendingMigrations: on PostgreSQL the binary
// migrates only when told to; with migrations pending it refuses to start and
// names the command, and after `todo migrate apply` it serves.
func TestServePostgresRefusesPendingMigrations(t *testing.T) {
	url := dbtest.NewEmpty(t)
	env := map[string]string{"DATABASE_URL": url, "AUTH_SECRET": testSecret, "HTTP_ADDR": "127.0.0.1:0"}

	err := run(context.Background(), []string{"serve"}, envFunc(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "todo migrate apply") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("serve on an unmigrated database: got %v, want one line naming todo migrate apply", err)
	}

	var status strings.Builder
	if err := run(context.Background(), []string{"migrate", "status"}, envFunc(env), &status, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir, err := migrations.Dir("postgres")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(dir, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	n := len(files)
	if !strings.Contains(status.String(), fmt.Sprintf("0 applied, %d pending", n)) {
		t.Errorf("status before apply:\n%s", status.String())
	}
	var applied strings.Builder
	if err := run(context.Background(), []string{"migrate", "apply"}, envFunc(env), &applied, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(applied.String(), "applied "); got != n {
		t.Errorf("apply printed %d applied files, want %d:\n%s", got, n, applied.String())
	}
	status.Reset()
	if err := run(context.Background(), []string{"migrate", "status"}, envFunc(env), &status, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.String(), fmt.Sprintf("%d applied, 0 pending", n)) {
		t.Errorf("status after apply:\n%s", status.String())
	}

	base, _, stop := startServe(t, env)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz: %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeProductionNeedsSecret(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, envFunc(map[string]string{"APP_ENV": "production", "DATA_DIR": t.TempDir()}), io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "AUTH_SECRET:") {
		t.Fatalf("got %v, want an AUTH_SECRET error", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, envFunc(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), []string{"migrate", "sideways"}, envFunc(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown migrate command accepted")
	}
}

func testConfig(t *testing.T, databaseURL string) config.Config {
	t.Helper()
	cfg, err := config.Load(envFunc(map[string]string{
		"DATABASE_URL":     databaseURL,
		"AUTH_SECRET":      testSecret,
		"AUTH_BCRYPT_COST": "4",
		"DATA_DIR":         t.TempDir(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRoutesMatchContract: every route the engine registers is in
// openapi.yaml and every documented operation is registered.
func TestRoutesMatchContract(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	e, err := newHandler(context.Background(), testConfig(t, url), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	apitest.CheckRoutes(t, e.Routes())
}

// TestAppJobs checks that serve runs every module's background jobs.
func TestAppJobs(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	a, err := newApp(context.Background(), testConfig(t, url), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range a.jobs {
		names = append(names, j.Name)
	}
	for _, want := range []string{"purge ended sessions", "purge expired tombstones"} {
		if !slices.Contains(names, want) {
			t.Errorf("jobs %v lack %q", names, want)
		}
	}
}

// TestEndToEnd walks a client's day through the whole handler, every
// exchange validated against the contract.
func TestEndToEnd(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	a, err := newApp(context.Background(), testConfig(t, url), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.New(t, a.api)

	r := s.Do("POST", "/api/v1/auth/register", map[string]string{"email": "Ann@Example.com", "name": "Ann", "password": "a long password"})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.JSON(&pair)
	auth := apitest.Bearer(pair.AccessToken)

	r = s.Do("POST", "/api/v1/tasks", map[string]any{"title": "Buy milk", "description": "2 litres"}, auth)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	r = s.Do("POST", loc+"/toggle", nil, auth)
	if r.Status != http.StatusOK {
		t.Fatalf("toggle: %d %s", r.Status, r.Body)
	}
	r = s.Do("GET", "/api/v1/tasks/stats", nil, auth)
	var stats struct{ Total, Pending, Completed int }
	r.JSON(&stats)
	if stats.Total != 1 || stats.Completed != 1 || stats.Pending != 0 {
		t.Errorf("stats: %+v", stats)
	}
	// The metrics are not on the API's address, but on METRICS_ADDR's.
	if r = s.Do("GET", "/metrics", nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API: %d, want 404", r.Status)
	}
	rec := httptest.NewRecorder()
	a.metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `http_requests_total{method="POST",route="/api/v1/tasks/:id/toggle",status="200"} 1`) {
		t.Errorf("metrics lack the toggle request: %d", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "db_pool_max_connections") {
		t.Error("metrics lack the pool gauges")
	}
	if !strings.Contains(rec.Body.String(), "todo_ratelimit_redis_errors_total 0") || !strings.Contains(rec.Body.String(), "todo_ratelimit_redis_fallback 0") {
		t.Error("metrics lack the shared limits' counters (exported at zero without REDIS_URL)")
	}

	// Deleting the account takes the tasks with it and ends the token.
	r = s.Do("DELETE", "/api/v1/users/me", map[string]string{"password": "a long password"}, auth)
	if r.Status != http.StatusNoContent {
		t.Fatalf("delete account: %d %s", r.Status, r.Body)
	}
	if r = s.Do("GET", "/api/v1/tasks", nil, auth); r.Status != http.StatusUnauthorized {
		t.Errorf("token after account deletion: %d", r.Status)
	}
	n, err := db.Ent.Task.Query().Count(context.Background())
	if err != nil || n != 0 {
		t.Errorf("tasks after account deletion: %d, %v", n, err)
	}
}
