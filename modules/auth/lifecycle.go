package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"todo/ent/accounttoken"
	"todo/platform/httpx"
	"todo/platform/mail"
)

// accountTokenBytes is the entropy of a verification or reset token: 256
// bits, URL-safe base64 ([A-Za-z0-9_-]).
const accountTokenBytes = 32

// newAccountToken returns a random token and its hash.
func newAccountToken() (token, hash string, err error) {
	b := make([]byte, accountTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// validTokenShape reports whether s could be a token this service made; a
// malformed one is refused before any query.
func validTokenShape(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(accountTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// mailing is a token to make, and the mail that carries it, written in the
// same transaction as whatever asked for it.
type mailing struct {
	purpose   accounttoken.Purpose
	hash      string
	token     string
	email     string
	now       time.Time
	expiresAt time.Time
	mail      mail.Message
}

// verificationMailing makes the token and mail that verify email.
func (s *Service) verificationMailing(email string) (mailing, error) {
	ttl := s.cfg.VerifyTTL
	return s.newMailing(accounttoken.PurposeVerifyEmail, email, ttl, "Confirm your email address",
		"Hello,\n\n"+
			"To confirm that this address is yours, open this link within "+humanDuration(ttl)+":\n\n"+
			s.cfg.AppBaseURL+"/verify-email?token="+mail.SecretMarker+"\n\n"+
			"If you did not create an account, ignore this mail.\n")
}

// resetMailing makes the token and mail that reset the password of email.
func (s *Service) resetMailing(email string) (mailing, error) {
	ttl := s.cfg.ResetTTL
	return s.newMailing(accounttoken.PurposeResetPassword, email, ttl, "Reset your password",
		"Hello,\n\n"+
			"Someone asked to reset the password of the account with this address. To choose a new password, "+
			"open this link within "+humanDuration(ttl)+":\n\n"+
			s.cfg.AppBaseURL+"/reset-password?token="+mail.SecretMarker+"\n\n"+
			"If it was not you, ignore this mail: the password stays as it is.\n")
}

// newMailing makes a fresh account token of purpose for email, valid for
// ttl, and the mail that carries it: body names the token by
// mail.SecretMarker, which the outbox replaces when it sends.
func (s *Service) newMailing(purpose accounttoken.Purpose, email string, ttl time.Duration, subject, body string) (mailing, error) {
	token, hash, err := newAccountToken()
	if err != nil {
		return mailing{}, err
	}
	now := s.clock()
	return mailing{
		purpose: purpose, hash: hash, token: token, email: email,
		now: now, expiresAt: now.Add(ttl),
		mail: mail.Message{To: email, Subject: subject, Body: body, Secret: token},
	}, nil
}

// humanDuration says d in the words of a mail: "24 hours", "1 hour",
// "30 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(max(int64(d/time.Second), 1), "second")
}

// verifyToKey is the key of an address's share of verification mails in
// Service.mailsTo, whatever accounts ask for them: registering an address,
// deleting the account and registering it again must not mail it more.
func verifyToKey(email string) string { return "verify-to:" + email }

// RequestVerification mails the caller a link that verifies its email,
// unless it is verified already. It is limited per account and per
// address. An external
// account's email is its issuer's to verify: ErrExternalAccount.
func (s *Service) RequestVerification(ctx context.Context, p httpx.Principal) error {
	if p.External {
		return ErrExternalAccount.WithDetail("the email of an external account is verified by its identity provider")
	}
	if err := allow(s.mails, "verify:"+p.UserID, s.now()); err != nil {
		return err
	}
	cred, err := s.store.credentialsByID(ctx, p.UserID)
	switch {
	case err != nil:
		return err
	case cred.EmailVerified:
		return nil
	case mail.CheckAddress(cred.Email) != nil: // an account older than the rule register now applies
		return errUnmailable
	}
	if err := allow(s.mailsTo, verifyToKey(cred.Email), s.now()); err != nil {
		return err
	}
	m, err := s.verificationMailing(cred.Email)
	if err != nil {
		return err
	}
	if err := s.store.mailToken(ctx, p.UserID, m); err != nil {
		return err
	}
	s.wakeMail()
	return nil
}

// VerifyEmail spends a verification token and marks its account's email
// verified. Every verification token of the account is spent with it.
func (s *Service) VerifyEmail(ctx context.Context, token string) (User, error) {
	if !validTokenShape(token) {
		return User{}, ErrInvalidToken
	}
	hash := hashToken(token)
	userID, err := s.store.usableToken(ctx, hash, accounttoken.PurposeVerifyEmail, s.clock())
	if err != nil {
		return User{}, err
	}
	u, err := s.store.verifyEmail(ctx, userID, hash, s.clock())
	if err == nil {
		s.forgetUser(userID)
	}
	return u, err
}

// RequestPasswordReset mails a reset link to the account with email, if
// there is an active one with a password of its own. The answer, and its
// timing, are the same whether or not there is: the work is done before a
// floor of resetRequestFloor, and the request is limited per address and
// per email whether or not the email exists.
func (s *Service) RequestPasswordReset(ctx context.Context, email, clientIP string) error {
	start := time.Now()
	now := s.now()
	if err := allow(s.perIP, clientKey(clientIP), now); err != nil {
		return err
	}
	if err := allow(s.mails, "reset:"+email, now); err != nil {
		return err
	}
	err := s.requestReset(ctx, email)
	if wait := s.resetFloor - time.Since(start); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return err
}

func (s *Service) requestReset(ctx context.Context, email string) error {
	cred, found, err := s.store.credentialsByEmail(ctx, email)
	// An external account has no password here to reset: no mail, and the
	// same answer as for any other email.
	if err != nil || !found || !cred.IsActive || isExternalHash(cred.Hash) {
		return err
	}
	if mail.CheckAddress(cred.Email) != nil {
		// An account older than the rule register now applies: no mail
		// can reach it, and the answer must stay the same as for any email.
		s.log.WarnContext(ctx, "password reset asked for an account whose email no mail can be addressed to", "user_id", cred.ID)
		return nil
	}
	m, err := s.resetMailing(cred.Email)
	if err != nil {
		return err
	}
	switch err := s.store.mailToken(ctx, cred.ID, m); {
	case errors.Is(err, ErrUnauthorized):
		return nil // deleted since the lookup: as for an email with no account
	case err != nil:
		return err
	}
	s.wakeMail()
	return nil
}

// ResetPassword spends a reset token and sets the new password of its
// account; every reset token of the account is spent with it, every session
// revoked, and the email counts as verified (the mail reached it). A token
// is checked before the password is hashed, so a made-up one costs no
// bcrypt work.
func (s *Service) ResetPassword(ctx context.Context, token, password, clientIP string) error {
	now := s.now()
	if err := allow(s.perIP, clientKey(clientIP), now); err != nil {
		return err
	}
	if !validTokenShape(token) {
		return ErrInvalidToken
	}
	hash := hashToken(token)
	userID, err := s.store.usableToken(ctx, hash, accounttoken.PurposeResetPassword, s.clock())
	if err != nil {
		return err
	}
	var newHash []byte
	err = s.withSlot(ctx, accountKey(userID), func() error {
		var err error
		newHash, err = bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
		return err
	})
	if err != nil {
		return err
	}
	err = s.store.resetPassword(ctx, userID, hash, string(newHash), s.clock())
	s.forgetUser(userID)
	return err
}
