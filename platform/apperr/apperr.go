// Package apperr is the service's error vocabulary: a kind that decides the
// HTTP status, the contract's machine-readable code, and a detail safe to
// show a client. It knows nothing of HTTP; platform/httpx maps kinds to
// statuses in one place.
package apperr

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error; each kind is one HTTP status.
type Kind uint8

// The kinds, one per status the contract uses.
const (
	KindInternal             Kind = iota // 500
	KindBadRequest                       // 400
	KindUnauthorized                     // 401
	KindForbidden                        // 403
	KindNotFound                         // 404
	KindMethodNotAllowed                 // 405
	KindConflict                         // 409
	KindGone                             // 410
	KindPreconditionFailed               // 412
	KindPayloadTooLarge                  // 413
	KindUnsupportedMediaType             // 415
	KindValidation                       // 422
	KindRateLimited                      // 429
	KindUnavailable                      // 503
)

// FieldError names one input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error a client may see: its Code and Detail go into the
// problem+json body.
type Error struct {
	Kind       Kind
	Code       string       // the contract's code, e.g. "email_taken"
	Detail     string       // a sentence for people; never internals
	Fields     []FieldError // for KindValidation
	RetryAfter int          // seconds, for KindRateLimited and KindUnavailable
	cause      error
}

// New returns an error of kind with the contract's code and a detail.
func New(kind Kind, code, detail string) *Error {
	return &Error{Kind: kind, Code: code, Detail: detail}
}

// Error implements error.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Detail + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Detail
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error with the same kind and code, so that sentinels
// compare equal to copies made by WithDetail or Wrap.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Code == e.Code
}

// WithDetail returns a copy of e with another detail.
func (e *Error) WithDetail(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

// WithRetryAfter returns a copy of e that asks the client to wait seconds.
func (e *Error) WithRetryAfter(seconds int) *Error {
	c := *e
	c.RetryAfter = max(seconds, 1)
	return &c
}

// Wrap returns a copy of e that carries cause for logs (never for clients).
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// Validation returns a 422 validation_failed naming each broken field; its
// detail joins them.
func Validation(fields ...FieldError) *Error {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return &Error{Kind: KindValidation, Code: "validation_failed", Detail: strings.Join(parts, "; "), Fields: fields}
}

// The errors every module shares.
var (
	ErrBadRequest   = New(KindBadRequest, "bad_request", "the request is malformed")
	ErrUnauthorized = New(KindUnauthorized, "unauthorized", "a valid access token is required")
	ErrNotFound     = New(KindNotFound, "not_found", "no such resource")
	ErrMethod       = New(KindMethodNotAllowed, "method_not_allowed", "the method is not allowed on this resource")
	ErrPrecondition = New(KindPreconditionFailed, "precondition_failed", "If-Match does not match the current ETag")
	ErrTooLarge     = New(KindPayloadTooLarge, "payload_too_large", "the request body is larger than 1 MiB")
	ErrMediaType    = New(KindUnsupportedMediaType, "unsupported_media_type", "the request body must be application/json")
	ErrRateLimited  = New(KindRateLimited, "rate_limited", "too many attempts; retry later")
	ErrUnavailable  = New(KindUnavailable, "unavailable", "the service is temporarily unavailable; retry later")
	errInternal     = New(KindInternal, "internal", "an internal error occurred")
)

// Internal returns the 500 a client sees for any error that is not an *Error.
func Internal() *Error { c := *errInternal; return &c }

// From returns the *Error in err's chain, if any.
func From(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
