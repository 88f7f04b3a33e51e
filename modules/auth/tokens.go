package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// accessClaims are the claims of an access token: the registered ones
// (iss, aud, sub = user id, iat, exp) and sid, the session id.
type accessClaims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// tokenMaker signs and verifies access tokens and makes refresh tokens.
type tokenMaker struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

func newTokenMaker(secret []byte, issuer, audience string, ttl time.Duration, now func() time.Time) *tokenMaker {
	return &tokenMaker{
		secret:   secret,
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		now:      now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
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

// verify checks an access token's algorithm, signature, issuer, audience
// and times, and returns its user and session ids. Every failure is
// ErrUnauthorized; the cause is kept for logs.
func (m *tokenMaker) verify(token string) (userID, sessionID string, err error) {
	var claims accessClaims
	if _, err := m.parser.ParseWithClaims(token, &claims, m.key); err != nil {
		return "", "", ErrUnauthorized.Wrap(err)
	}
	// Both ids are UUIDs the service made; anything else (even validly
	// signed) never reaches the database.
	if uuid.Validate(claims.Subject) != nil || uuid.Validate(claims.SessionID) != nil {
		return "", "", ErrUnauthorized
	}
	return claims.Subject, claims.SessionID, nil
}

func (m *tokenMaker) key(*jwt.Token) (any, error) { return m.secret, nil }

// refreshTokenBytes is the entropy of a refresh token: 256 bits.
const refreshTokenBytes = 32

// newRefreshToken returns a random refresh token and the hash it is stored
// under.
func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// hashToken is the id a refresh token is stored under: its SHA-256 in hex.
// The token has 256 random bits, so a fast hash is enough.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
