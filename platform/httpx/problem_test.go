package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"todo/platform/apperr"
	"todo/platform/database"
)

func TestProblemOf(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCode  string
		wantKnown bool
	}{
		{"apperr/wrapped", fmt.Errorf("get task: %w", apperr.ErrNotFound), "not_found", true},
		{"database/pool-timeout", fmt.Errorf("select: %w", database.ErrPoolTimeout), "unavailable", true},
		{"database/refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "unavailable", true},
		{"context/canceled", context.Canceled, "unavailable", true},
		{"other", errors.New("nil pointer somewhere"), "internal", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ae, known := ProblemOf(tc.err)
			if ae.Code != tc.wantCode || known != tc.wantKnown {
				t.Errorf("ProblemOf(%v): got %q known=%v, want %q known=%v", tc.err, ae.Code, known, tc.wantCode, tc.wantKnown)
			}
		})
	}
}

func TestStatusOfUnknownKind(t *testing.T) {
	if got, want := Status(apperr.Kind(200)), http.StatusInternalServerError; got != want {
		t.Errorf("Status(200): got %d, want %d", got, want)
	}
}

// TestWriteErrorUnavailable: a database that does not answer is a 503
// problem with Retry-After, and its cause stays out of the body.
func TestWriteErrorUnavailable(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodGet, "/api/v1/tasks", nil)
	c.Set(loggerKey, slog.New(slog.DiscardHandler))
	WriteError(c, fmt.Errorf("select tasks: %w", &secretErr{database.ErrPoolTimeout}))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status: got %d, want 503", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After: got %q, want \"2\"", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type: got %q, want application/problem+json", got)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if p.Code != "unavailable" || p.Status != http.StatusServiceUnavailable {
		t.Errorf("problem: got code %q status %d, want unavailable 503", p.Code, p.Status)
	}
	if s := rec.Body.String(); strings.Contains(s, "10.0.0.7") {
		t.Errorf("body leaks the cause: %s", s)
	}
}

// secretErr is a cause whose text must not reach the client.
type secretErr struct{ err error }

func (e *secretErr) Error() string { return "dial 10.0.0.7:5432: " + e.err.Error() }
func (e *secretErr) Unwrap() error { return e.err }

// TestTitles: every problem's title is its status's reason phrase as RFC 9110
// words it, also where net/http's StatusText still has RFC 7231's.
func TestTitles(t *testing.T) {
	for _, tc := range []struct {
		kind   apperr.Kind
		status int
		title  string
	}{
		{apperr.KindBadRequest, 400, "Bad Request"},
		{apperr.KindUnauthorized, 401, "Unauthorized"},
		{apperr.KindForbidden, 403, "Forbidden"},
		{apperr.KindNotFound, 404, "Not Found"},
		{apperr.KindMethodNotAllowed, 405, "Method Not Allowed"},
		{apperr.KindConflict, 409, "Conflict"},
		{apperr.KindGone, 410, "Gone"},
		{apperr.KindPreconditionFailed, 412, "Precondition Failed"},
		{apperr.KindPayloadTooLarge, 413, "Content Too Large"},
		{apperr.KindUnsupportedMediaType, 415, "Unsupported Media Type"},
		{apperr.KindValidation, 422, "Unprocessable Content"},
		{apperr.KindRateLimited, 429, "Too Many Requests"},
		{apperr.KindInternal, 500, "Internal Server Error"},
		{apperr.KindUnavailable, 503, "Service Unavailable"},
	} {
		t.Run(tc.title, func(t *testing.T) {
			if got := Status(tc.kind); got != tc.status {
				t.Fatalf("Status: got %d, want %d", got, tc.status)
			}
			if got := Title(tc.status); got != tc.title {
				t.Errorf("Title(%d): got %q, want %q", tc.status, got, tc.title)
			}
			gin.SetMode(gin.ReleaseMode)
			rec := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(rec)
			c.Request = httptest.NewRequest(http.MethodGet, "/x", nil)
			c.Set(loggerKey, slog.New(slog.DiscardHandler))
			WriteError(c, apperr.New(tc.kind, "some_code", "detail"))
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if rec.Code != tc.status || p.Status != tc.status || p.Title != tc.title {
				t.Errorf("WriteError: got %d %d %q, want %d %q", rec.Code, p.Status, p.Title, tc.status, tc.title)
			}
		})
	}
	// A status outside the table falls back to net/http's phrase.
	if got := Title(http.StatusTeapot); got != "I'm a teapot" {
		t.Errorf("Title(418): got %q", got)
	}
}
