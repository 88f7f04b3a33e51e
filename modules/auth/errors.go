package auth

import "todo/platform/apperr"

// The auth module's errors, with the contract's codes.
var (
	// ErrInvalidCredentials is a login with an unknown email or a wrong
	// password: one body for both, so neither can be told from the other.
	ErrInvalidCredentials = apperr.New(apperr.KindUnauthorized, "invalid_credentials", "email or password is incorrect")
	// ErrAccountDisabled is a login with correct credentials to an account
	// whose is_active is false.
	ErrAccountDisabled = apperr.New(apperr.KindForbidden, "account_disabled", "the account is disabled")
	// ErrWrongPassword is a wrong current password given to change the
	// password or delete the account.
	ErrWrongPassword = apperr.New(apperr.KindForbidden, "wrong_password", "the current password is incorrect")
	// ErrEmailTaken is a registration with an email that exists, compared
	// case-insensitively.
	ErrEmailTaken = apperr.New(apperr.KindConflict, "email_taken", "email is already registered")
	// ErrUnauthorized is a missing, malformed, expired, tampered or revoked
	// access token.
	ErrUnauthorized = apperr.ErrUnauthorized.WithDetail("the access token is missing, invalid or expired")
	// ErrInvalidRefreshToken is a refresh token that is unknown, expired,
	// spent or of an ended session.
	ErrInvalidRefreshToken = apperr.ErrUnauthorized.WithDetail("the refresh token is invalid, expired or spent")
	// ErrSessionNotFound is a session id that is not one of the caller's
	// live sessions.
	ErrSessionNotFound = apperr.ErrNotFound.WithDetail("no such session")
	// ErrInvalidToken is a verification or reset token that is unknown,
	// spent, expired or malformed.
	ErrInvalidToken = apperr.New(apperr.KindBadRequest, "invalid_token", "the token is unknown, used or expired")
	// ErrUserNotFound is an operator's command naming an email no account
	// has.
	ErrUserNotFound = apperr.ErrNotFound.WithDetail("no account has this email")
	// ErrExternalAccount is an operation the external issuer owns (the
	// password, the name) asked of an account whose identity comes from it.
	ErrExternalAccount = apperr.New(apperr.KindForbidden, "external_account", "the account's identity belongs to an external issuer; use it for this")
	// errUnmailable is an email no mail can be addressed to (a local part
	// with a dot at either end, or two in a row): the account it would be
	// could never be sent its verification or reset mail.
	errUnmailable = apperr.Validation(apperr.FieldError{Field: "email",
		Message: "no mail can be addressed to this email (a dot at either end of the part before @, or two in a row)"})
	// ErrBusy is returned when every password-hashing slot is taken and the
	// queue is full, or a request waited too long for a slot.
	ErrBusy = apperr.ErrUnavailable.WithDetail("too many password checks are in progress; retry later")
	// ErrTooManyHashes is a principal (a client address or an account) that
	// already holds or awaits its whole share of the password-hashing slots.
	ErrTooManyHashes = apperr.ErrRateLimited.WithDetail("too many password checks from this client or account at once")
	// ErrTooManyFailures is a password check refused because the account has
	// failed too many recently and this client failed too.
	ErrTooManyFailures = apperr.ErrRateLimited.WithDetail("too many failed password attempts; retry later")
)
