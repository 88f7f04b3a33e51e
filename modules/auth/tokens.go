package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// accessClaims are the claims of an access token, the service's own or the
// external issuer's: the registered ones (iss, aud, sub = user id, iat,
// exp, nbf), sid (the session id, in the service's own tokens) and the
// profile an external issuer adds.
type accessClaims struct {
	SessionID string `json:"sid"`
	profileClaims
	jwt.RegisteredClaims
}

// profileClaims are the claims an external issuer's token describes its
// user with: Better Auth's (its user object: email, name, emailVerified)
// and the OpenID Connect spelling of the last one.
type profileClaims struct {
	Email             *string   `json:"email,omitempty"`
	Name              *string   `json:"name,omitempty"`
	EmailVerified     *flexBool `json:"emailVerified,omitempty"`
	EmailVerifiedOIDC *flexBool `json:"email_verified,omitempty"`
}

// flexBool is a boolean claim as issuers write it: a JSON boolean, or the
// string "true" or "false" (some OpenID providers). Anything else reads as
// false rather than failing the token.
type flexBool bool

// UnmarshalJSON reads a boolean or a boolean string.
func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	default:
		*b = false
	}
	return nil
}

// tokenMaker signs the service's access tokens, makes refresh tokens, and
// verifies every access token, its own and the external issuer's.
type tokenMaker struct {
	secret     []byte
	refreshKey []byte
	issuer     string
	audience   string
	ttl        time.Duration
	now        func() time.Time
	parser     *jwt.Parser
	// own checks the claims of the service's own tokens.
	own *jwt.Validator
	// external is the external issuer; nil without AUTH_JWKS_URL.
	external *externalIssuer
	// verified remembers own tokens that passed.
	verified *verifiedCache
}

func newTokenMaker(secret []byte, issuer, audience string, ttl time.Duration, now func() time.Time, external *externalIssuer) *tokenMaker {
	methods := []string{jwt.SigningMethodHS256.Alg()}
	if external != nil {
		methods = append(methods, externalAlgs...)
	}
	return &tokenMaker{
		secret:     secret,
		refreshKey: refreshKey(secret),
		issuer:     issuer,
		audience:   audience,
		ttl:        ttl,
		now:        now,
		external:   external,
		verified:   newVerifiedCache(),
		// The claims are checked after the signature, by the validator of
		// the issuer the key was chosen for.
		parser: jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithoutClaimsValidation()),
		own: jwt.NewValidator(
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
		),
	}
}

// access signs an access token for a user's session, valid for ttl.
func (m *tokenMaker) access(userID, sessionID string) (string, error) {
	now := m.now()
	claims := accessClaims{
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{m.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.ttl)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(m.secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// verify checks an access token: key chooses the issuer by the token's iss
// and the key by that issuer's rules, the signature is checked with it, and
// the claims by that issuer's validator. It returns the claims and whether
// they are the external issuer's. A kid the key set lacks makes the set be
// fetched again (at most every jwksRefetchInterval) and the token checked
// once more. Every failure is ErrUnauthorized; the cause is kept for logs.
func (m *tokenMaker) verify(ctx context.Context, token string) (claims accessClaims, external bool, err error) {
	if c, ok := m.verified.get(token, m.now()); ok {
		return c, false, nil
	}
	var gen int64 // key set generation before the lookup
	if m.external != nil {
		gen = m.external.keys.generation.Load()
	}
	_, err = m.parser.ParseWithClaims(token, &claims, m.key)
	if errors.Is(err, errUnknownKey) && m.external.keys.refresh(ctx, gen) {
		claims = accessClaims{}
		_, err = m.parser.ParseWithClaims(token, &claims, m.key)
	}
	if err != nil {
		return accessClaims{}, false, ErrUnauthorized.Wrap(err)
	}
	if claims.Issuer != m.issuer { // key accepted no issuer but these two
		if err := m.external.validator.Validate(&claims); err != nil {
			return accessClaims{}, false, ErrUnauthorized.Wrap(err)
		}
		return claims, true, nil
	}
	if err := m.own.Validate(&claims); err != nil {
		return accessClaims{}, false, ErrUnauthorized.Wrap(err)
	}
	// The session id is a UUID the service made. The subject is a user id:
	// a UUID for accounts made here, but an adopted seed-era account's id is
	// any string of users.id (varchar(36)), such as "user-123-abc". Anything
	// else (even validly signed) never reaches the database.
	if !validUserID(claims.Subject) || uuid.Validate(claims.SessionID) != nil {
		return accessClaims{}, false, ErrUnauthorized
	}
	m.verified.put(token, claims)
	return claims, false, nil
}

// verifiedCache remembers the service's own access tokens that verify
// accepted, so that the next request with the same token skips the
// signature and the decoding of its claims (most of verify's CPU; each
// client sends its token many times). A token is remembered whole and
// found only by an exact match of every byte. It is answered from the
// cache only between its issue time (or not-before, if later) and its
// expiry, where verify would accept it too; outside them (the clock stepped
// back before it, or reached the expiry) verify decides again. Whether its
// session is live is not verify's question and is asked after it on every
// request, as before. External tokens are not remembered: their issuer's
// keys change without a restart.
//
// The cache is verifiedSlots entries chosen by a hash of the token, each
// overwritten by the next token that falls in it: memory stays bounded
// (about 1 MB) and a client whose slot was taken pays one full check.
type verifiedCache struct {
	seed  maphash.Seed
	slots [verifiedSlots]verifiedSlot
}

const verifiedSlots = 4096 // a power of two

type verifiedSlot struct {
	mu        sync.Mutex
	token     string
	claims    accessClaims
	from, exp time.Time // accepted from (iat, or nbf if later) until exp
}

func newVerifiedCache() *verifiedCache { return &verifiedCache{seed: maphash.MakeSeed()} }

func (c *verifiedCache) slot(token string) *verifiedSlot {
	return &c.slots[maphash.String(c.seed, token)&(verifiedSlots-1)]
}

// get returns the claims of token if it is remembered and valid at now.
func (c *verifiedCache) get(token string, now time.Time) (accessClaims, bool) {
	s := c.slot(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != token || now.Before(s.from) || !now.Before(s.exp) {
		return accessClaims{}, false
	}
	return s.claims, true
}

// put remembers token, which verify accepted with claims.
func (c *verifiedCache) put(token string, claims accessClaims) {
	if claims.ExpiresAt == nil {
		return
	}
	var from time.Time
	if claims.IssuedAt != nil {
		from = claims.IssuedAt.Time
	}
	if claims.NotBefore != nil && claims.NotBefore.After(from) {
		from = claims.NotBefore.Time
	}
	s := c.slot(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token, s.claims, s.from, s.exp = token, claims, from, claims.ExpiresAt.Time
}

// key chooses the key that verifies t by the issuer its claims name: the
// service's secret for its own tokens, HS256 only; the external issuer's
// key of t's kid for the external issuer's, by its rules. No key serves
// the other issuer, and any other issuer has none.
func (m *tokenMaker) key(t *jwt.Token) (any, error) {
	iss, err := t.Claims.GetIssuer()
	switch {
	case err != nil:
		return nil, err
	case iss == m.issuer:
		if t.Method.Alg() != jwt.SigningMethodHS256.Alg() {
			return nil, errAlgorithm
		}
		return m.secret, nil
	case m.external != nil && iss == m.external.issuer:
		return m.external.key(t)
	}
	return nil, errUnknownIssuer
}

// A refresh token is refreshTokenBytes of base64url over three parts: the
// session it belongs to (its UUID's 16 bytes), refreshRandomBytes of
// randomness, and a MAC of both under a key derived from the secret. The
// MAC lets the service recognise a genuine token of a session after the
// token is spent and its row deleted: presenting it again is reuse, and
// revokes the session, without the service keeping every spent token.
// Tokens of the older form (opaque randomness only) still work: they are
// found by their hash alone.
const (
	refreshRandomBytes = 32
	refreshMACBytes    = 16
	refreshTokenBytes  = 16 + refreshRandomBytes + refreshMACBytes
)

// refreshKeyLabel derives the refresh tokens' MAC key from the secret, so
// that it differs from the access tokens' signing key.
const refreshKeyLabel = "todo refresh token v2"

func refreshKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(refreshKeyLabel))
	return m.Sum(nil)
}

func (m *tokenMaker) refreshMAC(body []byte) []byte {
	h := hmac.New(sha256.New, m.refreshKey)
	h.Write(body)
	return h.Sum(nil)[:refreshMACBytes]
}

// newRefresh returns a random refresh token of sessionID and the hash it is
// stored under.
func (m *tokenMaker) newRefresh(sessionID string) (token, hash string, err error) {
	sid, err := uuid.Parse(sessionID)
	if err != nil {
		return "", "", fmt.Errorf("refresh token for session %q: %w", sessionID, err)
	}
	b := make([]byte, refreshTokenBytes)
	copy(b, sid[:])
	if _, err := rand.Read(b[16 : 16+refreshRandomBytes]); err != nil {
		return "", "", fmt.Errorf("random refresh token: %w", err)
	}
	copy(b[16+refreshRandomBytes:], m.refreshMAC(b[:16+refreshRandomBytes]))
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// refreshSession returns the session a genuine refresh token of the
// current form names; ok is false for anything else (a token of the older
// form, or a forgery, which must not be able to revoke a session).
func (m *tokenMaker) refreshSession(token string) (sessionID string, ok bool) {
	if base64.RawURLEncoding.DecodedLen(len(token)) != refreshTokenBytes {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != refreshTokenBytes {
		return "", false
	}
	if !hmac.Equal(b[16+refreshRandomBytes:], m.refreshMAC(b[:16+refreshRandomBytes])) {
		return "", false
	}
	sid, err := uuid.FromBytes(b[:16])
	if err != nil {
		return "", false
	}
	return sid.String(), true
}

// oldRefreshBytes is the length of a refresh token of the older form:
// randomness only, in base64url.
const oldRefreshBytes = 32

// maybeRefresh reports whether token may be a refresh token the service
// issued: one of the current form under a valid MAC (claimed is then its
// session), or one of the older form's shape. Anything else is refused
// before any query.
func (m *tokenMaker) maybeRefresh(token string) (claimed string, ok bool) {
	if sid, ok := m.refreshSession(token); ok {
		return sid, true
	}
	if len(token) != base64.RawURLEncoding.EncodedLen(oldRefreshBytes) {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	return "", err == nil && len(b) == oldRefreshBytes
}

// hashToken is the id a refresh token is stored under: its SHA-256 in hex.
// The token has 256 random bits, so a fast hash is enough.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validUserID reports whether id can be a users.id: 1–36 characters of
// valid UTF-8 without NUL (what PostgreSQL's text input accepts).
func validUserID(id string) bool {
	return id != "" && utf8.RuneCountInString(id) <= maxExternalIDLen && utf8.ValidString(id) && !strings.ContainsRune(id, 0)
}
