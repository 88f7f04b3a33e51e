package auth

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"todo/platform/config"
	"todo/platform/database/dbtest"
)

// BenchmarkVerifyToken measures the signature and claims check alone, no
// database: the service's own HS256 token (with and without an external
// issuer configured beside it) and the external issuer's, per algorithm.
func BenchmarkVerifyToken(b *testing.B) {
	now := time.Now
	own := newTokenMaker([]byte(testSecret), "todo", "todo-api", time.Minute, now, nil)
	token, err := own.access("8c2b0c62-4d3f-4a8e-9c1a-2f6b7d9e0a11", "0b6f5a2e-8f0c-4d36-9a57-3c1e2d4b5a69")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("own", func(b *testing.B) { benchVerify(b, own, token) })

	keys := []signingKey{newSigningKey(b, "EdDSA", "ed"), newSigningKey(b, "ES256", "es"), newSigningKey(b, "RS256", "rs")}
	iss := newTestIssuer(b, keys...)
	ext := newExternalIssuer(testExtIssuer, testExtAudience, iss.url(), now, slog.New(slog.DiscardHandler))
	ext.keys.refresh(context.Background(), ext.keys.generation.Load())
	both := newTokenMaker([]byte(testSecret), "todo", "todo-api", time.Minute, now, ext)
	b.Run("own-beside-jwks", func(b *testing.B) { benchVerify(b, both, token) })
	for _, k := range keys {
		tok := k.sign(b, extClaims(time.Now(), "ext-user", "ext@example.com"))
		b.Run("external-"+k.method.Alg(), func(b *testing.B) { benchVerify(b, both, tok) })
	}
}

func benchVerify(b *testing.B, m *tokenMaker, token string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate measures Service.Authenticate on PostgreSQL: the
// token check and the one query behind it (the session for the service's
// own token, the account for an external one), with an external issuer
// configured and without.
func BenchmarkAuthenticate(b *testing.B) {
	ed := newSigningKey(b, "EdDSA", "ed")
	iss := newTestIssuer(b, ed)
	for _, jwks := range []bool{false, true} {
		cfg := testConfig()
		name := "own"
		if jwks {
			cfg.JWKS = config.JWKS{URL: iss.url(), Issuer: testExtIssuer, Audience: testExtAudience}
			name = "own-beside-jwks"
		}
		e := newEnv(b, dbtest.New(b), withConfig(func(c *config.Auth) { *c = cfg }))
		s := e.server(b)
		p := register(b, s, "bench@example.com")
		b.Run(name, func(b *testing.B) { benchAuthenticate(b, e, p.AccessToken) })
		if jwks {
			tok := ed.sign(b, extClaims(e.clock.Now(), "ext-user", "ext@example.com"))
			if _, err := e.mod.svc.Authenticate(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
			b.Run("external-EdDSA", func(b *testing.B) { benchAuthenticate(b, e, tok) })
		}
	}
}

func benchAuthenticate(b *testing.B, e *env, token string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.mod.svc.Authenticate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
