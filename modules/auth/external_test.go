package auth

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"todo/ent/user"
	"todo/platform/apitest"
	"todo/platform/database"
)

// userRow reads a users row as stored.
func userRow(t *testing.T, e *env, id string) (u userJSON, hash string, found bool) {
	t.Helper()
	eu, err := e.db.Ent.User.Query().Where(user.ID(id)).Only(t.Context())
	if err != nil {
		return userJSON{}, "", false
	}
	return userJSON{ID: eu.ID, Email: eu.Email, Name: eu.Name, IsActive: eu.IsActive, EmailVerified: eu.EmailVerified,
		UpdatedAt: eu.UpdatedAt.UTC().Format(time.RFC3339Nano)}, eu.HashedPassword, true
}

func me(t *testing.T, s *apitest.Server, token string) userJSON {
	t.Helper()
	r := s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(token))
	expectStatus(t, r, http.StatusOK)
	var u userJSON
	r.JSON(&u)
	return u
}

// TestExternalAccounts: the external issuer's tokens, from first sight to
// deletion, on both databases.
func TestExternalAccounts(t *testing.T) {
	ed, es, rs := newSigningKey(t, "EdDSA", "ed-1"), newSigningKey(t, "ES256", "es-1"), newSigningKey(t, "RS256", "rs-1")
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		db := open(t)
		iss := newTestIssuer(t, ed, es, rs)
		e := newEnv(t, db, withIssuer(iss))
		s := e.server(t)
		now := e.clock.Now

		t.Run("first-sight/creates-the-account", func(t *testing.T) {
			for i, k := range []signingKey{ed, es, rs} {
				sub := fmt.Sprintf("ba-user-%s", k.method.Alg())
				c := extClaims(now(), sub, fmt.Sprintf("  Ext%d@Example.COM ", i))
				u := me(t, s, k.sign(t, c))
				want := userJSON{ID: sub, Email: fmt.Sprintf("ext%d@example.com", i), Name: "Ext " + sub, IsActive: true, EmailVerified: true}
				if u.ID != want.ID || u.Email != want.Email || u.Name != want.Name || !u.IsActive || !u.EmailVerified {
					t.Errorf("%s: got %+v, want %+v", k.method.Alg(), u, want)
				}
				_, hash, found := userRow(t, e, sub)
				if !found || hash != externalHashPrefix+testExtIssuer {
					t.Errorf("%s: stored hash %q, want the external marker", k.method.Alg(), hash)
				}
			}
		})

		t.Run("first-sight/oidc-email-verified-and-no-name", func(t *testing.T) {
			c := extClaims(now(), "oidc-user", "oidc@example.com")
			delete(c, "emailVerified")
			delete(c, "name")
			c["email_verified"] = "true" // as some OpenID providers write it
			u := me(t, s, ed.sign(t, c))
			if !u.EmailVerified || u.Name != "oidc" {
				t.Errorf("got %+v, want email_verified from email_verified and the email's local part as name", u)
			}
		})

		t.Run("sync/no-write-when-unchanged", func(t *testing.T) {
			c := extClaims(now(), "sync-user", "sync@example.com")
			me(t, s, ed.sign(t, c))
			before, _, _ := userRow(t, e, "sync-user")
			e.clock.Advance(time.Second)
			c["iat"] = now().Unix()
			me(t, s, ed.sign(t, c))
			after, _, _ := userRow(t, e, "sync-user")
			if after.UpdatedAt != before.UpdatedAt {
				t.Errorf("an unchanged token wrote the row: updated_at %s → %s", before.UpdatedAt, after.UpdatedAt)
			}
		})

		t.Run("sync/changed-email-name-verified", func(t *testing.T) {
			c := extClaims(now(), "sync-user", "sync@example.com")
			before, _, _ := userRow(t, e, "sync-user")
			e.clock.Advance(time.Second)
			c["email"], c["name"], c["emailVerified"] = "New.Sync@Example.com", "  Renamed  ", false
			u := me(t, s, ed.sign(t, c))
			if u.Email != "new.sync@example.com" || u.Name != "Renamed" || u.EmailVerified {
				t.Errorf("got %+v, want the token's new email, name and email_verified", u)
			}
			after, _, _ := userRow(t, e, "sync-user")
			if after.UpdatedAt == before.UpdatedAt {
				t.Error("updated_at did not move with the change")
			}
		})

		t.Run("sync/long-name-is-cut", func(t *testing.T) {
			c := extClaims(now(), "long-name", "long@example.com")
			c["name"] = strings.Repeat("é", 150) + "\x00"
			if u := me(t, s, ed.sign(t, c)); u.Name != strings.Repeat("é", 100) {
				t.Errorf("name %q (%d bytes), want 100 characters", u.Name, len(u.Name))
			}
		})

		local := register(t, s, "local@example.com")

		t.Run("conflict/email-of-a-local-account/409", func(t *testing.T) {
			c := extClaims(now(), "wants-local-email", "LOCAL@example.com")
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, c))), http.StatusConflict, "email_taken")
			if _, _, found := userRow(t, e, "wants-local-email"); found {
				t.Error("the account was created with a taken email")
			}
		})

		t.Run("conflict/changed-to-a-taken-email/409", func(t *testing.T) {
			c := extClaims(now(), "sync-user", "local@example.com")
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, c))), http.StatusConflict, "email_taken")
			if u, _, _ := userRow(t, e, "sync-user"); u.Email != "new.sync@example.com" {
				t.Errorf("email became %q", u.Email)
			}
		})

		t.Run("conflict/sub-of-a-local-account/401", func(t *testing.T) {
			c := extClaims(now(), local.User.ID, "takeover@example.com")
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, c))), http.StatusUnauthorized, "unauthorized")
			if u, hash, _ := userRow(t, e, local.User.ID); u.Email != "local@example.com" || !strings.HasPrefix(hash, "$2") {
				t.Errorf("the local account changed: %+v", u)
			}
		})

		t.Run("own-tokens/still-work", func(t *testing.T) {
			if u := me(t, s, local.AccessToken); u.ID != local.User.ID {
				t.Errorf("got %+v", u)
			}
		})

		extToken := ed.sign(t, extClaims(now(), "rules-user", "rules@example.com"))
		me(t, s, extToken)

		t.Run("rules/password-change/403", func(t *testing.T) {
			expectProblem(t, s.Do("PUT", "/api/v1/users/me/password", body{"current_password": "x", "new_password": "whatever123"}, apitest.Bearer(extToken)), http.StatusForbidden, "external_account")
		})
		t.Run("rules/rename/403", func(t *testing.T) {
			expectProblem(t, s.Do("PATCH", "/api/v1/users/me", body{"name": "Mine"}, apitest.Bearer(extToken)), http.StatusForbidden, "external_account")
			expectStatus(t, s.Do("PATCH", "/api/v1/users/me", body{}, apitest.Bearer(extToken)), http.StatusOK)
		})
		t.Run("rules/sessions-empty", func(t *testing.T) {
			r := s.Do("GET", "/api/v1/users/me/sessions", nil, apitest.Bearer(extToken))
			expectStatus(t, r, http.StatusOK)
			if strings.TrimSpace(string(r.Body)) != `{"items":[]}` {
				t.Errorf("body %s", r.Body)
			}
			expectProblem(t, s.Do("DELETE", "/api/v1/users/me/sessions/"+sessionOf(t, e, local), nil, apitest.Bearer(extToken)), http.StatusNotFound, "not_found")
			expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(local.AccessToken)), http.StatusOK)
		})
		t.Run("rules/login-with-its-email/401", func(t *testing.T) {
			expectProblem(t, s.Do("POST", "/api/v1/auth/login", body{"email": "rules@example.com", "password": "!external " + testExtIssuer}), http.StatusUnauthorized, "invalid_credentials")
		})
		t.Run("rules/register-its-email/409", func(t *testing.T) {
			expectProblem(t, s.Do("POST", "/api/v1/auth/register", body{"email": "rules@example.com", "name": "X", "password": testPassword}), http.StatusConflict, "email_taken")
		})
		t.Run("rules/refresh-and-logout-with-the-token", func(t *testing.T) {
			expectProblem(t, s.Do("POST", "/api/v1/auth/refresh", body{"refresh_token": extToken}), http.StatusUnauthorized, "unauthorized")
			expectStatus(t, s.Do("POST", "/api/v1/auth/logout", body{"refresh_token": extToken}), http.StatusNoContent)
			expectStatus(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(extToken)), http.StatusOK)
		})
		t.Run("rules/deactivated/401", func(t *testing.T) {
			tok := ed.sign(t, extClaims(now(), "inactive-user", "inactive@example.com"))
			me(t, s, tok)
			deactivate(t, e, "inactive-user")
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tok)), http.StatusUnauthorized, "unauthorized")
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, extClaims(now(), "inactive-user", "inactive@example.com")))), http.StatusUnauthorized, "unauthorized")
		})

		t.Run("delete/stale-token/403", func(t *testing.T) {
			c := extClaims(now(), "del-user", "del@example.com")
			c["iat"] = now().Add(-externalDeleteWindow - time.Second).Unix()
			tok := ed.sign(t, c)
			me(t, s, tok)
			expectProblem(t, s.Do("DELETE", "/api/v1/users/me", nil, apitest.Bearer(tok)), http.StatusForbidden, "external_account")
			delete(c, "iat")
			expectProblem(t, s.Do("DELETE", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, c))), http.StatusForbidden, "external_account")
			if _, _, found := userRow(t, e, "del-user"); !found {
				t.Error("deleted with a stale token")
			}
		})
		t.Run("delete/fresh-token/204-and-older-tokens-stay-dead", func(t *testing.T) {
			old := ed.sign(t, extClaims(now(), "del-user", "del@example.com"))
			expectProblem(t, s.Do("DELETE", "/api/v1/users/me", body{"password": 42}, apitest.Bearer(old), apitest.Mismatch("a password of the wrong type")), http.StatusBadRequest, "bad_request")
			expectStatus(t, s.Do("DELETE", "/api/v1/users/me", body{"password": "ignored"}, apitest.Bearer(old)), http.StatusNoContent)
			if _, _, found := userRow(t, e, "del-user"); found {
				t.Fatal("the account is still there")
			}
			// The token, and another issued in the same second, are refused:
			// they would bring the account back.
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusUnauthorized, "unauthorized")
			if _, _, found := userRow(t, e, "del-user"); found {
				t.Fatal("an old token brought the account back")
			}
			// An issuer whose clock runs ahead of this service's stamps a
			// token issued before the deletion with a later iat: within the
			// leeway it is refused too.
			ahead := extClaims(now(), "del-user", "del@example.com")
			ahead["iat"] = now().Add(externalLeeway - time.Second).Unix()
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(ed.sign(t, ahead))), http.StatusUnauthorized, "unauthorized")
			// A token issued after the deletion (the user signed in again at
			// the issuer) starts a new account; older tokens stay refused.
			e.clock.Advance(externalLeeway + 2*time.Second)
			fresh := ed.sign(t, extClaims(now(), "del-user", "del@example.com"))
			me(t, s, fresh)
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(old)), http.StatusUnauthorized, "unauthorized")
			// Deleting it again, with no body at all.
			expectStatus(t, s.Do("DELETE", "/api/v1/users/me", nil, apitest.Bearer(fresh)), http.StatusNoContent)
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(fresh)), http.StatusUnauthorized, "unauthorized")
		})
	})
}

// TestExternalTokenRejected: every malformed, forged or misdirected
// external token is a 401 and creates nothing.
func TestExternalTokenRejected(t *testing.T) {
	ed, es := newSigningKey(t, "EdDSA", "ed-1"), newSigningKey(t, "ES256", "es-1")
	iss := newTestIssuer(t, ed, es)
	e := pgEnv(t, withIssuer(iss))
	s := e.server(t)
	now := e.clock.Now()
	good := func(sub string) jwt.MapClaims { return extClaims(now, sub, sub+"@example.com") }
	with := func(sub string, f func(c jwt.MapClaims)) jwt.MapClaims {
		c := good(sub)
		f(c)
		return c
	}
	valid := ed.sign(t, good("valid"))
	me(t, s, valid)
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, good("none")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(secret []byte, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tok.Header["kid"] = ed.kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name  string
		sub   string
		token string
	}{
		{"forged/flipped-signature", "valid", flip(valid, 2)},
		{"forged/flipped-payload", "valid", flip(valid, 1)},
		{"forged/other-key-known-kid", "evil", signingKey{kid: "ed-1", method: jwt.SigningMethodEdDSA, priv: newSigningKey(t, "EdDSA", "x").priv}.sign(t, good("evil"))},
		{"forged/unknown-kid", "unknown-kid", signingKey{kid: "ed-9", method: jwt.SigningMethodEdDSA, priv: ed.priv}.sign(t, good("unknown-kid"))},
		{"forged/no-kid", "no-kid", signingKey{method: jwt.SigningMethodEdDSA, priv: ed.priv}.sign(t, good("no-kid"))},
		{"forged/alg-none", "none", noneTok},
		{"forged/hs256-with-public-key", "hs-pub", hs([]byte(ed.public().(ed25519.PublicKey)), good("hs-pub"))},
		{"forged/hs256-with-jwk", "hs-jwk", hs(ed.jwk(t), good("hs-jwk"))},
		{"forged/hs256-with-auth-secret", "hs-secret", hs([]byte(testSecret), good("hs-secret"))},
		{"forged/es256-key-signing-as-eddsa-kid", "cross", signingKey{kid: "ed-1", method: jwt.SigningMethodES256, priv: es.priv}.sign(t, good("cross"))},
		{"claims/expired", "expired", ed.sign(t, with("expired", func(c jwt.MapClaims) { c["exp"] = now.Add(-externalLeeway - time.Second).Unix() }))},
		{"claims/no-exp", "no-exp", ed.sign(t, with("no-exp", func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"claims/nbf-in-future", "nbf", ed.sign(t, with("nbf", func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }))},
		{"claims/iat-in-future", "iat", ed.sign(t, with("iat", func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }))},
		{"claims/wrong-iss", "wrong-iss", ed.sign(t, with("wrong-iss", func(c jwt.MapClaims) { c["iss"] = "https://other.example.com" }))},
		{"claims/own-iss", "own-iss", ed.sign(t, with("own-iss", func(c jwt.MapClaims) { c["iss"] = "todo"; c["aud"] = "todo-api" }))},
		{"claims/wrong-aud", "wrong-aud", ed.sign(t, with("wrong-aud", func(c jwt.MapClaims) { c["aud"] = "another-api" }))},
		{"claims/our-aud", "our-aud", ed.sign(t, with("our-aud", func(c jwt.MapClaims) { c["aud"] = "todo-api" }))},
		{"claims/no-aud", "no-aud", ed.sign(t, with("no-aud", func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"claims/email-wrong-type", "email-type", ed.sign(t, with("email-type", func(c jwt.MapClaims) { c["email"] = 42 }))},
		{"identity/sub-37-chars", strings.Repeat("s", 37), ed.sign(t, good(strings.Repeat("s", 37)))},
		{"identity/sub-with-nul", "nul\x00sub", ed.sign(t, good("nul\x00sub"))},
		{"identity/no-sub", "", ed.sign(t, with("", func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"identity/no-email", "no-email", ed.sign(t, with("no-email", func(c jwt.MapClaims) { delete(c, "email") }))},
		{"identity/bad-email", "bad-email", ed.sign(t, with("bad-email", func(c jwt.MapClaims) { c["email"] = "not an email" }))},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/401", func(t *testing.T) {
			expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tc.token)), http.StatusUnauthorized, "unauthorized")
			if tc.sub != "valid" && tc.sub != "" {
				if _, _, found := userRow(t, e, strings.ReplaceAll(tc.sub, "\x00", "")); found {
					t.Error("the refused token created an account")
				}
			}
		})
	}
	t.Run("claims/within-leeway/200", func(t *testing.T) {
		me(t, s, ed.sign(t, with("leeway", func(c jwt.MapClaims) { c["iat"] = now.Add(externalLeeway / 2).Unix() })))
	})
	t.Run("identity/sub-36-chars/200", func(t *testing.T) {
		me(t, s, ed.sign(t, extClaims(now, strings.Repeat("é", 36), "long-sub@example.com")))
	})
}

// TestExternalFirstSightRace: racing first requests of one new sub all
// succeed and make one account.
func TestExternalFirstSightRace(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	bothDatabases(t, func(t *testing.T, open func(testing.TB) *database.DB) {
		db := open(t)
		e := newEnv(t, db, withIssuer(newTestIssuer(t, ed)))
		s := e.server(t)
		for round := range 3 {
			tok := ed.sign(t, extClaims(e.clock.Now(), fmt.Sprintf("racer-%d", round), fmt.Sprintf("racer%d@example.com", round)))
			const n = 16
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { codes[i] = s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tok)).Status })
			}
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusOK {
					t.Errorf("round %d request %d: %d", round, i, c)
				}
			}
			if n, err := e.db.Ent.User.Query().Where(user.ID(fmt.Sprintf("racer-%d", round))).Count(t.Context()); err != nil || n != 1 {
				t.Errorf("round %d: %d rows, %v", round, n, err)
			}
		}
	})
}

// TestExternalKeyRotation: a key the issuer adds is picked up without a
// restart, at the next fetch the throttle allows; the issuer going down
// keeps the keys held working.
func TestExternalKeyRotation(t *testing.T) {
	first, second := newSigningKey(t, "EdDSA", "key-1"), newSigningKey(t, "ES256", "key-2")
	iss := newTestIssuer(t, first)
	e := pgEnv(t, withIssuer(iss))
	s := e.server(t)
	sign := func(k signingKey) string { return k.sign(t, extClaims(e.clock.Now(), "rotating", "rot@example.com")) }
	me(t, s, sign(first))

	iss.publish(first, second)
	// Within 30 s of the start-up fetch the unknown kid is refused without
	// a fetch.
	hits := iss.hits.Load()
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(sign(second))), http.StatusUnauthorized, "unauthorized")
	if iss.hits.Load() != hits {
		t.Errorf("fetched within 30 s of the last fetch")
	}
	e.clock.Advance(jwksRefetchInterval)
	me(t, s, sign(second))
	me(t, s, sign(first))
	if got := iss.hits.Load() - hits; got != 1 {
		t.Errorf("%d fetches for the new key, want 1", got)
	}

	iss.down.Store(true)
	e.clock.Advance(jwksRefetchInterval)
	me(t, s, sign(first))
	me(t, s, sign(second))
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(signingKey{kid: "key-3", method: first.method, priv: first.priv}.sign(t, extClaims(e.clock.Now(), "rotating", "rot@example.com")))), http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(e.logs.String(), "jwks: fetch failed") {
		t.Error("the failed fetch was not logged")
	}
}

// TestExternalStartsWhileIssuerDown: the module starts with the issuer
// unreachable, logs it, keeps serving its own tokens, and accepts the
// issuer's once a fetch is allowed and succeeds.
func TestExternalStartsWhileIssuerDown(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	iss := newTestIssuer(t, ed)
	iss.down.Store(true)
	e := pgEnv(t, withIssuer(iss))
	s := e.server(t)
	local := register(t, s, "own@example.com")
	tok := func() string { return ed.sign(t, extClaims(e.clock.Now(), "late", "late@example.com")) }
	expectProblem(t, s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tok())), http.StatusUnauthorized, "unauthorized")
	me(t, s, local.AccessToken)
	iss.down.Store(false)
	e.clock.Advance(jwksRefetchInterval)
	me(t, s, tok())
	if !strings.Contains(e.logs.String(), "jwks: fetch failed") {
		t.Error("the failed start-up fetch was not logged")
	}
}

// TestExternalUnknownKidFlood: a flood of tokens with made-up kids costs
// the issuer one fetch per 30 s, and every one of them is a 401.
func TestExternalUnknownKidFlood(t *testing.T) {
	ed := newSigningKey(t, "EdDSA", "ed-1")
	iss := newTestIssuer(t, ed)
	e := pgEnv(t, withIssuer(iss))
	s := e.server(t)
	me(t, s, ed.sign(t, extClaims(e.clock.Now(), "flood-victim", "victim@example.com")))
	for round := range 2 {
		e.clock.Advance(jwksRefetchInterval)
		hits := iss.hits.Load()
		const n = 100
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tok := signingKey{kid: fmt.Sprintf("made-up-%d-%d", round, i), method: ed.method, priv: ed.priv}.sign(t, extClaims(e.clock.Now(), "flood", "flood@example.com"))
				codes[i] = s.Do("GET", "/api/v1/users/me", nil, apitest.Bearer(tok)).Status
			})
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusUnauthorized {
				t.Errorf("round %d request %d: %d", round, i, c)
			}
		}
		if got := iss.hits.Load() - hits; got != 1 {
			t.Errorf("round %d: %d unknown kids made %d fetches, want 1", round, n, got)
		}
	}
}
