package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/config"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

// fzCodes are the problem codes of API.md by status.
var fzCodes = map[string]int{
	"bad_request": 400, "unauthorized": 401, "invalid_credentials": 401, "account_disabled": 403,
	"wrong_password": 403, "not_found": 404, "method_not_allowed": 405, "email_taken": 409,
	"payload_too_large": 413, "unsupported_media_type": 415, "validation_failed": 422,
	"rate_limited": 429, "unavailable": 503,
}

// fzEndpoints are the module's endpoints that read client input.
var fzEndpoints = []struct{ method, path string }{
	{"POST", "/api/v1/auth/register"},
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/refresh"},
	{"POST", "/api/v1/auth/logout"},
	{"PATCH", "/api/v1/users/me"},
	{"PUT", "/api/v1/users/me/password"},
	{"DELETE", "/api/v1/users/me"},
	{"GET", "/api/v1/users/me"},
	{"DELETE", "/api/v1/users/me/sessions/"},
}

// fzHandler is the module on a fresh SQLite database behind the shared
// engine, with one registered user whose access token it returns.
func fzHandler(f *testing.F) (http.Handler, string) {
	db := dbtest.NewSQLite(f)
	log := slog.New(slog.DiscardHandler)
	e, err := httpx.NewEngine(config.HTTP{}, log, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	cfg := config.Auth{
		Secret: "0123456789abcdef0123456789abcdef-fuzz", BcryptCost: 4, AccessTTL: time.Hour, RefreshTTL: time.Hour,
		Issuer: "todo", Audience: "todo-api", HashSlots: 2, HashQueue: 1000, RatePerIP: 1 << 30, RatePerEmail: 1 << 30,
		RatePerAccount: 1 << 30, FailuresPerAccount: 1 << 30, FailureBackoffMax: time.Minute, RefreshPerSession: 1 << 30, MaxSessions: 100,
		AppBaseURL: "https://todo.example", VerifyTTL: time.Hour, ResetTTL: time.Hour, MailsPerHour: 1 << 30,
	}
	m, err := New(context.Background(), Deps{DB: db.Ent, Dialect: db.Dialect, Config: cfg, Log: log, Now: time.Now, Binder: httpx.NewBinder()})
	if err != nil {
		f.Fatal(err)
	}
	m.Routes(e.Group("/api/v1"))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader(`{"email":"fuzz@example.com","name":"Fuzz","password":"fuzz password"}`))
	req.Header.Set("Content-Type", "application/json")
	e.ServeHTTP(rec, req)
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &pair) != nil {
		f.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	return e, pair.AccessToken
}

// fzCheck fails unless the answer is a success or a problem+json with the
// contract's code for its status; a 500 is always a failure.
func fzCheck(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode < 400 {
		return
	}
	if mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
		t.Fatalf("%d with Content-Type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%d: not a problem: %s", res.StatusCode, body)
	}
	if want, ok := fzCodes[p.Code]; !ok || want != res.StatusCode || p.Status != res.StatusCode {
		t.Fatalf("%d with code %q: %s", res.StatusCode, p.Code, body)
	}
	if res.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: Bearer")
	}
	if bytes.Contains(body, []byte("hashed_password")) || bytes.Contains(body, []byte("$2a$")) {
		t.Fatalf("a password hash leaked: %s", body)
	}
}

// FuzzAuthBodies sends any body, with the fuzz user's token or any
// Authorization header, to any of the module's endpoints on SQLite: no
// input is a 500 or a panic, and every rejection is problem+json with a
// contract code.
func FuzzAuthBodies(f *testing.F) {
	h, token := fzHandler(f)
	bodies := []string{
		`{"email":"new@example.com","name":"New","password":"a long password"}`,
		`{"email":"fuzz@example.com","password":"fuzz password"}`,
		`{"email":"FUZZ@EXAMPLE.COM ","password":"wrong password"}`,
		`{"refresh_token":"x"}`,
		`{"refresh_token":null}`,
		`{"name":"Renamed"}`,
		`{"name":null}`,
		`{"name":"a\u0000b"}`,
		`{"name":"\u202e\u200f🦫e\u0301"}`,
		"{\"name\":\"\xff\xfe\"}",
		`{"current_password":"fuzz password","new_password":"` + strings.Repeat("p", 73) + `"}`,
		`{"current_password":"nope","new_password":"another password"}`,
		`{"password":"wrong"}`,
		`{"email":"'; DROP TABLE users; --@example.com","name":"' OR 1=1 --","password":"\" OR 1=1 --"}`,
		`{"email":"a\u0000@example.com","name":"n","password":"long password"}`,
		`{"email":1,"name":true,"password":[]}`,
		`{"email":"x@example.com","unknown":1}`,
		`[]`, `null`, ``, `{`, `{"name":"x"}{}`,
	}
	for i, b := range bodies {
		f.Add(uint8(i), []byte(b), "Bearer "+token, "")
	}
	f.Add(uint8(7), []byte(nil), "Bearer "+token+"x", "")
	f.Add(uint8(7), []byte(nil), "bearer  "+token, "")
	f.Add(uint8(7), []byte(nil), "Bearer a.b.c", "")
	f.Add(uint8(7), []byte(nil), "Basic Zm9vOmJhcg==", "")
	f.Add(uint8(8), []byte(nil), "Bearer "+token, "00000000-0000-0000-0000-000000000000")
	f.Add(uint8(8), []byte(nil), "Bearer "+token, "' OR 1=1 --")
	f.Add(uint8(8), []byte(nil), "Bearer "+token, "%00")
	f.Fuzz(func(t *testing.T, ep uint8, body []byte, authz, sessionID string) {
		e := fzEndpoints[int(ep)%len(fzEndpoints)]
		path := e.path
		if strings.HasSuffix(path, "/") {
			path += sessionID
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(e.method, "http://x"+path, rd)
		if err != nil {
			return // not a request a client can send
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header["Authorization"] = []string{authz}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fzCheck(t, rec)
	})
}

// FuzzBearerToken: bearerToken never panics and what it accepts is one
// non-empty token without blanks.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "Bearer", "Bearer  ", "Bearer a b", "Basic abc", "", "Bearer \x00", "BEARER\ta", "Bearer\u00a0abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := bearerToken(header)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t") || !strings.Contains(header, tok)) {
			t.Fatalf("%q: accepted %q", header, tok)
		}
	})
}

// FuzzVerifyToken: any string presented as an access token is rejected
// with ErrUnauthorized unless it is a token the maker signed.
func FuzzVerifyToken(f *testing.F) {
	m := newTokenMaker([]byte("0123456789abcdef0123456789abcdef-fuzz"), "todo", "todo-api", time.Hour, time.Now, nil)
	good, err := m.access("user-1", "session-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good + "x")
	f.Add(strings.Replace(good, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", 1))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, _, err := m.verify(context.Background(), token)
		uid, sid := c.Subject, c.SessionID
		switch {
		case err == nil && (uid != "user-1" || sid != "session-1"):
			// Only the signed claims can pass (base64 leniency in the
			// signature's last character aside, the token is the good one).
			t.Fatalf("accepted %q as %s/%s", token, uid, sid)
		case err != nil && !errors.Is(err, ErrUnauthorized):
			t.Fatalf("%q: %v, want ErrUnauthorized", token, err)
		}
	})
}
