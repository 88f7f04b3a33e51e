package apitest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"todo/platform/apitest"
)

// recorder is a testing.TB that records Errorf instead of failing, so a test
// can assert that the harness did complain. Everything else goes to the real T.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

const (
	taskJSON = `{"id":42,"user_id":"3f8e2c1a-5b7d-4e9f-a1c3-d5e7f9b2c4a6","title":"Buy milk","description":null,` +
		`"completed":false,"created_at":"2026-03-02T09:41:07.123456Z","updated_at":"2026-03-02T09:41:07.123456Z","completed_at":null}`
	notFoundJSON = `{"type":"about:blank","title":"Not Found","status":404,"code":"not_found","detail":"task not found"}`
)

// reply is a fake handler: it answers every request with status, headers and body.
func reply(status int, body string, kv ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				w.Header()[kv[i]] = nil // present but empty: stops ResponseRecorder sniffing a Content-Type
				continue
			}
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

// A conforming task response, to vary one thing at a time.
var taskHeaders = []string{"Content-Type", "application/json; charset=utf-8", "X-Request-ID", "req-1", "ETag", `"v1"`}

func with(base []string, kv ...string) []string { return append(append([]string(nil), base...), kv...) }

func TestConformingExchangesPass(t *testing.T) {
	problem := []string{"Content-Type", "application/problem+json", "X-Request-ID", "req-1"}
	cases := []struct {
		name    string
		handler http.Handler
		method  string
		path    string
		body    any
		headers http.Header
	}{
		{"get-task/200", reply(200, taskJSON, taskHeaders...), "GET", "/api/v1/tasks/42", nil, apitest.Bearer("t")},
		{"get-task/200/security-headers", reply(200, taskJSON, with(taskHeaders,
			"X-Content-Type-Options", "nosniff", "Cache-Control", "no-store", "Cross-Origin-Resource-Policy", "same-origin")...),
			"GET", "/api/v1/tasks/42", nil, nil},
		{"create-task/201", reply(201, taskJSON, with(taskHeaders, "Location", "/api/v1/tasks/42")...),
			"POST", "/api/v1/tasks", map[string]any{"title": "Buy milk"}, http.Header{"Idempotency-Key": {"k-1"}}},
		{"delete-task/204", reply(204, "", "X-Request-ID", "req-1"), "DELETE", "/api/v1/tasks/42", nil, nil},
		{"get-task/non-numeric/404", reply(404, notFoundJSON, problem...), "GET", "/api/v1/tasks/abc", nil, apitest.Mismatch("a non-numeric id")},
		{"create-task/unknown-field/400 (a marked request mismatch is only logged)",
			reply(400, `{"type":"about:blank","title":"Bad Request","status":400,"code":"bad_request"}`, problem...),
			"POST", "/api/v1/tasks", `{"title":"x","not_a_field":1}`, apitest.Mismatch("an unknown field")},
		{"create-task/may-mismatch-but-matches/201", reply(201, taskJSON, with(taskHeaders, "Location", "/api/v1/tasks/42")...),
			"POST", "/api/v1/tasks", map[string]any{"title": "Buy milk"}, apitest.MayMismatch("generated input")},
		{"create-task/not-json/415", reply(415, `{"type":"about:blank","title":"Unsupported Media Type","status":415,"code":"unsupported_media_type"}`, problem...),
			"POST", "/api/v1/tasks", "title=x", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, apitest.MismatchHeader: {"expected: a form body"}}},
		{"get-me/401", reply(401, `{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthorized"}`,
			with(problem, "WWW-Authenticate", "Bearer")...), "GET", "/api/v1/users/me", nil, nil},
		{"unknown-path/404", reply(404, notFoundJSON, problem...), "GET", "/api/v1/nope", nil, nil},
		{"known-path-wrong-method/405", reply(405, `{"type":"about:blank","title":"Method Not Allowed","status":405,"code":"method_not_allowed"}`,
			with(problem, "Allow", "GET, POST")...), "PUT", "/api/v1/tasks", nil, nil},
		{"healthz/200", reply(200, `{"status":"ok"}`, "Content-Type", "application/json", "X-Request-ID", "req-1"), "GET", "/healthz", nil, nil},
		{"head-task/200 (the body net/http drops is not checked)", reply(200, taskJSON, taskHeaders...), "HEAD", "/api/v1/tasks/42", nil, nil},
		{"head-unknown-path/404", reply(404, notFoundJSON, problem...), "HEAD", "/api/v1/nope", nil, nil},
		{"head-post-only-path/405", reply(405, `{"type":"about:blank","title":"Method Not Allowed","status":405,"code":"method_not_allowed"}`,
			with(problem, "Allow", "POST")...), "HEAD", "/api/v1/auth/login", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := apitest.New(rec, tc.handler)
			var hs []http.Header
			if tc.headers != nil {
				hs = append(hs, tc.headers)
			}
			s.Do(tc.method, tc.path, tc.body, hs...)
			if got := rec.reported(); got != "" {
				t.Errorf("the harness reported a conforming exchange:\n%s", got)
			}
		})
	}
}

func TestViolationsAreReported(t *testing.T) {
	cases := []struct {
		name    string
		handler http.Handler
		method  string
		path    string
		want    string // in the report, case-insensitive
	}{
		{"undocumented-field", reply(200, strings.Replace(taskJSON, `"id":42`, `"id":42,"not_a_field":1`, 1), taskHeaders...),
			"GET", "/api/v1/tasks/42", "not_a_field"},
		{"missing-field", reply(200, strings.Replace(taskJSON, `"completed_at":null`, `"done":null`, 1), taskHeaders...),
			"GET", "/api/v1/tasks/42", "completed_at"},
		{"timestamp-without-microseconds", reply(200, strings.Replace(taskJSON, `07.123456Z","updated`, `07Z","updated`, 1), taskHeaders...),
			"GET", "/api/v1/tasks/42", "created_at"},
		{"undocumented-status", reply(418, `{"type":"about:blank","title":"I'm a teapot","status":418,"code":"internal"}`,
			"Content-Type", "application/problem+json", "X-Request-ID", "req-1"), "GET", "/api/v1/tasks/42", "status is not supported"},
		{"undocumented-header", reply(200, taskJSON, with(taskHeaders, "X-Debug", "1")...),
			"GET", "/api/v1/tasks/42", "X-Debug"},
		{"missing-x-request-id", reply(200, taskJSON, "Content-Type", "application/json", "ETag", `"v1"`),
			"GET", "/api/v1/tasks/42", "X-Request-ID"},
		{"malformed-x-request-id", reply(200, taskJSON, "Content-Type", "application/json", "ETag", `"v1"`, "X-Request-ID", "not valid!"),
			"GET", "/api/v1/tasks/42", "X-Request-ID"},
		{"missing-etag", reply(200, taskJSON, "Content-Type", "application/json", "X-Request-ID", "req-1"),
			"GET", "/api/v1/tasks/42", "ETag"},
		{"wrong-content-type", reply(200, taskJSON, with(taskHeaders, "Content-Type", "text/plain")...),
			"GET", "/api/v1/tasks/42", "text/plain"},
		{"json-error-instead-of-problem", reply(404, notFoundJSON, "Content-Type", "application/json", "X-Request-ID", "req-1"),
			"GET", "/api/v1/tasks/42", "application/json"},
		{"code-not-documented-for-status", reply(404, strings.Replace(notFoundJSON, "not_found", "email_taken", 1),
			"Content-Type", "application/problem+json", "X-Request-ID", "req-1"), "GET", "/api/v1/tasks/42", "/code"},
		{"401-without-www-authenticate", reply(401, `{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthorized"}`,
			"Content-Type", "application/problem+json", "X-Request-ID", "req-1"), "GET", "/api/v1/users/me", "WWW-Authenticate"},
		{"204-with-body", reply(204, `{}`, "X-Request-ID", "req-1", "Content-Type", ""), "DELETE", "/api/v1/tasks/42", "body"},
		{"unknown-path-answered-200", reply(200, `{"status":"ok"}`, "Content-Type", "application/json", "X-Request-ID", "req-1"),
			"GET", "/api/v1/nope", "no operation"},
		{"head-without-etag", reply(200, taskJSON, "Content-Type", "application/json", "X-Request-ID", "req-1"),
			"HEAD", "/api/v1/tasks/42", "ETag"},
		{"head-405-without-allow", reply(405, "", "Content-Type", "application/problem+json", "X-Request-ID", "req-1"),
			"HEAD", "/api/v1/auth/login", "Allow"},
		{"405-without-allow", reply(405, `{"type":"about:blank","title":"Method Not Allowed","status":405,"code":"method_not_allowed"}`,
			"Content-Type", "application/problem+json", "X-Request-ID", "req-1"), "PUT", "/api/v1/tasks", "Allow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := apitest.New(rec, tc.handler)
			s.Do(tc.method, tc.path, nil)
			got := rec.reported()
			if got == "" {
				t.Fatal("the harness reported nothing")
			}
			t.Logf("reported, as it should:\n%s", got)
			if i := strings.LastIndex(got, "\nbody:"); i >= 0 {
				got = got[:i] // the want must be in the violation, not in the echoed body
			}
			if !strings.Contains(strings.ToLower(got), strings.ToLower(tc.want)) {
				t.Errorf("the report does not mention %q:\n%s", tc.want, got)
			}
		})
	}
}

// TestRequestMismatches checks the rule for requests: an unmarked mismatch
// fails, a request marked as a mismatch that matches fails, and the mark
// never reaches the handler.
func TestRequestMismatches(t *testing.T) {
	created := reply(201, taskJSON, with(taskHeaders, "Location", "/api/v1/tasks/42")...)
	badRequest := reply(400, `{"type":"about:blank","title":"Bad Request","status":400,"code":"bad_request"}`,
		"Content-Type", "application/problem+json", "X-Request-ID", "req-1")
	cases := []struct {
		name    string
		handler http.Handler
		path    string
		body    any
		headers http.Header
		want    string // in the report; empty: nothing reported
	}{
		{"unknown-field/unmarked", badRequest, "/api/v1/tasks", `{"title":"x","not_a_field":1}`, nil, "does not match"},
		{"wrong-type/unmarked", badRequest, "/api/v1/tasks", `{"title":1}`, nil, "does not match"},
		{"undocumented-query/unmarked", reply(200, `{"items":[],"next_cursor":null}`, "Content-Type", "application/json", "X-Request-ID", "req-1"),
			"/api/v1/tasks?not_a_param=1", nil, nil, "not_a_param"},
		{"unknown-field/marked", badRequest, "/api/v1/tasks", `{"title":"x","not_a_field":1}`, apitest.Mismatch("unknown field"), ""},
		{"valid/marked", created, "/api/v1/tasks", `{"title":"x"}`, apitest.Mismatch("stale mark"), "matches api/openapi.yaml"},
		{"valid/may", created, "/api/v1/tasks", `{"title":"x"}`, apitest.MayMismatch("fuzz"), ""},
		{"unknown-field/may", badRequest, "/api/v1/tasks", `{"title":"x","not_a_field":1}`, apitest.MayMismatch("fuzz"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			var seen string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = r.Header.Get(apitest.MismatchHeader)
				tc.handler.ServeHTTP(w, r)
			})
			s := apitest.New(rec, h)
			method := http.MethodPost
			if tc.body == nil {
				method = http.MethodGet
			}
			var hs []http.Header
			if tc.headers != nil {
				hs = append(hs, tc.headers)
			}
			s.Do(method, tc.path, tc.body, hs...)
			if seen != "" {
				t.Errorf("the handler saw the mark %q", seen)
			}
			got := rec.reported()
			switch {
			case tc.want == "" && got != "":
				t.Errorf("the harness reported:\n%s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("the report does not mention %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestDo(t *testing.T) {
	var gotCT, gotAuth, gotBody string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotCT, gotAuth = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-ID", "req-1")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Unprocessable Content","status":422,"code":"validation_failed",` +
			`"detail":"title: must not be empty","errors":[{"field":"title","message":"must not be empty"}]}`))
	})
	s := apitest.New(t, h)
	res := s.Do(http.MethodPost, "/api/v1/tasks", map[string]string{"title": ""}, apitest.Bearer("tok"), apitest.Mismatch("an empty title"))
	if gotCT != "application/json" || gotAuth != "Bearer tok" || gotBody != `{"title":""}` {
		t.Errorf("request: Content-Type %q, Authorization %q, body %q", gotCT, gotAuth, gotBody)
	}
	if res.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status: got %d, want 422", res.Status)
	}
	p := res.Problem()
	if p.Code != "validation_failed" || len(p.Errors) != 1 || p.Errors[0].Field != "title" {
		t.Errorf("problem: got %+v", p)
	}

	s.Do(http.MethodPost, "/api/v1/tasks", `{"title":`, http.Header{"Content-Type": nil}, apitest.Mismatch("malformed JSON"))
	if gotCT != "" || gotBody != `{"title":` {
		t.Errorf("raw body without Content-Type: got Content-Type %q, body %q", gotCT, gotBody)
	}
}

// TestConcurrentServers runs exchanges on several servers at once: they share
// one loaded contract, which must be safe for that (run with -race).
func TestConcurrentServers(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint("server-", i), func(t *testing.T) {
			t.Parallel()
			s := apitest.New(t, reply(200, taskJSON, taskHeaders...))
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { s.Do(http.MethodGet, "/api/v1/tasks/42", nil) })
			}
			wg.Wait()
		})
	}
}
