package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/logging"
)

// syncBuf is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exchangeRec is one request and its answer, as the recorder saw them.
type exchangeRec struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// recorder records every exchange of the handler it wraps.
type recorder struct {
	h  http.Handler
	mu sync.Mutex
	xs []exchangeRec
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	rc.h.ServeHTTP(rec, r)
	res := rec.Result()
	rc.mu.Lock()
	rc.xs = append(rc.xs, exchangeRec{r.Method, r.URL.Path, res.StatusCode, res.Header.Clone(), rec.Body.Bytes()})
	rc.mu.Unlock()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(rec.Body.Bytes())
}

func (rc *recorder) all() []exchangeRec {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]exchangeRec(nil), rc.xs...)
}

// secEnv is the whole handler on one database, its log captured.
type secEnv struct {
	db   *database.DB
	s    *apitest.Server
	rec  *recorder
	logs *syncBuf
	h    http.Handler
}

const corsOrigin = "https://app.example.com"

func newSecEnv(t *testing.T, backend string) *secEnv {
	t.Helper()
	var (
		db  *database.DB
		url string
	)
	if backend == "postgres" {
		db, url = dbtest.NewWithURL(t)
	} else {
		db = dbtest.NewSQLite(t)
	}
	cfg, err := config.Load(envFunc(map[string]string{
		"DATABASE_URL":        url,
		"DATA_DIR":            t.TempDir(),
		"AUTH_SECRET":         testSecret,
		"AUTH_BCRYPT_COST":    "4",
		"AUTH_RATE_PER_IP":    "100000",
		"AUTH_RATE_PER_EMAIL": "100000",
		// Lockouts after failed passwords have tests of their own.
		"AUTH_FAILURES_PER_ACCOUNT": "100000",
		"HTTP_CORS_ORIGINS":         corsOrigin,
		"LOG_LEVEL":                 "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	e, err := newHandler(context.Background(), cfg, db, logging.New(logs, cfg.Log))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{h: e}
	return &secEnv{db: db, s: apitest.New(t, rec), rec: rec, logs: logs, h: e}
}

type pairResp struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	User         struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"user"`
}

func (e *secEnv) register(t *testing.T, email string) pairResp {
	t.Helper()
	r := e.s.Do("POST", "/api/v1/auth/register", map[string]string{"email": email, "name": "Sec", "password": "a secret password"})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.Status, r.Body)
	}
	var p pairResp
	r.JSON(&p)
	return p
}

func expect401(t *testing.T, r *apitest.Response, what string) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: %d (WWW-Authenticate %q) %s, want 401 with WWW-Authenticate: Bearer", what, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
		return
	}
	if p := r.Problem(); p.Code != "unauthorized" {
		t.Errorf("%s: code %q, want unauthorized", what, p.Code)
	}
}

// TestSecurityTokens: every forged, altered, expired or misused access
// token is a 401 with WWW-Authenticate on every protected endpoint.
func TestSecurityTokens(t *testing.T) {
	e := newSecEnv(t, "postgres")
	p := e.register(t, "jwt@example.com")
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(p.AccessToken, &claims); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := func() jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		return c
	}
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	hs := func(m jwt.SigningMethod, c jwt.MapClaims, key any) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(testSecret)
	parts := strings.Split(p.AccessToken, ".")
	flipped := []byte(parts[2])
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	// The control: the same claims signed properly are accepted.
	if r := e.s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(hs(jwt.SigningMethodHS256, valid(), secret))); r.Status != http.StatusOK {
		t.Fatalf("a correctly re-signed token: %d %s", r.Status, r.Body)
	}
	cases := []struct{ name, token string }{
		{"alg-HS512", hs(jwt.SigningMethodHS512, valid(), secret)},
		{"alg-HS384", hs(jwt.SigningMethodHS384, valid(), secret)},
		{"alg-RS256", hs(jwt.SigningMethodRS256, valid(), rsaKey)},
		{"alg-none", hs(jwt.SigningMethodNone, valid(), jwt.UnsafeAllowNoneSignatureType)},
		{"alg-none-keeping-signature", strings.Join([]string{b64(`{"alg":"none","typ":"JWT"}`), parts[1], parts[2]}, ".")},
		{"bad-signature", parts[0] + "." + parts[1] + "." + string(flipped)},
		{"no-signature", parts[0] + "." + parts[1] + "."},
		{"payload-changed", parts[0] + "." + b64(`{"sub":"`+p.User.ID+`","sid":"x","exp":9999999999}`) + "." + parts[2]},
		{"other-secret", hs(jwt.SigningMethodHS256, valid(), []byte("another-secret-another-secret-0123456789"))},
		{"expired", hs(jwt.SigningMethodHS256, with("exp", now.Add(-time.Minute).Unix()), secret)},
		{"no-exp", hs(jwt.SigningMethodHS256, func() jwt.MapClaims { c := valid(); delete(c, "exp"); return c }(), secret)},
		{"not-yet-valid", hs(jwt.SigningMethodHS256, with("nbf", now.Add(time.Hour).Unix()), secret)},
		{"issued-in-future", hs(jwt.SigningMethodHS256, with("iat", now.Add(time.Hour).Unix()), secret)},
		{"wrong-issuer", hs(jwt.SigningMethodHS256, with("iss", "evil"), secret)},
		{"wrong-audience", hs(jwt.SigningMethodHS256, with("aud", []string{"other-api"}), secret)},
		{"other-user", hs(jwt.SigningMethodHS256, with("sub", "00000000-0000-0000-0000-000000000000"), secret)},
		{"unknown-session", hs(jwt.SigningMethodHS256, with("sid", "00000000-0000-0000-0000-000000000000"), secret)},
		{"sql-in-sub", hs(jwt.SigningMethodHS256, with("sub", "' OR 1=1 --"), secret)},
		{"refresh-token-as-access", p.RefreshToken},
		{"garbage", "not.a.jwt"},
		{"huge", strings.Repeat("A", 60<<10)},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/401", func(t *testing.T) {
			for _, path := range []string{"/api/v1/users/me", "/api/v1/tasks", "/api/v1/users/me/sessions"} {
				expect401(t, e.s.Do("GET", path, nil, apitest.Bearer(tc.token)), path)
			}
			expect401(t, e.s.Do("POST", "/api/v1/tasks", map[string]string{"title": "x"}, apitest.Bearer(tc.token)), "POST /tasks")
		})
	}
	for _, h := range []string{"", "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + p.AccessToken + " extra", "Token " + p.AccessToken} {
		expect401(t, e.s.Do("GET", "/api/v1/users/me", nil, http.Header{"Authorization": {h}}), fmt.Sprintf("Authorization %.30q", h))
	}
	checkNoLeaks(t, e, testSecret)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// checkNoLeaks: no response body carries hashed_password, a bcrypt hash or
// the signing secret; tokens appear only in token-pair answers; and no log
// line carries any of them.
func checkNoLeaks(t *testing.T, e *secEnv, secret string, passwords ...string) {
	t.Helper()
	var tokens []string
	for _, x := range e.rec.all() {
		if x.status < 300 && strings.HasPrefix(x.path, "/api/v1/auth/") {
			var p pairResp
			if json.Unmarshal(x.body, &p) == nil && p.AccessToken != "" {
				tokens = append(tokens, p.AccessToken, p.RefreshToken)
			}
		}
	}
	if len(tokens) == 0 {
		t.Fatal("no token pair seen: the leak check would be vacuous")
	}
	tokenAnswer := func(x exchangeRec) bool {
		switch x.path {
		case "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh":
			return x.status == http.StatusOK || x.status == http.StatusCreated
		}
		return false
	}
	forbidden := []string{"hashed_password", "$2a$", "$2b$", secret}
	forbidden = append(forbidden, passwords...)
	for _, x := range e.rec.all() {
		body := string(x.body)
		for _, f := range forbidden {
			if strings.Contains(body, f) {
				t.Errorf("%s %s → %d: the body contains %.20q", x.method, x.path, x.status, f)
			}
		}
		if !tokenAnswer(x) {
			for _, tok := range tokens {
				if strings.Contains(body, tok) {
					t.Errorf("%s %s → %d: the body contains a token", x.method, x.path, x.status)
				}
			}
		}
		// Security headers on every answer.
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
			if got := x.header.Get(k); got != want {
				t.Errorf("%s %s → %d: %s = %q, want %q", x.method, x.path, x.status, k, got, want)
			}
		}
		if csp := x.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s %s → %d: Content-Security-Policy %q", x.method, x.path, x.status, csp)
		}
		if (tokenAnswer(x) || x.path == "/api/v1/users/me" && x.status == http.StatusOK) && x.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s → %d: Cache-Control %q, want no-store", x.method, x.path, x.status, x.header.Get("Cache-Control"))
		}
	}
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("nothing was logged: the log check would be vacuous")
	}
	for _, f := range append(forbidden, tokens...) {
		if f != "" && strings.Contains(logs, f) {
			t.Errorf("the log contains %.24q…", f)
		}
	}
}

// sqlInjections are classic payloads; they must be stored verbatim or
// rejected, never executed.
var sqlInjections = []string{
	`'; DROP TABLE tasks; --`,
	`" OR 1=1 --`,
	`' OR '1'='1`,
	`1; DELETE FROM users`,
	`'); TRUNCATE users CASCADE; --`,
	`\'; DROP TABLE users; --`,
	`$1`,
	`%' --`,
}

// TestSecurityInjectionAndOversize: injection strings and oversized values
// in every field are stored verbatim or rejected with a 4xx, tables are
// intact afterwards, and nothing secret leaks into answers or logs.
func TestSecurityInjectionAndOversize(t *testing.T) {
	e := newSecEnv(t, "postgres")
	p := e.register(t, "inject@example.com")
	auth := apitest.Bearer(p.AccessToken)
	no5xx := func(r *apitest.Response, what string) {
		t.Helper()
		if r.Status >= 500 {
			t.Errorf("%s: %d %s", what, r.Status, r.Body)
		}
		if r.Status >= 400 && r.Problem().Code == "" {
			t.Errorf("%s: %d without a problem code", what, r.Status)
		}
	}
	// An injection string in every field: some are outside the contract.
	inject := apitest.MayMismatch("an injection string")
	for i, inj := range sqlInjections {
		// Title and description: stored and returned verbatim.
		r := e.s.Do("POST", "/api/v1/tasks", map[string]string{"title": inj, "description": inj}, auth, inject)
		if r.Status != http.StatusCreated {
			t.Fatalf("create %q: %d %s", inj, r.Status, r.Body)
		}
		var tk taskJSON
		r.JSON(&tk)
		r = e.s.Do("GET", fmt.Sprintf("/api/v1/tasks/%d", tk.ID), nil, auth, inject)
		r.JSON(&tk)
		if tk.Title != strings.TrimSpace(inj) || tk.Description == nil || *tk.Description != inj {
			t.Errorf("task %q stored as %q / %v", inj, tk.Title, deref(tk.Description))
		}
		// Name: stored verbatim.
		r = e.s.Do("PATCH", "/api/v1/users/me", map[string]string{"name": inj}, auth, inject)
		no5xx(r, "rename")
		if r.Status == http.StatusOK {
			var u struct{ Name string }
			r.JSON(&u)
			if u.Name != strings.TrimSpace(inj) {
				t.Errorf("name %q stored as %q", inj, u.Name)
			}
		}
		// Email: as the local part (valid when it has no space) and whole.
		for _, email := range []string{strings.ReplaceAll(inj, " ", "") + "@example.com", inj} {
			r = e.s.Do("POST", "/api/v1/auth/register", map[string]string{"email": email, "name": inj, "password": inj + inj}, inject)
			no5xx(r, "register "+email)
			r = e.s.Do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": inj}, inject)
			no5xx(r, "login "+email)
		}
		no5xx(e.s.Do("POST", "/api/v1/auth/login", map[string]string{"email": "inject@example.com", "password": inj}, inject), "login password")
		no5xx(e.s.Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": inj}, inject), "refresh")
		no5xx(e.s.Do("POST", "/api/v1/auth/logout", map[string]string{"refresh_token": inj}, inject), "logout")
		no5xx(e.s.Do("PUT", "/api/v1/users/me/password", map[string]string{"current_password": inj, "new_password": inj + inj}, auth, inject), "password")
		no5xx(e.s.Do("DELETE", "/api/v1/users/me", map[string]string{"password": inj}, auth, inject), "delete me")
		no5xx(e.s.Do("DELETE", "/api/v1/users/me/sessions/"+url.PathEscape(inj), nil, auth, inject), "revoke session")
		no5xx(e.s.Do("GET", "/api/v1/tasks/"+url.PathEscape(inj), nil, auth, inject), "get task")
		q := url.Values{"status": {inj}, "limit": {inj}, "cursor": {inj}}
		no5xx(e.s.Do("GET", "/api/v1/tasks?"+q.Encode(), nil, auth, inject), "list")
		no5xx(e.s.Do("GET", "/api/v1/tasks?"+url.Values{"cursor": {inj}}.Encode(), nil, auth, inject), "list cursor")
		key := strings.ReplaceAll(inj, " ", "")
		r = e.s.Do("POST", "/api/v1/tasks", map[string]string{"title": fmt.Sprintf("keyed %d", i)}, auth, http.Header{"Idempotency-Key": {key}}, inject)
		no5xx(r, "idempotency key "+key)
		r2 := e.s.Do("POST", "/api/v1/tasks", map[string]string{"title": fmt.Sprintf("keyed %d", i)}, auth, http.Header{"Idempotency-Key": {key}}, inject)
		if r.Status == http.StatusCreated && (r2.Status != http.StatusCreated || !bytes.Equal(r.Body, r2.Body)) {
			t.Errorf("Idempotency-Key %q: replay %d %s", key, r2.Status, r2.Body)
		}
	}

	big := func(n int) string { return strings.Repeat("x", n) }
	oversized := []struct {
		name   string
		method string
		path   string
		body   any
		header http.Header
		status int
	}{
		{"register/email", "POST", "/api/v1/auth/register", map[string]string{"email": big(300) + "@example.com", "name": "n", "password": "long enough"}, nil, 422},
		{"register/name", "POST", "/api/v1/auth/register", map[string]string{"email": "big@example.com", "name": big(101), "password": "long enough"}, nil, 422},
		{"register/password", "POST", "/api/v1/auth/register", map[string]string{"email": "big@example.com", "name": "n", "password": big(73)}, nil, 422},
		{"register/all-huge", "POST", "/api/v1/auth/register", map[string]string{"email": big(500 << 10), "name": big(100 << 10), "password": big(100 << 10)}, nil, 422},
		{"login/password", "POST", "/api/v1/auth/login", map[string]string{"email": "inject@example.com", "password": big(900 << 10)}, nil, 401},
		{"refresh/token", "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": big(900 << 10)}, nil, 401},
		{"rename/name", "PATCH", "/api/v1/users/me", map[string]string{"name": big(101)}, auth, 422},
		{"password/new", "PUT", "/api/v1/users/me/password", map[string]string{"current_password": "a secret password", "new_password": big(73)}, auth, 422},
		{"task/title", "POST", "/api/v1/tasks", map[string]string{"title": big(201)}, auth, 422},
		{"task/description", "POST", "/api/v1/tasks", map[string]string{"title": "t", "description": big(1001)}, auth, 422},
		{"task/body-over-1MiB", "POST", "/api/v1/tasks", map[string]string{"title": big(1 << 20)}, auth, 413},
		{"task/idempotency-key", "POST", "/api/v1/tasks", map[string]string{"title": "t"}, merge(auth, http.Header{"Idempotency-Key": {big(256)}}), 422},
		{"task/idempotency-key-huge", "POST", "/api/v1/tasks", map[string]string{"title": "t"}, merge(auth, http.Header{"Idempotency-Key": {big(32 << 10)}}), 422},
		{"list/cursor", "GET", "/api/v1/tasks?cursor=" + big(32<<10), nil, auth, 400},
		{"list/status", "GET", "/api/v1/tasks?status=" + big(32<<10), nil, auth, 422},
		{"list/limit", "GET", "/api/v1/tasks?limit=" + strings.Repeat("9", 400), nil, auth, 422},
		{"task/id", "GET", "/api/v1/tasks/" + strings.Repeat("9", 400), nil, auth, 404},
		{"session/id", "DELETE", "/api/v1/users/me/sessions/" + big(32<<10), nil, auth, 404},
		{"if-match/own-task", "DELETE", "/api/v1/tasks/1", nil, merge(auth, http.Header{"If-Match": {`"` + big(32<<10) + `"`}}), 412},
		{"if-match/no-task", "DELETE", "/api/v1/tasks/999999", nil, merge(auth, http.Header{"If-Match": {`"` + big(32<<10) + `"`}}), 404},
	}
	for _, tc := range oversized {
		t.Run("oversized/"+tc.name, func(t *testing.T) {
			var hs []http.Header
			if tc.header != nil {
				hs = append(hs, tc.header)
			}
			hs = append(hs, apitest.MayMismatch("an oversized value"))
			r := e.s.Do(tc.method, tc.path, tc.body, hs...)
			if r.Status != tc.status {
				t.Errorf("%d %.300s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}

	// The tables are intact: the user and every task are still there.
	ctx := context.Background()
	if n, err := e.db.Ent.Task.Query().Count(ctx); err != nil || n < len(sqlInjections) {
		t.Errorf("tasks after the injections: %d, %v", n, err)
	}
	if n, err := e.db.Ent.User.Query().Count(ctx); err != nil || n < 1 {
		t.Errorf("users after the injections: %d, %v", n, err)
	}
	if r := e.s.Do("GET", "/api/v1/users/me", nil, auth); r.Status != http.StatusOK {
		t.Errorf("the account after the injections: %d", r.Status)
	}
	checkNoLeaks(t, e, testSecret, "a secret password")
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

// unicodeCase is one hostile string, sent raw inside a JSON string.
type unicodeCase struct {
	name string
	raw  string // the JSON string's contents, escapes included, sent as is
}

var unicodeCases = []unicodeCase{
	{"nul", `a\u0000b`},
	{"nul-only", `\u0000`},
	{"invalid-utf8", "a\xffb"},
	{"overlong-utf8", "a\xc0\xafb"},
	{"lone-surrogate", `a\ud800b`},
	{"rlm", "a\u200fb"},
	{"rlo", "\u202eabc"},
	{"emoji-4-byte", "🦫 beaver 👩‍👩‍👧"},
	{"combining", "e\u0301\u0301\u0301"},
	{"only-combining", "\u0301"},
	{"zero-width", "\u200b"},
	{"bom", "\ufeffx"},
	{"nbsp-padding", "\u00a0x\u00a0"},
	{"max-plane", "\U0010FFFF"},
	{"noncharacter", "\uFFFE"},
}

// TestSecurityUnicodeSameOnBothDatabases: hostile Unicode in titles,
// names and emails gets the same answer, and is stored the same, on
// PostgreSQL and SQLite; NUL (which PostgreSQL cannot store) is a 422 on
// both, never a 500.
func TestSecurityUnicodeSameOnBothDatabases(t *testing.T) {
	results := map[string]map[string]string{}
	for _, backend := range []string{"postgres", "sqlite"} {
		e := newSecEnv(t, backend)
		p := e.register(t, "uni@example.com")
		auth := apitest.Bearer(p.AccessToken)
		got := map[string]string{}
		for i, uc := range unicodeCases {
			outcome := func(field string, r *apitest.Response, read func() string) {
				if r.Status >= 500 {
					t.Errorf("%s: %s %q: %d %s", backend, field, uc.raw, r.Status, r.Body)
				}
				v := fmt.Sprint(r.Status)
				if r.Status >= 400 {
					v += " " + r.Problem().Code
				} else if read != nil {
					v += " " + fmt.Sprintf("%q", read())
				}
				got[field+"/"+uc.name] = v
			}
			r := e.s.Do("POST", "/api/v1/tasks", []byte(`{"title":"`+uc.raw+`","description":"`+uc.raw+`"}`), auth)
			outcome("title", r, func() string {
				var tk taskJSON
				r.JSON(&tk)
				rr := e.s.Do("GET", fmt.Sprintf("/api/v1/tasks/%d", tk.ID), nil, auth)
				rr.JSON(&tk)
				return tk.Title + "|" + deref(tk.Description)
			})
			r = e.s.Do("PATCH", "/api/v1/users/me", []byte(`{"name":"`+uc.raw+`"}`), auth)
			outcome("name", r, func() string {
				rr := e.s.Do("GET", "/api/v1/users/me", nil, auth)
				var u struct{ Name string }
				rr.JSON(&u)
				return u.Name
			})
			r = e.s.Do("POST", "/api/v1/auth/register", []byte(fmt.Sprintf(`{"email":"u%d%s@example.com","name":"%s","password":"password %s"}`, i, uc.raw, uc.raw, uc.raw)))
			outcome("register", r, func() string {
				var pr pairResp
				r.JSON(&pr)
				return pr.User.Email + "|" + pr.User.Name
			})
			r = e.s.Do("POST", "/api/v1/auth/register", []byte(fmt.Sprintf(`{"email":"d%d@ex%sample.com","name":"n","password":"password 1"}`, i, uc.raw)))
			outcome("email-domain", r, func() string {
				var pr pairResp
				r.JSON(&pr)
				return pr.User.Email
			})
		}
		results[backend] = got
		checkNoLeaks(t, e, testSecret, "a secret password")
	}
	for k, pg := range results["postgres"] {
		if lite := results["sqlite"][k]; lite != pg {
			t.Errorf("%s: postgres %s, sqlite %s", k, pg, lite)
		}
	}
	for _, field := range []string{"title", "name", "register"} {
		for _, c := range []string{"nul", "nul-only"} {
			if v := results["postgres"][field+"/"+c]; !strings.HasPrefix(v, "422 validation_failed") {
				t.Errorf("%s/%s: %s, want 422 validation_failed", field, c, v)
			}
		}
	}
	t.Logf("postgres: %v", results["postgres"])
}

// TestSecurityCORS: a preflight from a configured origin is answered with
// Access-Control-Allow-Origin; from any other origin it gets none.
func TestSecurityCORS(t *testing.T) {
	e := newSecEnv(t, "sqlite")
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	preflight := func(origin string) (http.Header, int) {
		req, _ := http.NewRequest("OPTIONS", srv.URL+"/api/v1/tasks", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.Header, res.StatusCode
	}
	h, st := preflight(corsOrigin)
	if st >= 300 || h.Get("Access-Control-Allow-Origin") != corsOrigin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("preflight from %s: %d %v", corsOrigin, st, h)
	}
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null", "*"} {
		h, _ := preflight(origin)
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("preflight from %s: %s: %s", origin, k, h.Get(k))
			}
		}
		req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
		req.Header.Set("Origin", origin)
		r2, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if v := r2.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("GET from %s: Access-Control-Allow-Origin %q", origin, v)
		}
	}
}
