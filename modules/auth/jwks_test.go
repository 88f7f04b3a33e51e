package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"todo/platform/config"
)

const (
	testExtIssuer   = "https://issuer.example.com"
	testExtAudience = "todo-api-external"
)

// signingKey is a key of the test issuer: its kid, algorithm and private
// half.
type signingKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func (k signingKey) public() crypto.PublicKey { return k.priv.Public() }

// jwk is the key's public half as a JWK, as an issuer publishes it.
func (k signingKey) jwk(t testing.TB) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: k.public(), KeyID: k.kid, Algorithm: k.method.Alg(), Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatalf("marshal jwk: %v", err)
	}
	return b
}

var (
	rsaOnce sync.Once
	rsaPriv *rsa.PrivateKey
)

// newSigningKey makes a key for alg (EdDSA, ES256 or RS256). RSA keys are
// slow to make, so every RS256 key of a test run shares one private key.
func newSigningKey(t testing.TB, alg, kid string) signingKey {
	t.Helper()
	k := signingKey{kid: kid}
	var err error
	switch alg {
	case "EdDSA":
		k.method = jwt.SigningMethodEdDSA
		_, k.priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		k.method = jwt.SigningMethodES256
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		k.method = jwt.SigningMethodRS256
		rsaOnce.Do(func() { rsaPriv, err = rsa.GenerateKey(rand.Reader, 2048) })
		k.priv = rsaPriv
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testIssuer is an external issuer in the test process: a JWKS endpoint
// whose keys, answers and availability the test controls, and the tokens
// it signs.
type testIssuer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []signingKey
	body []byte // served instead of the keys when set
	hits atomic.Int64
	down atomic.Bool
	hold chan struct{} // when set, requests wait for it to close
}

func newTestIssuer(t testing.TB, keys ...signingKey) *testIssuer {
	t.Helper()
	iss := &testIssuer{keys: keys}
	iss.srv = httptest.NewServer(http.HandlerFunc(iss.serve))
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *testIssuer) serve(w http.ResponseWriter, r *http.Request) {
	iss.hits.Add(1)
	iss.mu.Lock()
	hold := iss.hold
	iss.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if iss.down.Load() {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if iss.body != nil {
		_, _ = w.Write(iss.body)
		return
	}
	var doc strings.Builder
	doc.WriteString(`{"keys":[`)
	for i, k := range iss.keys {
		if i > 0 {
			doc.WriteByte(',')
		}
		b, err := jose.JSONWebKey{Key: k.public(), KeyID: k.kid, Algorithm: k.method.Alg(), Use: "sig"}.MarshalJSON()
		if err != nil {
			panic(err)
		}
		doc.Write(b)
	}
	doc.WriteString(`]}`)
	_, _ = w.Write([]byte(doc.String()))
}

// publish replaces the key set the issuer serves.
func (iss *testIssuer) publish(keys ...signingKey) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys, iss.body = keys, nil
}

// serveBody makes the issuer answer body instead of its keys.
func (iss *testIssuer) serveBody(b []byte) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.body = b
}

func (iss *testIssuer) url() string { return iss.srv.URL + "/api/auth/jwks" }

// extClaims are the claims Better Auth's jwt plugin puts in a token, for a
// user with id sub and email.
func extClaims(now time.Time, sub, email string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":           testExtIssuer,
		"aud":           testExtAudience,
		"sub":           sub,
		"id":            sub,
		"email":         email,
		"name":          "Ext " + sub,
		"emailVerified": true,
		"image":         nil,
		"createdAt":     now.Add(-time.Hour).Format(time.RFC3339),
		"updatedAt":     now.Add(-time.Hour).Format(time.RFC3339),
		"iat":           now.Unix(),
		"exp":           now.Add(15 * time.Minute).Unix(),
	}
}

// sign signs claims with k, its kid in the header.
func (k signingKey) sign(t testing.TB, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// withIssuer configures the env to accept iss's tokens.
func withIssuer(iss *testIssuer) option {
	return withConfig(func(c *config.Auth) {
		c.JWKS = config.JWKS{URL: iss.url(), Issuer: testExtIssuer, Audience: testExtAudience}
	})
}

// newTestCache is a key cache on the test issuer and clock, without the
// start-up fetch.
func newTestCache(iss *testIssuer, clk *clock) *jwksCache {
	return newJWKSCache(iss.url(), clk.Now, slog.New(slog.DiscardHandler))
}

func TestParseJWKS(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed")
	es := newSigningKey(t, "ES256", "es")
	rs := newSigningKey(t, "RS256", "rs")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // G403: a key too small to be accepted, on purpose
	if err != nil {
		t.Fatal(err)
	}
	edPriv := ed.priv.(ed25519.PrivateKey)
	marshal := func(k jose.JSONWebKey) string {
		b, err := k.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	set := func(keys ...string) []byte { return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`) }

	cases := []struct {
		name     string
		body     []byte
		want     map[string]string // kid → alg
		skipped  int
		wantFail bool
	}{
		{"keys/three-types", set(string(ed.jwk(t)), string(es.jwk(t)), string(rs.jwk(t))), map[string]string{"ed": "EdDSA", "es": "ES256", "rs": "RS256"}, 0, false},
		{"keys/no-alg-field", set(marshal(jose.JSONWebKey{Key: ed.public(), KeyID: "ed"})), map[string]string{"ed": "EdDSA"}, 0, false},
		{"skip/symmetric-oct", set(string(ed.jwk(t)), `{"kty":"oct","kid":"hs","k":"c2VjcmV0","alg":"HS256"}`), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/encryption-key", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: es.public(), KeyID: "enc", Use: "enc"})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/p384", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: p384.Public(), KeyID: "p384"})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/rsa-1024", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: rsa1024.Public(), KeyID: "small"})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/alg-disagrees", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: rs.public(), KeyID: "ps", Algorithm: "PS256"})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/no-kid", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: es.public()})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/duplicate-kid", set(string(ed.jwk(t)), marshal(jose.JSONWebKey{Key: es.public(), KeyID: "ed"})), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/unknown-kty", set(string(ed.jwk(t)), `{"kty":"XYZ","kid":"x"}`), map[string]string{"ed": "EdDSA"}, 1, false},
		{"skip/off-curve-point", set(string(ed.jwk(t)), `{"kty":"EC","crv":"P-256","kid":"bad","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`), map[string]string{"ed": "EdDSA"}, 1, false},
		{"keys/private-jwk-public-half-used", set(marshal(jose.JSONWebKey{Key: edPriv, KeyID: "edpriv"})), map[string]string{"edpriv": "EdDSA"}, 0, false},
		{"fail/not-json", []byte("<html>"), nil, 0, true},
		{"fail/no-keys", []byte(`{"keys":[]}`), nil, 0, true},
		{"fail/only-unusable", set(`{"kty":"oct","kid":"hs","k":"c2VjcmV0"}`), nil, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(tc.body)
			if tc.wantFail {
				if err == nil {
					t.Fatalf("accepted %s", tc.body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for kid, k := range keys {
				got[kid] = k.alg
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || skipped != tc.skipped {
				t.Errorf("got %v skipped %d, want %v skipped %d", got, skipped, tc.want, tc.skipped)
			}
		})
	}
	t.Run("keys/too-many", func(t *testing.T) {
		var keys []string
		for i := range jwksMaxKeys + 3 {
			keys = append(keys, marshal(jose.JSONWebKey{Key: ed.public(), KeyID: fmt.Sprintf("k%d", i)}))
		}
		got, skipped, err := parseJWKS(set(keys...))
		if err != nil || len(got) != jwksMaxKeys || skipped != 3 {
			t.Errorf("got %d keys, %d skipped, %v; want %d, 3", len(got), skipped, err, jwksMaxKeys)
		}
	})
}

// TestJWKSRefetchThrottle: unknown kids make at most one fetch every 30
// seconds, however many arrive and however they interleave.
func TestJWKSRefetchThrottle(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed")
	iss := newTestIssuer(t, ed)
	clk := newClock()
	c := newTestCache(iss, clk)
	ctx := context.Background()

	if !c.refresh(ctx, c.generation.Load()) {
		t.Fatal("the first refresh did not fetch")
	}
	if _, ok := c.lookup("ed"); !ok || iss.hits.Load() != 1 {
		t.Fatalf("after one fetch: key found %v, %d fetches", ok, iss.hits.Load())
	}
	// A flood of unknown kids within the interval: no fetch at all.
	for range 100 {
		if c.refresh(ctx, c.generation.Load()) {
			t.Fatal("refresh fetched within 30 s of the last fetch")
		}
	}
	clk.Advance(jwksRefetchInterval - time.Millisecond)
	if c.refresh(ctx, c.generation.Load()) || iss.hits.Load() != 1 {
		t.Fatalf("fetched before 30 s: %d fetches", iss.hits.Load())
	}
	clk.Advance(time.Millisecond)

	// At the interval, concurrent callers share one fetch: hold the issuer's
	// answer until every caller is waiting.
	hold := make(chan struct{})
	iss.mu.Lock()
	iss.hold = hold
	iss.mu.Unlock()
	const callers = 50
	var fetched atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if c.refresh(ctx, c.generation.Load()) {
				fetched.Add(1)
			}
		})
	}
	for iss.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue behind the fetch
	close(hold)
	wg.Wait()
	if got := iss.hits.Load(); got != 2 {
		t.Errorf("%d concurrent refreshes made %d fetches in all, want 2", callers, got)
	}
	if fetched.Load() != callers {
		t.Errorf("%d of %d callers were told to look again, want all (they waited for the one fetch)", fetched.Load(), callers)
	}
}

// TestJWKSIssuerDown: a failed fetch keeps the keys held; a set larger
// than the bound or one with no usable key is a failed fetch; a fetch that
// hangs ends at the timeout.
func TestJWKSIssuerDown(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed")
	iss := newTestIssuer(t, ed)
	clk := newClock()
	c := newTestCache(iss, clk)
	ctx := context.Background()
	c.refresh(ctx, c.generation.Load())

	fail := map[string]func(){
		"down/502":        func() { iss.down.Store(true) },
		"down/too-large":  func() { iss.serveBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBody) + `"}`)) },
		"down/no-usable":  func() { iss.serveBody([]byte(`{"keys":[{"kty":"oct","kid":"hs","k":"c2VjcmV0"}]}`)) },
		"down/not-json":   func() { iss.serveBody([]byte(`<html>gateway</html>`)) },
		"down/closed-url": func() { c.url = "http://127.0.0.1:1/jwks" },
	}
	for name, breakIt := range fail {
		t.Run(name, func(t *testing.T) {
			url := c.url
			defer func() { c.url = url; iss.down.Store(false); iss.publish(ed) }()
			breakIt()
			clk.Advance(jwksRefetchInterval)
			hits := iss.hits.Load()
			if !c.refresh(ctx, c.generation.Load()) {
				t.Fatal("no fetch was attempted")
			}
			if name != "down/closed-url" && iss.hits.Load() != hits+1 {
				t.Errorf("%d fetches, want 1", iss.hits.Load()-hits)
			}
			if _, ok := c.lookup("ed"); !ok {
				t.Error("the key held was dropped by a failed fetch")
			}
		})
	}

	t.Run("down/hangs-past-timeout", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		iss.mu.Lock()
		iss.hold = hold
		iss.mu.Unlock()
		defer func() { iss.mu.Lock(); iss.hold = nil; iss.mu.Unlock() }()
		c.timeout = 200 * time.Millisecond
		clk.Advance(jwksRefetchInterval)
		start := time.Now()
		c.refresh(ctx, c.generation.Load())
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("a hanging issuer held the fetch for %v", d)
		}
		if _, ok := c.lookup("ed"); !ok {
			t.Error("the key held was dropped by a timed-out fetch")
		}
	})
}

// TestJWKSWithdrawnKey: a key the issuer no longer publishes stops working
// once the set held is older than jwksMaxAge and was fetched again in the
// background.
func TestJWKSWithdrawnKey(t *testing.T) {
	old, next := newSigningKey(t, "EdDSA", "old"), newSigningKey(t, "EdDSA", "next")
	iss := newTestIssuer(t, old)
	clk := newClock()
	c := newTestCache(iss, clk)
	c.refresh(context.Background(), c.generation.Load())
	iss.publish(next)
	if _, ok := c.lookup("old"); !ok {
		t.Fatal("old key missing before the set is stale")
	}
	clk.Advance(jwksMaxAge + time.Second)
	c.lookup("old") // starts the background fetch
	deadline := time.Now().Add(5 * time.Second)
	for c.generation.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, ok := c.lookup("old"); ok {
		t.Error("a withdrawn key still verifies after the background refresh")
	}
	if _, ok := c.lookup("next"); !ok {
		t.Error("the new key is missing after the background refresh")
	}
}

// TestExternalKeyChoice: the key function's rules for the external issuer,
// without the database: algorithm, kid, key type.
func TestExternalKeyChoice(t *testing.T) {
	ed, es, rs := newSigningKey(t, "EdDSA", "ed"), newSigningKey(t, "ES256", "es"), newSigningKey(t, "RS256", "rs")
	iss := newTestIssuer(t, ed, es, rs)
	clk := newClock()
	ext := newExternalIssuer(testExtIssuer, testExtAudience, iss.url(), clk.Now, slog.New(slog.DiscardHandler))
	ext.keys.refresh(context.Background(), ext.keys.generation.Load())
	m := newTokenMaker([]byte(testSecret), "todo", "todo-api", time.Minute, clk.Now, ext)
	claims := extClaims(clk.Now(), "user-1", "u@example.com")

	for _, k := range []signingKey{ed, es, rs} {
		t.Run("accept/"+k.method.Alg(), func(t *testing.T) {
			c, external, err := m.verify(context.Background(), k.sign(t, claims))
			if err != nil || !external || c.Subject != "user-1" || *c.Email != "u@example.com" || !bool(*c.EmailVerified) {
				t.Errorf("got %+v external=%v err=%v", c, external, err)
			}
		})
	}
	es384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(ed.public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	hsWith := func(secret []byte, kid string, c jwt.Claims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := map[string]struct {
		token string
		want  error
	}{
		"reject/rs256-token-with-ed-kid":    {signingKey{kid: "ed", method: jwt.SigningMethodRS256, priv: rs.priv}.sign(t, claims), errAlgorithm},
		"reject/es384":                      {signingKey{kid: "es", method: jwt.SigningMethodES384, priv: es384}.sign(t, claims), nil},
		"reject/hs256-raw-public-key":       {hsWith(ed.public().(ed25519.PublicKey), "ed", claims), errAlgorithm},
		"reject/hs256-pem-public-key":       {hsWith(pemKey, "ed", claims), errAlgorithm},
		"reject/hs256-jwk-public-key":       {hsWith(ed.jwk(t), "ed", claims), errAlgorithm},
		"reject/hs256-with-auth-secret":     {hsWith([]byte(testSecret), "ed", claims), errAlgorithm},
		"reject/no-kid":                     {signingKey{kid: "", method: ed.method, priv: ed.priv}.sign(t, claims), errNoKeyID},
		"reject/unknown-kid":                {signingKey{kid: "nope", method: ed.method, priv: ed.priv}.sign(t, claims), errUnknownKey},
		"reject/unknown-issuer":             {ed.sign(t, jwt.MapClaims{"iss": "https://evil.example.com", "aud": testExtAudience, "sub": "u", "exp": clk.Now().Add(time.Minute).Unix()}), errUnknownIssuer},
		"reject/own-issuer-ext-key":         {ed.sign(t, jwt.MapClaims{"iss": "todo", "aud": "todo-api", "sub": "u", "exp": clk.Now().Add(time.Minute).Unix()}), errAlgorithm},
		"reject/other-key-under-known-kid":  {signingKey{kid: "ed", method: ed.method, priv: newSigningKey(t, "EdDSA", "x").priv}.sign(t, claims), jwt.ErrTokenSignatureInvalid},
		"reject/es256-key-of-another-curve": {signingKey{kid: "es", method: jwt.SigningMethodES256, priv: newSigningKey(t, "ES256", "y").priv}.sign(t, claims), jwt.ErrTokenSignatureInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := m.verify(context.Background(), tc.token)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("got %v, want ErrUnauthorized", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("cause %v, want %v", err, tc.want)
			}
		})
	}
}

// TestJWKSRefreshAfterBackgroundFetch: a lookup of a stale set starts a
// background fetch; when that fetch ends before the caller asks for a
// refresh (the fetch is then no longer due), the caller is still told to
// look again, and finds the key the fetch brought.
// TestJWKSRefreshDuringBackgroundFetch: a token whose kid the set lacks,
// met while the lookup's background fetch has begun but not finished,
// waits for that fetch and is checked again, rather than being refused as
// "not due" (CI saw TestExternalStartsWhileIssuerDown refuse the token of
// a key the issuer was serving).
func TestJWKSRefreshDuringBackgroundFetch(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed")
	iss := newTestIssuer(t, ed)
	clk := newClock()
	c := newTestCache(iss, clk)
	begun, proceed := make(chan struct{}), make(chan struct{})
	c.fetchBegun = func() {
		close(begun)
		<-proceed
	}
	gen := c.generation.Load()
	if _, ok := c.lookup("ed"); ok {
		t.Fatal("an empty set held a key")
	}
	select {
	case <-begun:
	case <-time.After(5 * time.Second):
		t.Fatal("the lookup of a never-fetched set started no fetch")
	}
	refreshed := make(chan bool, 1)
	go func() { refreshed <- c.refresh(context.Background(), gen) }()
	select {
	case ok := <-refreshed:
		close(proceed)
		t.Fatalf("refresh returned %v while the fetch was under way, want it to wait for it", ok)
	case <-time.After(100 * time.Millisecond): // waiting, as it should
	}
	close(proceed)
	if !<-refreshed {
		t.Fatal("refresh said nothing changed although the fetch it waited for ended")
	}
	if _, ok := c.lookup("ed"); !ok || iss.hits.Load() != 1 {
		t.Fatalf("key found %v after %d fetches, want found after 1", ok, iss.hits.Load())
	}
}

func TestJWKSRefreshAfterBackgroundFetch(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed")
	iss := newTestIssuer(t, ed)
	clk := newClock()
	c := newTestCache(iss, clk)
	ctx := context.Background()

	gen := c.generation.Load()
	if _, ok := c.lookup("ed"); ok {
		t.Fatal("an empty set held a key")
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.generation.Load() == gen { // the lookup's background fetch
		if time.Now().After(deadline) {
			t.Fatal("the lookup of a never-fetched set started no fetch")
		}
		time.Sleep(time.Millisecond)
	}
	if !c.refresh(ctx, gen) {
		t.Fatal("refresh said nothing changed although a fetch ended after the lookup")
	}
	if _, ok := c.lookup("ed"); !ok || iss.hits.Load() != 1 {
		t.Fatalf("key found %v after %d fetches, want found after 1", ok, iss.hits.Load())
	}
}
