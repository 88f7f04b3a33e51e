package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"testing"
)

// Response is what the server answered to Do.
type Response struct {
	Status int
	Header http.Header
	Body   []byte

	t testing.TB
}

// Problem is an RFC 9457 problem as the contract defines it.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Detail    string       `json:"detail"`
	Errors    []FieldError `json:"errors"`
	Instance  string       `json:"instance"`
	RequestID string       `json:"request_id"`
}

// FieldError names one field of a 422 validation_failed and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Bearer returns the Authorization header for an access token, for Do.
func Bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Do sends a request to path (which may carry a query) and returns the
// response; the exchange is checked against the contract on the way.
//
// body is sent as is when it is a []byte or a string (to send malformed JSON
// on purpose), else as its JSON encoding; nil sends no body. A body gets
// Content-Type: application/json unless headers set one; a Content-Type key
// with no value sends none. headers are merged in order.
func (s *Server) Do(method, path string, body any, headers ...http.Header) *Response {
	s.t.Helper()
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	case string:
		payload = []byte(b)
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			s.t.Fatalf("apitest: encode request body: %v", err)
		}
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.URL+path, rd)
	if err != nil {
		s.t.Fatalf("apitest: new request %s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		for k, v := range h {
			req.Header.Del(k)
			for _, vv := range v {
				if vv != "" {
					req.Header.Add(k, vv)
				}
			}
		}
	}

	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("apitest: %s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("apitest: %s %s: read response body: %v", method, path, err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: resBody, t: s.t}
}

// JSON decodes the body, which must be application/json, into v, failing the
// test if it cannot. Call it from the test's goroutine.
func (r *Response) JSON(v any) {
	r.t.Helper()
	r.decode("application/json", v)
}

// Problem decodes the body, which must be application/problem+json, failing
// the test if it cannot. Call it from the test's goroutine.
func (r *Response) Problem() Problem {
	r.t.Helper()
	var p Problem
	r.decode("application/problem+json", &p)
	return p
}

func (r *Response) decode(want string, v any) {
	r.t.Helper()
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != want {
		r.t.Fatalf("apitest: response Content-Type is %q, want %s; status %d, body: %s", ct, want, r.Status, snippet(r.Body))
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("apitest: decode %s response: %v; body: %s", want, err, snippet(r.Body))
	}
}
