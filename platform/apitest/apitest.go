// Package apitest is the harness for HTTP-level tests: it serves a handler
// with httptest and holds every exchange to the contract in api/openapi.yaml.
//
// Each response is validated against the operation its request resolves to:
// a status the operation does not document, a body that breaks its schema, a
// wrong Content-Type, a missing documented header or an undocumented one all
// fail the test. A request that matches no operation must get a 404 or 405
// problem. Requests to an operation are validated too: a request the
// contract does not describe fails the test as well, unless the test marks it deliberate with
// the header Mismatch returns (it must then be a mismatch) or MayMismatch
// (for generated input, which may or may not be one). The harness removes
// the mark before the handler sees the request.
//
//	s := apitest.New(t, newHandler(cfg, db, log))
//	res := s.Do(http.MethodPost, "/api/v1/tasks", map[string]any{"title": "Buy milk"}, apitest.Bearer(token))
//	if res.Status != http.StatusCreated { … }
//	var task struct{ ID int64 `json:"id"` }
//	res.JSON(&task)
package apitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// MismatchHeader is the request header that marks a request as deliberately
// outside the contract; the harness strips it. Its value starts with
// "expected:" (Mismatch) or "allowed:" (MayMismatch), then says why.
const MismatchHeader = "Apitest-Mismatch"

// Mismatch marks a request the test sends outside the contract on purpose
// (a malformed body, a field the contract forbids, a wrong type), for Do or
// any client: the harness then logs the mismatch instead of failing, and
// fails if the request turns out to match the contract after all, so that a
// rule the server enforces but the document lacks is noticed.
func Mismatch(why string) http.Header {
	return http.Header{MismatchHeader: {"expected: " + why}}
}

// MayMismatch marks a request that may or may not match the contract, such
// as a fuzzer's: a mismatch is logged, a match is fine.
func MayMismatch(why string) http.Header {
	return http.Header{MismatchHeader: {"allowed: " + why}}
}

// Server is a test server whose every exchange is checked against the contract.
type Server struct {
	// URL is the server's base URL, "http://127.0.0.1:port".
	URL string

	t      testing.TB
	h      http.Handler
	c      *contract
	client *http.Client
}

// New serves h on a fresh httptest server, closed when the test ends. Every
// request to it, from Do or any other client, is checked against the contract
// and a violating response is reported with t.Errorf.
func New(t testing.TB, h http.Handler) *Server {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	s := &Server{t: t, h: h, c: c}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	client := *srv.Client()
	// A redirect is an answer the test should see, not follow.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = &client
	return s
}

// Client returns an HTTP client for the server that does not follow redirects.
func (s *Server) Client() *http.Client { return s.client }

// serve runs the handler into a recorder, checks the exchange, then sends the
// response on. The check ends before the client sees the response, so a
// violation is reported before Do returns.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reqBody, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("apitest: %s %s: read request body: %v", r.Method, r.URL.RequestURI(), err)
		return
	}
	mark := r.Header.Get(MismatchHeader)
	r.Header.Del(MismatchHeader)
	probe := r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))

	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	res := rec.Result()
	body := rec.Body.Bytes()
	checked := body
	if r.Method == http.MethodHead {
		// net/http drops the body a handler writes for a HEAD, from the
		// response sent on below too, setting the Content-Length it had.
		checked = nil
	}

	violations, routed, mismatch := s.c.check(r.Context(), exchange{
		req: probe, reqBody: reqBody, status: res.StatusCode, header: res.Header, body: checked,
	})
	switch {
	case mismatch != nil && mark == "" && routed:
		s.t.Errorf("apitest: %s %s: the request does not match api/openapi.yaml (document it, or mark a deliberate one with apitest.Mismatch): %v\nrequest body: %s",
			r.Method, r.URL.RequestURI(), mismatch, snippet(reqBody))
	case mismatch != nil:
		why := mark
		if why == "" {
			why = "no operation: its answer must be a 404 or 405 problem"
		}
		s.t.Logf("apitest: %s %s: the request does not match the contract (%s): %v",
			r.Method, r.URL.RequestURI(), why, mismatch)
	case strings.HasPrefix(mark, "expected:") && routed:
		s.t.Errorf("apitest: %s %s: the request is marked as a deliberate mismatch (%s) but matches api/openapi.yaml: the document lacks a rule, or the mark is stale",
			r.Method, r.URL.RequestURI(), mark)
	}
	if len(violations) > 0 {
		s.t.Errorf("apitest: %s %s → %d: the response violates api/openapi.yaml:\n\t%s\nbody: %s",
			r.Method, r.URL.RequestURI(), res.StatusCode, strings.Join(violations, "\n\t"), snippet(checked))
	}

	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}

func snippet(b []byte) string {
	const limit = 512
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
