package auth

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"todo/platform/httpx"
)

// externalHashPrefix starts the hashed_password of every external account:
// no bcrypt hash starts with "!", so no password matches it, and the issuer
// that follows it says which issuer vouches for the account.
const externalHashPrefix = "!external "

// externalDeleteWindow is how recent an external token must be for
// DELETE /users/me: the account has no password here to confirm with, so a
// fresh sign-in at the issuer stands in for it.
const externalDeleteWindow = 5 * time.Minute

// maxExternalIDLen is the longest sub accepted, in characters: users.id is
// varchar(36).
const maxExternalIDLen = 36

// externalHash is the hashed_password of an account of issuer.
func externalHash(issuer string) string { return externalHashPrefix + issuer }

// isExternalHash reports whether hash is an external account's.
func isExternalHash(hash string) bool { return strings.HasPrefix(hash, externalHashPrefix) }

// externalIdentity is what a verified external token says about its user,
// checked and normalised: Email and Name are empty and EmailVerified nil
// when the token does not carry them.
type externalIdentity struct {
	ID            string
	Email         string
	Name          string
	EmailVerified *bool
	IssuedAt      time.Time // zero: no iat
}

// identityOf checks the claims an external account is built from. The sub
// must fit users.id (1–36 characters) and hold nothing PostgreSQL's text
// refuses; an email, when present, follows registration's rules; a name is
// trimmed, cut to 100 characters and made storable.
func identityOf(c *accessClaims) (externalIdentity, error) {
	sub := c.Subject
	if sub == "" || utf8.RuneCountInString(sub) > maxExternalIDLen || !utf8.ValidString(sub) || strings.ContainsRune(sub, 0) {
		return externalIdentity{}, ErrUnauthorized.WithDetail("the token's sub is not a usable user id (1–36 characters)")
	}
	id := externalIdentity{ID: sub}
	verified := c.EmailVerified
	if verified == nil {
		verified = c.EmailVerifiedOIDC
	}
	if verified != nil {
		v := bool(*verified)
		id.EmailVerified = &v
	}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
	}
	if c.Email != nil {
		id.Email = normalizeEmail(*c.Email)
		if n := utf8.RuneCountInString(id.Email); n < 5 || n > 255 || !httpx.ValidEmail(id.Email) {
			return externalIdentity{}, ErrUnauthorized.WithDetail("the token's email is not a valid address")
		}
	}
	if c.Name != nil {
		id.Name = cleanName(*c.Name)
	}
	return id, nil
}

// maxNameLen is the longest name stored, in characters.
const maxNameLen = 100

// cleanName makes an issuer's name storable: valid UTF-8 without NUL,
// trimmed, at most maxNameLen characters. The issuer's rules for names are
// its own; refusing its user for a long name would lock them out here.
func cleanName(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= maxNameLen {
		return s
	}
	n := 0
	for i := range s {
		if n == maxNameLen {
			return strings.TrimSpace(s[:i])
		}
		n++
	}
	return s
}

// fallbackName is the name of an account whose token carries none: the
// local part of its email.
func fallbackName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return cleanName(local)
}

// authenticateExternal admits the caller of a verified external token: it
// finds the account of the token's sub, creating it on first sight, checks
// that it belongs to the external issuer, is active and was not deleted
// after the token was issued, and brings its email, name and
// email_verified in step with the token when they differ (no write
// otherwise). One query when nothing changed.
func (s *Service) authenticateExternal(ctx context.Context, c *accessClaims) (httpx.Principal, error) {
	id, err := identityOf(c)
	if err != nil {
		return httpx.Principal{}, err
	}
	acct, found, err := s.store.externalAccount(ctx, id.ID)
	if err != nil {
		return httpx.Principal{}, err
	}
	if !found {
		acct, err = s.createExternal(ctx, id)
		if err != nil {
			return httpx.Principal{}, err
		}
	}
	switch {
	case acct.Hash != s.externalHash:
		// A local account, or another issuer's, with this id: the token
		// does not speak for it.
		s.log.WarnContext(ctx, "external token for an account the external issuer does not own", "user_id", id.ID)
		return httpx.Principal{}, ErrUnauthorized
	case acct.DeletedAt != nil && issuedBefore(id.IssuedAt, *acct.DeletedAt):
		return httpx.Principal{}, ErrUnauthorized.WithDetail("the account was deleted after this token was issued")
	case !acct.IsActive:
		return httpx.Principal{}, ErrUnauthorized
	}
	if ch, ok := changes(acct.User, id); ok {
		if ch.Email != nil {
			if err := s.emailFree(ctx, *ch.Email, id.ID); err != nil {
				return httpx.Principal{}, err
			}
		}
		if err := s.store.updateExternalUser(ctx, id.ID, s.externalHash, ch, s.clock()); err != nil {
			return httpx.Principal{}, err
		}
	}
	return httpx.Principal{UserID: id.ID, External: true, IssuedAt: id.IssuedAt}, nil
}

// createExternal creates the account of an external identity seen for the
// first time. Its token must carry an email; the name defaults to the
// email's local part.
func (s *Service) createExternal(ctx context.Context, id externalIdentity) (externalAccount, error) {
	if id.Email == "" {
		return externalAccount{}, ErrUnauthorized.WithDetail("the token has no email to create the account with")
	}
	// Whatever can only fail is found by reads, before the write
	// transaction (SQLite's one write lock) that creates the account; that
	// transaction checks both again.
	deletedAt, err := s.store.externalDeletedAt(ctx, id.ID)
	switch {
	case err != nil:
		return externalAccount{}, err
	case deletedAt != nil && issuedBefore(id.IssuedAt, *deletedAt):
		return externalAccount{}, ErrUnauthorized.WithDetail("the account was deleted after this token was issued")
	}
	if err := s.emailFree(ctx, id.Email, id.ID); err != nil {
		return externalAccount{}, err
	}
	name := id.Name
	if name == "" {
		name = fallbackName(id.Email)
	}
	verified := id.EmailVerified != nil && *id.EmailVerified
	acct, created, err := s.store.createExternalUser(ctx, newExternalUser{
		ID:            id.ID,
		Email:         id.Email,
		Name:          name,
		EmailVerified: verified,
		Hash:          s.externalHash,
		IssuedAt:      id.IssuedAt,
		Now:           s.clock(),
	})
	if created {
		s.log.InfoContext(ctx, "external account created", "user_id", id.ID)
	}
	return acct, err
}

// emailFree refuses, with a read, an email that another account than id
// holds: a token that can only fail must not cost a write transaction
// (SQLite's one write lock) on every request. The unique index still
// decides a race.
func (s *Service) emailFree(ctx context.Context, email, id string) error {
	owner, found, err := s.store.emailOwner(ctx, email)
	switch {
	case err != nil:
		return err
	case found && owner != id:
		return ErrEmailTaken.WithDetail("the token's email belongs to another account")
	}
	return nil
}

// issuedBefore reports whether a token issued at iat may predate a deletion
// at deletedAt: iat counts whole seconds, and the issuer's clock may run up
// to externalLeeway ahead of this service's. A token without iat may.
func issuedBefore(iat, deletedAt time.Time) bool {
	return !iat.After(deletedAt.Add(externalLeeway))
}

// userChanges are the columns of an external account to bring in step with
// its token; nil is unchanged.
type userChanges struct {
	Email         *string
	Name          *string
	EmailVerified *bool
}

// changes compares an account with its token: a claim that is present and
// differs is a change.
func changes(u User, id externalIdentity) (userChanges, bool) {
	var ch userChanges
	if id.Email != "" && id.Email != u.Email {
		ch.Email = &id.Email
	}
	if id.Name != "" && id.Name != u.Name {
		ch.Name = &id.Name
	}
	if id.EmailVerified != nil && *id.EmailVerified != u.EmailVerified {
		ch.EmailVerified = id.EmailVerified
	}
	return ch, ch.Email != nil || ch.Name != nil || ch.EmailVerified != nil
}

// DeleteExternalAccount deletes the caller's external account with its
// tasks, and records the deletion so that no token issued before it brings
// the account back. There is no password to confirm with: the token must
// have been issued in the last externalDeleteWindow.
func (s *Service) DeleteExternalAccount(ctx context.Context, p httpx.Principal) error {
	if p.IssuedAt.IsZero() || s.now().Sub(p.IssuedAt) > externalDeleteWindow {
		return ErrExternalAccount.WithDetail("deleting an external account needs a token issued in the last 5 minutes; sign in again at the identity provider")
	}
	return s.store.deleteExternalUser(ctx, p.UserID, s.externalHash, s.clock())
}
