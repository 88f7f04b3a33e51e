package tasks

import "todo/platform/apperr"

// The module's errors, with the contract's codes.
var (
	// ErrTaskNotFound is a missing task, another user's task or a path id
	// that is not a task id: the three are indistinguishable on purpose.
	ErrTaskNotFound = apperr.New(apperr.KindNotFound, "not_found", "task not found")
	// ErrAccountGone is a create whose user was deleted after its token was
	// checked: the insert meets the foreign key, and the token is dead.
	ErrAccountGone = apperr.New(apperr.KindUnauthorized, "unauthorized", "the account no longer exists")
	// ErrMalformedQuery is a query string that is not valid URL encoding.
	ErrMalformedQuery = apperr.New(apperr.KindBadRequest, "bad_request", "the query string is not valid URL encoding")
	// ErrBadCursor is a cursor this server did not issue for this user and status.
	ErrBadCursor = apperr.New(apperr.KindBadRequest, "bad_request", "cursor: not a cursor issued for this user and status")
	// ErrBadSyncToken is a since token this server did not issue to this user.
	ErrBadSyncToken = apperr.New(apperr.KindBadRequest, "bad_request", "since: not a sync token issued to this user")
	// ErrSyncTokenExpired is a since token older than the tombstone
	// retention, or one the feed can no longer continue: the client must
	// sync in full again.
	ErrSyncTokenExpired = apperr.New(apperr.KindGone, "sync_token_expired", "the sync token has expired; sync in full again (omit since)")
	// ErrPreconditionFailed is an If-Match that does not match the current ETag.
	ErrPreconditionFailed = apperr.New(apperr.KindPreconditionFailed, "precondition_failed", "the task has changed since it was read")
	// ErrIdempotencyInProgress is a repeat of an Idempotency-Key whose first
	// request still holds it after the wait.
	ErrIdempotencyInProgress = apperr.New(apperr.KindConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress")
	// ErrIdempotencyKeyReused is an Idempotency-Key used before with another body.
	ErrIdempotencyKeyReused = apperr.New(apperr.KindValidation, "idempotency_key_reused", "this Idempotency-Key was used with a different request body")
)
