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

// statuses is the one table from error kinds to what a client sees: the HTTP
// status and the problem's title. A title is the status's reason phrase as
// RFC 9110 words it (RFC 6585 for 429). net/http's StatusText keeps the older
// phrases of RFC 7231 for some statuses ("Request Entity Too Large",
// "Unprocessable Entity"), so titles come from here, never from it.
var statuses = [...]struct {
	code  int
	title string
}{
	apperr.KindInternal:             {http.StatusInternalServerError, "Internal Server Error"},
	apperr.KindBadRequest:           {http.StatusBadRequest, "Bad Request"},
	apperr.KindUnauthorized:         {http.StatusUnauthorized, "Unauthorized"},
	apperr.KindForbidden:            {http.StatusForbidden, "Forbidden"},
	apperr.KindNotFound:             {http.StatusNotFound, "Not Found"},
	apperr.KindMethodNotAllowed:     {http.StatusMethodNotAllowed, "Method Not Allowed"},
	apperr.KindConflict:             {http.StatusConflict, "Conflict"},
	apperr.KindGone:                 {http.StatusGone, "Gone"},
	apperr.KindPreconditionFailed:   {http.StatusPreconditionFailed, "Precondition Failed"},
	apperr.KindPayloadTooLarge:      {http.StatusRequestEntityTooLarge, "Content Too Large"},
	apperr.KindUnsupportedMediaType: {http.StatusUnsupportedMediaType, "Unsupported Media Type"},
	apperr.KindValidation:           {http.StatusUnprocessableEntity, "Unprocessable Content"},
	apperr.KindRateLimited:          {http.StatusTooManyRequests, "Too Many Requests"},
	apperr.KindUnavailable:          {http.StatusServiceUnavailable, "Service Unavailable"},
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
	if int(k) < len(statuses) {
		return statuses[k].code
	}
	return http.StatusInternalServerError
}

// Title returns the problem title of an HTTP status: its RFC 9110 reason
// phrase for the statuses of the table above, net/http's for any other.
func Title(status int) string {
	for _, s := range statuses {
		if s.code == status {
			return s.title
		}
	}
	return http.StatusText(status)
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
		Title:     Title(st),
		Status:    st,
		Code:      ae.Code,
		Detail:    ae.Detail,
		Errors:    ae.Fields,
		RequestID: rid,
	})
}
