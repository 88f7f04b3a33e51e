package httpx

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"todo/platform/apperr"
	"todo/platform/database"
)

// status is the one map from error kinds to HTTP statuses.
var status = [...]int{
	apperr.KindInternal:             http.StatusInternalServerError,
	apperr.KindBadRequest:           http.StatusBadRequest,
	apperr.KindUnauthorized:         http.StatusUnauthorized,
	apperr.KindForbidden:            http.StatusForbidden,
	apperr.KindNotFound:             http.StatusNotFound,
	apperr.KindMethodNotAllowed:     http.StatusMethodNotAllowed,
	apperr.KindConflict:             http.StatusConflict,
	apperr.KindGone:                 http.StatusGone,
	apperr.KindPreconditionFailed:   http.StatusPreconditionFailed,
	apperr.KindPayloadTooLarge:      http.StatusRequestEntityTooLarge,
	apperr.KindUnsupportedMediaType: http.StatusUnsupportedMediaType,
	apperr.KindValidation:           http.StatusUnprocessableEntity,
	apperr.KindRateLimited:          http.StatusTooManyRequests,
	apperr.KindUnavailable:          http.StatusServiceUnavailable,
}

// Problem is an RFC 9457 problem details body with the contract's code.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Code      string              `json:"code"`
	Detail    string              `json:"detail,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
}

// Status returns the HTTP status of an error kind.
func Status(k apperr.Kind) int {
	if int(k) < len(status) {
		return status[k]
	}
	return http.StatusInternalServerError
}

// ProblemOf returns the problem body and status an error becomes. Errors
// that are not *apperr.Error become 503 unavailable when the database could
// not be reached, else 500 internal with no detail.
func ProblemOf(err error) (*apperr.Error, bool) {
	if ae, ok := apperr.From(err); ok {
		return ae, true
	}
	if database.IsUnavailable(err) || errors.Is(err, context.Canceled) {
		return apperr.ErrUnavailable.WithRetryAfter(retryAfterUnavailable).Wrap(err), true
	}
	return apperr.Internal().Wrap(err), false
}

const retryAfterUnavailable = 2 // seconds

// WriteError writes err as application/problem+json and aborts the chain.
// It is the only writer of error responses: handlers return errors to
// Handle, middleware calls it directly.
func WriteError(c *gin.Context, err error) {
	ae, known := ProblemOf(err)
	st := Status(ae.Kind)
	rid := RequestID(c)
	switch {
	case !known:
		Logger(c).ErrorContext(c.Request.Context(), "unhandled error", "err", err.Error(), "request_id", rid)
	case ae.Kind == apperr.KindUnavailable:
		Logger(c).WarnContext(c.Request.Context(), "unavailable", "err", err.Error(), "request_id", rid)
	}
	h := c.Writer.Header()
	switch ae.Kind {
	case apperr.KindUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="todo"`)
	case apperr.KindRateLimited, apperr.KindUnavailable:
		h.Set("Retry-After", strconv.Itoa(max(ae.RetryAfter, 1)))
	}
	if ae.Kind == apperr.KindUnavailable && ae.RetryAfter == 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
	}
	h.Set("Content-Type", "application/problem+json")
	c.Abort()
	if c.Writer.Written() {
		return
	}
	c.Status(st)
	writeJSONBody(c, Problem{
		Type:      "about:blank",
		Title:     http.StatusText(st),
		Status:    st,
		Code:      ae.Code,
		Detail:    ae.Detail,
		Errors:    ae.Fields,
		RequestID: rid,
	})
}
