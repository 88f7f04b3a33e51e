package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/database/dbtest"
)

// betterAuthDir holds the Better Auth server the tests run (server.mjs) and
// its pinned npm dependencies; `npm ci` there installs them (.ci/run does).
const betterAuthDir = "testdata/betterauth"

// betterAuthServer is a real Better Auth server, run by Node for one test
// on its own PostgreSQL database.
type betterAuthServer struct {
	base   string // http://127.0.0.1:PORT, also its iss and aud
	dbURL  string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{}
}

// startBetterAuth starts server.mjs on a fresh database and waits until it
// serves. It is stopped when the test ends.
func startBetterAuth(t *testing.T) *betterAuthServer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (bash .ci/run installs it): %v", err)
	}
	if _, err := os.Stat(filepath.Join(betterAuthDir, "node_modules", "better-auth")); err != nil {
		t.Fatalf("better-auth is not installed: run `npm ci` in cmd/todo/%s (bash .ci/run does): %v", betterAuthDir, err)
	}
	ba := &betterAuthServer{dbURL: dbtest.NewEmpty(t), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	ba.cmd = exec.CommandContext(ctx, node, "server.mjs")
	ba.cmd.Dir = betterAuthDir
	ba.cmd.Env = append(os.Environ(),
		"PORT=0",
		"DATABASE_URL="+ba.dbURL,
		"BETTER_AUTH_SECRET=test-better-auth-secret-0123456789abcdef",
	)
	ba.cmd.Stderr = ba.stderr
	stdout, err := ba.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ba.cmd.Start(); err != nil {
		t.Fatalf("start Better Auth: %v", err)
	}
	go func() {
		_ = ba.cmd.Wait()
		close(ba.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-ba.exited
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		var msg struct {
			Listening string `json:"listening"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.Listening == "" {
			t.Fatalf("Better Auth said %q", line)
		}
		ba.base = msg.Listening
	case <-ba.exited:
		t.Fatalf("Better Auth exited: %s", ba.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("Better Auth did not start within 60 s: %s", ba.stderr)
	}
	return ba
}

// stop ends the Better Auth process: its issuer is down from now on.
func (ba *betterAuthServer) stop(t *testing.T) {
	t.Helper()
	if err := ba.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-ba.exited
}

// expireSigningKeys marks every signing key of the server expired, as its
// jwks.rotationInterval does when it runs out: the next token is signed by
// a new key with a new kid, and the old keys stay in the key set for its
// grace period (30 days by default).
func (ba *betterAuthServer) expireSigningKeys(t *testing.T) {
	t.Helper()
	db, err := sql.Open("pgx", ba.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(t.Context(), `UPDATE jwks SET "expiresAt" = now() - interval '1 second'`); err != nil {
		t.Fatalf("expire Better Auth's keys: %v", err)
	}
}

// baUser is one browser session with the Better Auth server.
type baUser struct {
	ba     *betterAuthServer
	client *http.Client
	id     string
}

// signUp registers an email and password account through Better Auth's
// HTTP API; its session cookie is kept.
func (ba *betterAuthServer) signUp(t *testing.T, email, name string) *baUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &baUser{ba: ba, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	u.call(t, "POST", "/api/auth/sign-up/email", map[string]string{"email": email, "name": name, "password": "correct horse battery"}, &out)
	if out.User.ID == "" {
		t.Fatalf("sign-up of %s returned no user id", email)
	}
	u.id = out.User.ID
	return u
}

// token fetches a JWT for the user's session from the jwt plugin.
func (u *baUser) token(t *testing.T) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	u.call(t, "GET", "/api/auth/token", nil, &out)
	if out.Token == "" {
		t.Fatal("no token from /api/auth/token")
	}
	return out.Token
}

func (u *baUser) call(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u.ba.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", u.ba.base)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.client.Do(req)
	if err != nil {
		t.Fatalf("Better Auth %s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("Better Auth %s %s: %d %s", method, path, resp.StatusCode, b.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("Better Auth %s %s: %v", method, path, err)
	}
}

// testClock is the real time, moved ahead when told to: the Better Auth
// server's clock is the real one.
type testClock struct{ offset atomic.Int64 }

func newTestClock() *testClock { return &testClock{} }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// jwtHeader decodes a token's header.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// jwtClaims decodes a token's claims without verifying them.
func jwtClaims(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBetterAuth runs the service behind a real Better Auth server (its
// jwt plugin, email and password sign-up) and uses the JWTs it issues.
func TestBetterAuth(t *testing.T) {
	ba := startBetterAuth(t)
	db, url := dbtest.NewWithURL(t)
	clk := newTestClock()
	serviceWith := func(issuer, audience string) *apitest.Server {
		cfg := testConfig(t, url)
		cfg.Auth.JWKS = config.JWKS{URL: ba.base + "/api/auth/jwks", Issuer: issuer, Audience: audience}
		h, err := newHandlerAt(context.Background(), cfg, db, slog.New(slog.DiscardHandler), clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		return apitest.New(t, h)
	}
	// Better Auth's tokens carry its base URL as both iss and aud unless its
	// jwt plugin is told otherwise.
	s := serviceWith(ba.base, ba.base)
	get := func(t *testing.T, path, token string, want int) *apitest.Response {
		t.Helper()
		r := s.Do("GET", path, nil, apitest.Bearer(token))
		if r.Status != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, r.Status, want, r.Body)
		}
		return r
	}

	ada := ba.signUp(t, "Ada@Example.com", "Ada Lovelace")
	adaToken := ada.token(t)
	claims := jwtClaims(t, adaToken)
	t.Logf("Better Auth token: header %v, iss %v, aud %v, claims %v", jwtHeader(t, adaToken), claims["iss"], claims["aud"], claims)
	if claims["iss"] != ba.base || claims["aud"] != ba.base || jwtHeader(t, adaToken)["alg"] != "EdDSA" {
		t.Fatalf("Better Auth's defaults changed: iss %v, aud %v, header %v", claims["iss"], claims["aud"], jwtHeader(t, adaToken))
	}

	t.Run("first-sight/creates-the-user", func(t *testing.T) {
		var u struct {
			ID, Email, Name string
			EmailVerified   bool `json:"email_verified"`
		}
		get(t, "/api/v1/users/me", adaToken, http.StatusOK).JSON(&u)
		if u.ID != ada.id || u.Email != "ada@example.com" || u.Name != "Ada Lovelace" || u.EmailVerified {
			t.Errorf("got %+v, want Better Auth's user %s", u, ada.id)
		}
	})

	bob := ba.signUp(t, "bob@example.com", "Bob")
	bobToken := bob.token(t)

	t.Run("tasks/isolated-between-users", func(t *testing.T) {
		r := s.Do("POST", "/api/v1/tasks", map[string]any{"title": "Ada's task"}, apitest.Bearer(adaToken))
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		var task struct {
			ID     int64  `json:"id"`
			UserID string `json:"user_id"`
		}
		r.JSON(&task)
		if task.UserID != ada.id {
			t.Errorf("task of %q, want %q", task.UserID, ada.id)
		}
		get(t, fmt.Sprintf("/api/v1/tasks/%d", task.ID), bobToken, http.StatusNotFound)
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		get(t, "/api/v1/tasks", bobToken, http.StatusOK).JSON(&list)
		if len(list.Items) != 0 {
			t.Errorf("Bob sees %d tasks", len(list.Items))
		}
		get(t, "/api/v1/tasks", adaToken, http.StatusOK).JSON(&list)
		if len(list.Items) != 1 {
			t.Errorf("Ada sees %d tasks, want 1", len(list.Items))
		}
	})

	t.Run("own-tokens/still-work", func(t *testing.T) {
		r := s.Do("POST", "/api/v1/auth/register", map[string]any{"email": "carol@example.com", "name": "Carol", "password": "correct horse battery"})
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		var pair struct {
			AccessToken string `json:"access_token"`
		}
		r.JSON(&pair)
		get(t, "/api/v1/users/me", pair.AccessToken, http.StatusOK)
		get(t, "/api/v1/users/me/sessions", pair.AccessToken, http.StatusOK)
	})

	t.Run("conflict/email-of-a-local-account/409", func(t *testing.T) {
		carol := ba.signUp(t, "Carol@Example.com", "Carol at Better Auth")
		r := get(t, "/api/v1/users/me", carol.token(t), http.StatusConflict)
		if r.Problem().Code != "email_taken" {
			t.Errorf("code %q", r.Problem().Code)
		}
	})

	t.Run("rejected/401", func(t *testing.T) {
		parts := strings.Split(adaToken, ".")
		kid, _ := jwtHeader(t, adaToken)["kid"].(string)
		_, stranger, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		unknownKey := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		unknownKey.Header["kid"] = kid
		unknownKeyToken, err := unknownKey.SignedString(stranger)
		if err != nil {
			t.Fatal(err)
		}
		// The public key as Better Auth publishes it, raw and as JSON.
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		ada.call(t, "GET", "/api/auth/jwks", nil, &set)
		var pubRaw []byte
		var pubJSON []byte
		for _, k := range set.Keys {
			if k["kid"] == kid {
				pubRaw, _ = base64.RawURLEncoding.DecodeString(k["x"].(string))
				pubJSON, _ = json.Marshal(k)
			}
		}
		if len(pubRaw) != ed25519.PublicKeySize {
			t.Fatalf("kid %s not in the key set %v", kid, set)
		}
		hs := func(secret []byte) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
			tok.Header["kid"] = kid
			s, err := tok.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		sig := []byte(parts[2])
		sig[len(sig)/2] ^= 1
		cases := map[string]string{
			"tampered-signature":            parts[0] + "." + parts[1] + "." + string(sig),
			"tampered-payload":              parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(mustDecode(t, parts[1])), ada.id, bob.id, 1))) + "." + parts[2],
			"unknown-key-with-known-kid":    unknownKeyToken,
			"alg-confusion/hs256-raw-key":   hs(pubRaw),
			"alg-confusion/hs256-jwk-json":  hs(pubJSON),
			"alg-confusion/hs256-base64url": hs([]byte(base64.RawURLEncoding.EncodeToString(pubRaw))),
			"alg-none":                      none,
		}
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				if r := get(t, "/api/v1/users/me", tok, http.StatusUnauthorized); r.Problem().Code != "unauthorized" {
					t.Errorf("code %q", r.Problem().Code)
				}
			})
		}
		t.Run("wrong-iss", func(t *testing.T) {
			other := serviceWith("https://not-this-issuer.example.com", ba.base)
			if r := other.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(adaToken)); r.Status != http.StatusUnauthorized {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
		t.Run("wrong-aud", func(t *testing.T) {
			other := serviceWith(ba.base, "another-service")
			if r := other.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(adaToken)); r.Status != http.StatusUnauthorized {
				t.Errorf("%d %s", r.Status, r.Body)
			}
		})
	})

	t.Run("external-account/rules", func(t *testing.T) {
		dave := ba.signUp(t, "dave@example.com", "Dave")
		tok := dave.token(t)
		r := s.Do("PUT", "/api/v1/users/me/password", map[string]any{"current_password": "correct horse battery", "new_password": "another horse battery"}, apitest.Bearer(tok))
		if r.Status != http.StatusForbidden || r.Problem().Code != "external_account" {
			t.Errorf("password change: %d %s", r.Status, r.Body)
		}
		if body := strings.TrimSpace(string(get(t, "/api/v1/users/me/sessions", tok, http.StatusOK).Body)); body != `{"items":[]}` {
			t.Errorf("sessions: %s", body)
		}
		r = s.Do("POST", "/api/v1/auth/login", map[string]any{"email": "dave@example.com", "password": "correct horse battery"})
		if r.Status != http.StatusUnauthorized || r.Problem().Code != "invalid_credentials" {
			t.Errorf("login with the Better Auth password here: %d %s", r.Status, r.Body)
		}
		if r := s.Do("DELETE", "/api/v1/users/me", nil, apitest.Bearer(tok)); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		get(t, "/api/v1/users/me", tok, http.StatusUnauthorized)
	})

	t.Run("rotation/new-key-without-restart", func(t *testing.T) {
		before := jwtHeader(t, adaToken)["kid"]
		ba.expireSigningKeys(t)
		rotated := ada.token(t)
		after := jwtHeader(t, rotated)["kid"]
		if after == before {
			t.Fatalf("Better Auth did not rotate: kid %v", after)
		}
		clk.Advance(31 * time.Second) // past the refetch interval since the start-up fetch
		get(t, "/api/v1/users/me", rotated, http.StatusOK)
		get(t, "/api/v1/users/me", adaToken, http.StatusOK) // the old key is in its grace period
		adaToken = rotated
	})

	t.Run("issuer-down/known-kid-still-works", func(t *testing.T) {
		ba.stop(t)
		get(t, "/api/v1/users/me", adaToken, http.StatusOK)
		get(t, "/api/v1/tasks", bobToken, http.StatusOK)
	})

	t.Run("expired/401", func(t *testing.T) {
		clk.Advance(16 * time.Minute) // Better Auth's tokens last 15 minutes
		get(t, "/api/v1/users/me", adaToken, http.StatusUnauthorized)
	})
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
