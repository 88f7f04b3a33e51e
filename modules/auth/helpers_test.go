package auth

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

const (
	testSecret   = "0123456789abcdef0123456789abcdef-test-secret"
	testPassword = "correct horse battery"
)

// clock is a test clock that starts at the real time and moves only when
// told to.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig is a fast configuration: bcrypt at cost 4 and limits high
// enough not to trip unless a test lowers them.
func testConfig() config.Auth {
	return config.Auth{
		Secret:             testSecret,
		BcryptCost:         4,
		AccessTTL:          15 * time.Minute,
		RefreshTTL:         30 * 24 * time.Hour,
		Issuer:             "todo",
		Audience:           "todo-api",
		HashSlots:          4,
		HashQueue:          64,
		RatePerIP:          100000,
		RatePerEmail:       100000,
		RatePerAccount:     100000,
		FailuresPerAccount: 100000,
		FailureBackoffMax:  15 * time.Minute,
		RefreshPerSession:  100000,
		MaxSessions:        100,
		AppBaseURL:         "https://todo.example",
		VerifyTTL:          24 * time.Hour,
		ResetTTL:           time.Hour,
		MailsPerHour:       100000,
	}
}

// env is the auth module served over HTTP on a test database.
type env struct {
	db      *database.DB
	mod     *Module
	clock   *clock
	logs    *syncBuffer
	handler http.Handler
	cfg     config.Auth
	outbox  *testOutbox
}

type option func(*config.Auth, *config.HTTP)

func withConfig(f func(*config.Auth)) option {
	return func(a *config.Auth, _ *config.HTTP) { f(a) }
}

// withTrustedLoopback makes the engine trust X-Forwarded-For from the test
// client, so tests can speak for many client addresses.
func withTrustedLoopback() option {
	return func(_ *config.Auth, h *config.HTTP) {
		h.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
}

// newEnv builds the module on db behind the shared engine, mounted as
// cmd/todo mounts it.
func newEnv(t testing.TB, db *database.DB, opts ...option) *env {
	t.Helper()
	return buildEnv(t, db, nil, nil, "", opts...)
}

// newListeningEnv is newEnv whose session cache hears revocations through
// listener (PostgreSQL), which the caller runs.
func newListeningEnv(t testing.TB, db *database.DB, listener *database.Listener, opts ...option) *env {
	t.Helper()
	return buildEnv(t, db, listener, nil, "", opts...)
}

// newSharedEnv is newEnv with the limits kept in rdb under prefix.
func newSharedEnv(t testing.TB, db *database.DB, rdb redis.Scripter, prefix string, opts ...option) *env {
	t.Helper()
	return buildEnv(t, db, nil, rdb, prefix, opts...)
}

func buildEnv(t testing.TB, db *database.DB, listener *database.Listener, rdb redis.Scripter, prefix string, opts ...option) *env {
	t.Helper()
	cfg, hcfg := testConfig(), config.HTTP{}
	for _, o := range opts {
		o(&cfg, &hcfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := httpx.NewEngine(hcfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	clk := newClock()
	outbox := &testOutbox{db: db}
	m, err := New(context.Background(), Deps{DB: db.Ent, Dialect: db.Dialect, Config: cfg, Log: log, Now: clk.Now, Binder: httpx.NewBinder(), WakeMail: outbox.wake, Listener: listener,
		Redis: rdb, RedisConfig: config.Redis{KeyPrefix: prefix, Timeout: time.Second}})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	m.Routes(e.Group("/api/v1"))
	return &env{db: db, mod: m, clock: clk, logs: logs, handler: e, cfg: cfg, outbox: outbox}
}

// pgEnv is newEnv on a fresh PostgreSQL database.
func pgEnv(t testing.TB, opts ...option) *env { return newEnv(t, dbtest.New(t), opts...) }

// server serves the env to one (sub)test through the contract-checking
// harness.
func (e *env) server(t testing.TB) *apitest.Server { return apitest.New(t, e.handler) }

type userJSON struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	IsActive      bool   `json:"is_active"`
	EmailVerified bool   `json:"email_verified"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

type pairJSON struct {
	User         userJSON `json:"user"`
	AccessToken  string   `json:"access_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
	RefreshToken string   `json:"refresh_token"`
}

type sessionJSON struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
}

type body = map[string]any

// register registers an account and returns its first token pair.
func register(t testing.TB, s *apitest.Server, email string, headers ...http.Header) pairJSON {
	t.Helper()
	r := s.Do("POST", "/api/v1/auth/register", body{"email": email, "name": "Test User", "password": testPassword}, headers...)
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s: status %d, body %s", email, r.Status, r.Body)
	}
	var p pairJSON
	r.JSON(&p)
	return p
}

// login logs in and returns a token pair.
func login(t testing.TB, s *apitest.Server, email, password string, headers ...http.Header) pairJSON {
	t.Helper()
	r := s.Do("POST", "/api/v1/auth/login", body{"email": email, "password": password}, headers...)
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: status %d, body %s", email, r.Status, r.Body)
	}
	var p pairJSON
	r.JSON(&p)
	return p
}

// expectProblem asserts a problem response's status and code.
func expectProblem(t testing.TB, r *apitest.Response, status int, code string) apitest.Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	p := r.Problem()
	if p.Code != code {
		t.Fatalf("code %q, want %q; body %s", p.Code, code, r.Body)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer; headers %v", r.Header)
	}
	return p
}

// expectStatus asserts a response's status.
func expectStatus(t testing.TB, r *apitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
}

// fieldsOf lists the fields a 422 names.
func fieldsOf(p apitest.Problem) []string {
	out := make([]string, len(p.Errors))
	for i, f := range p.Errors {
		out[i] = f.Field
	}
	return out
}

func xff(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

func ua(s string) http.Header { return http.Header{"User-Agent": {s}} }
