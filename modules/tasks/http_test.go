package tasks

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"todo/platform/apitest"
)

// TestHTTP runs every endpoint and error code over both databases.
func TestHTTP(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, b)
			testCreate(t, e)
			testGet(t, e)
			testList(t, e)
			testUpdate(t, e)
			testToggle(t, e)
			testDelete(t, e)
			testStats(t, e)
			testIdempotency(t, e)
		})
	}
}

// errorCase is one request that must fail with status and code.
type errorCase struct {
	name    string
	method  string
	path    string
	body    any
	headers http.Header
	status  int
	code    string
	field   string // the field errors[] must name, for 422 validation_failed
}

func runErrorCases(t *testing.T, e *testEnv, uid string, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caller := uid
			if tc.headers != nil && tc.headers.Get(testUserHeader) == "-" {
				caller = ""
			}
			h := http.Header{}
			for k, v := range tc.headers {
				if k != testUserHeader {
					h[k] = v
				}
			}
			// Each case is a request sent to get an error, most of them
			// outside the contract on purpose.
			res := e.do(t, caller, tc.method, tc.path, tc.body, h, apitest.MayMismatch("an error case"))
			wantStatus(t, res, tc.status, tc.code)
			if tc.field != "" {
				p := res.Problem()
				found := false
				for _, f := range p.Errors {
					found = found || f.Field == tc.field
				}
				if !found {
					t.Fatalf("errors %v do not name %q", p.Errors, tc.field)
				}
			}
		})
	}
}

var anonymous = http.Header{testUserHeader: {"-"}}

func testCreate(t *testing.T, e *testEnv) {
	uid := e.user(t)
	t.Run("create/ok/201", func(t *testing.T) {
		res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", map[string]any{"title": "  Buy milk \n", "description": "2 l"})
		wantStatus(t, res, http.StatusCreated, "")
		var tk taskJSON
		res.JSON(&tk)
		if tk.Title != "Buy milk" || tk.Description == nil || *tk.Description != "2 l" || tk.Completed || tk.CompletedAt != nil || tk.UserID != uid {
			t.Fatalf("task %+v", tk)
		}
		if got := res.Header.Get("Location"); got != taskPath(tk.ID) {
			t.Fatalf("Location %q", got)
		}
		if res.Header.Get("ETag") == "" || tk.CreatedAt != tk.UpdatedAt || !strings.HasSuffix(tk.CreatedAt, "Z") || len(tk.CreatedAt) != len("2026-01-01T12:00:00.123456Z") {
			t.Fatalf("ETag %q, timestamps %s %s", res.Header.Get("ETag"), tk.CreatedAt, tk.UpdatedAt)
		}
	})
	t.Run("create/200-emoji/201", func(t *testing.T) {
		res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", map[string]any{"title": strings.Repeat("😀", 200), "description": strings.Repeat("é", 1000)})
		wantStatus(t, res, http.StatusCreated, "")
	})
	t.Run("create/empty-description-is-null/201", func(t *testing.T) {
		for _, body := range []string{`{"title":"a","description":""}`, `{"title":"a","description":null}`, `{"title":"a"}`} {
			res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", body)
			wantStatus(t, res, http.StatusCreated, "")
			var tk taskJSON
			res.JSON(&tk)
			if tk.Description != nil {
				t.Fatalf("%s: description %q", body, *tk.Description)
			}
		}
	})
	runErrorCases(t, e, uid, []errorCase{
		{name: "create/no-user/401", method: "POST", path: "/api/v1/tasks", body: map[string]any{"title": "a"}, headers: anonymous, status: 401, code: "unauthorized"},
		{name: "create/too-large/413", method: "POST", path: "/api/v1/tasks", body: `{"title":"` + strings.Repeat("a", 1<<20) + `"}`, status: 413, code: "payload_too_large"},
		{name: "create/text-plain/415", method: "POST", path: "/api/v1/tasks", body: `{"title":"a"}`, headers: http.Header{"Content-Type": {"text/plain"}}, status: 415, code: "unsupported_media_type"},
		{name: "create/malformed/400", method: "POST", path: "/api/v1/tasks", body: `{"title":`, status: 400, code: "bad_request"},
		{name: "create/unknown-field/400", method: "POST", path: "/api/v1/tasks", body: `{"title":"a","x":1}`, status: 400, code: "bad_request"},
		{name: "create/title-number/400", method: "POST", path: "/api/v1/tasks", body: `{"title":5}`, status: 400, code: "bad_request"},
		{name: "create/array/400", method: "POST", path: "/api/v1/tasks", body: `[]`, status: 400, code: "bad_request"},
		{name: "create/empty-title/422", method: "POST", path: "/api/v1/tasks", body: `{"title":"   "}`, status: 422, code: "validation_failed", field: "title"},
		{name: "create/missing-title/422", method: "POST", path: "/api/v1/tasks", body: `{}`, status: 422, code: "validation_failed", field: "title"},
		{name: "create/null-title/422", method: "POST", path: "/api/v1/tasks", body: `{"title":null}`, status: 422, code: "validation_failed", field: "title"},
		{name: "create/201-chars/422", method: "POST", path: "/api/v1/tasks", body: map[string]any{"title": strings.Repeat("a", 201)}, status: 422, code: "validation_failed", field: "title"},
		{name: "create/long-description/422", method: "POST", path: "/api/v1/tasks", body: map[string]any{"title": "a", "description": strings.Repeat("a", 1001)}, status: 422, code: "validation_failed", field: "description"},
		{name: "create/nul-title/422", method: "POST", path: "/api/v1/tasks", body: `{"title":"a\u0000b"}`, status: 422, code: "validation_failed", field: "title"},
		{name: "create/bad-key/422", method: "POST", path: "/api/v1/tasks", body: `{"title":"a"}`, headers: http.Header{"Idempotency-Key": {"has space"}}, status: 422, code: "validation_failed", field: "Idempotency-Key"},
		{name: "create/long-key/422", method: "POST", path: "/api/v1/tasks", body: `{"title":"a"}`, headers: http.Header{"Idempotency-Key": {strings.Repeat("k", 256)}}, status: 422, code: "validation_failed", field: "Idempotency-Key"},
		{name: "create/malformed-beats-bad-key/400", method: "POST", path: "/api/v1/tasks", body: `{"title"`, headers: http.Header{"Idempotency-Key": {"has space"}}, status: 400, code: "bad_request"},
	})
}

func testGet(t *testing.T, e *testEnv) {
	uid := e.user(t)
	tk := e.create(t, uid, "get me")
	t.Run("get/ok/200", func(t *testing.T) {
		res := e.do(t, uid, http.MethodGet, taskPath(tk.ID), nil)
		wantStatus(t, res, http.StatusOK, "")
		var got taskJSON
		res.JSON(&got)
		if got != tk || res.Header.Get("ETag") == "" {
			t.Fatalf("got %+v, want %+v", got, tk)
		}
	})
	runErrorCases(t, e, uid, []errorCase{
		{name: "get/no-user/401", method: "GET", path: taskPath(tk.ID), headers: anonymous, status: 401, code: "unauthorized"},
		{name: "get/missing/404", method: "GET", path: taskPath(tk.ID + 1000), status: 404, code: "not_found"},
		{name: "get/non-numeric/404", method: "GET", path: "/api/v1/tasks/abc", status: 404, code: "not_found"},
		{name: "get/zero/404", method: "GET", path: "/api/v1/tasks/0", status: 404, code: "not_found"},
		{name: "get/negative/404", method: "GET", path: "/api/v1/tasks/-1", status: 404, code: "not_found"},
		{name: "get/overflow/404", method: "GET", path: "/api/v1/tasks/9223372036854775808", status: 404, code: "not_found"},
		{name: "get/max-int64/404", method: "GET", path: "/api/v1/tasks/9223372036854775807", status: 404, code: "not_found"},
	})
}

func testList(t *testing.T, e *testEnv) {
	uid := e.user(t)
	var ids []int64
	for i := range 5 {
		ids = append(ids, e.create(t, uid, "t"+string(rune('a'+i))).ID)
	}
	e.do(t, uid, http.MethodPost, taskPath(ids[1])+"/toggle", nil)
	time.Sleep(2 * time.Millisecond)
	e.do(t, uid, http.MethodPost, taskPath(ids[0])+"/toggle", nil)
	list := func(t *testing.T, query string) listJSON {
		res := e.do(t, uid, http.MethodGet, "/api/v1/tasks"+query, nil)
		wantStatus(t, res, http.StatusOK, "")
		var l listJSON
		res.JSON(&l)
		return l
	}
	idsOf := func(l listJSON) []int64 {
		out := []int64{}
		for _, it := range l.Items {
			out = append(out, it.ID)
		}
		return out
	}
	t.Run("list/orders/200", func(t *testing.T) {
		cases := []struct {
			query string
			want  []int64
		}{
			{"", []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"?status=all", []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"?status=pending", []int64{ids[4], ids[3], ids[2]}},
			{"?status=completed", []int64{ids[0], ids[1]}}, // newest completed_at first
		}
		for _, tc := range cases {
			l := list(t, tc.query)
			if got := idsOf(l); !equalIDs(got, tc.want) || l.NextCursor != nil {
				t.Fatalf("%q: got %v (next %v), want %v", tc.query, got, l.NextCursor, tc.want)
			}
		}
	})
	t.Run("list/pages/200", func(t *testing.T) {
		for _, st := range []string{"all", "pending", "completed"} {
			full := idsOf(list(t, "?status="+st))
			var got []int64
			q := "?status=" + st + "&limit=2"
			for range 10 {
				l := list(t, q)
				got = append(got, idsOf(l)...)
				if l.NextCursor == nil {
					break
				}
				q = "?status=" + st + "&limit=2&cursor=" + *l.NextCursor
			}
			if !equalIDs(got, full) {
				t.Fatalf("%s: paged %v, want %v", st, got, full)
			}
		}
	})
	t.Run("list/empty/200", func(t *testing.T) {
		other := e.user(t)
		res := e.do(t, other, http.MethodGet, "/api/v1/tasks", nil)
		if string(res.Body) != `{"items":[],"next_cursor":null}` {
			t.Fatalf("body %s", res.Body)
		}
	})
	first := list(t, "?limit=1")
	cur := *first.NextCursor
	foreign := e.user(t)
	runErrorCases(t, e, uid, []errorCase{
		{name: "list/no-user/401", method: "GET", path: "/api/v1/tasks", headers: anonymous, status: 401, code: "unauthorized"},
		{name: "list/limit-abc/422", method: "GET", path: "/api/v1/tasks?limit=abc", status: 422, code: "validation_failed", field: "limit"},
		{name: "list/limit-0/422", method: "GET", path: "/api/v1/tasks?limit=0", status: 422, code: "validation_failed", field: "limit"},
		{name: "list/limit-101/422", method: "GET", path: "/api/v1/tasks?limit=101", status: 422, code: "validation_failed", field: "limit"},
		{name: "list/status-x/422", method: "GET", path: "/api/v1/tasks?status=x", status: 422, code: "validation_failed", field: "status"},
		{name: "list/malformed-query/400", method: "GET", path: "/api/v1/tasks?limit=%zz", status: 400, code: "bad_request"},
		{name: "list/malformed-query-after-valid/400", method: "GET", path: "/api/v1/tasks?status=all&x=%2", status: 400, code: "bad_request"},
		{name: "list/garbage-cursor/400", method: "GET", path: "/api/v1/tasks?cursor=abc", status: 400, code: "bad_request"},
		{name: "list/truncated-cursor/400", method: "GET", path: "/api/v1/tasks?cursor=" + cur[:len(cur)-3], status: 400, code: "bad_request"},
		{name: "list/tampered-cursor/400", method: "GET", path: "/api/v1/tasks?cursor=" + tamper(cur), status: 400, code: "bad_request"},
		{name: "list/other-status-cursor/400", method: "GET", path: "/api/v1/tasks?status=pending&cursor=" + cur, status: 400, code: "bad_request"},
		{name: "list/bad-cursor-beats-bad-limit/400", method: "GET", path: "/api/v1/tasks?limit=0&cursor=abc", status: 400, code: "bad_request"},
	})
	t.Run("list/foreign-user-cursor/400", func(t *testing.T) {
		wantStatus(t, e.do(t, foreign, http.MethodGet, "/api/v1/tasks?cursor="+cur, nil), 400, "bad_request")
	})
}

func tamper(tok string) string {
	b := []byte(tok)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testUpdate(t *testing.T, e *testEnv) {
	uid := e.user(t)
	tk := e.create(t, uid, "patch me")
	get := func(t *testing.T) (taskJSON, string) {
		res := e.do(t, uid, http.MethodGet, taskPath(tk.ID), nil)
		var got taskJSON
		res.JSON(&got)
		return got, res.Header.Get("ETag")
	}
	t.Run("update/noop/200", func(t *testing.T) {
		before, tag := get(t)
		for _, body := range []string{`{}`, `{"title":"patch me"}`, `{"title":" patch me "}`, `{"completed":false}`, `{"description":null}`, `{"description":""}`} {
			res := e.do(t, uid, http.MethodPatch, taskPath(tk.ID), body)
			wantStatus(t, res, http.StatusOK, "")
			var got taskJSON
			res.JSON(&got)
			if got != before || res.Header.Get("ETag") != tag {
				t.Fatalf("%s moved the task: %+v → %+v", body, before, got)
			}
		}
	})
	t.Run("update/fields/200", func(t *testing.T) {
		before, tag := get(t)
		res := e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"title":"new","description":"d","completed":true}`, http.Header{"If-Match": {tag}})
		wantStatus(t, res, http.StatusOK, "")
		var got taskJSON
		res.JSON(&got)
		if got.Title != "new" || *got.Description != "d" || !got.Completed || got.CompletedAt == nil || *got.CompletedAt != got.UpdatedAt ||
			got.UpdatedAt <= before.UpdatedAt || got.CreatedAt != before.CreatedAt || res.Header.Get("ETag") == tag {
			t.Fatalf("got %+v", got)
		}
		again := e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"completed":true,"title":"newer"}`)
		var got2 taskJSON
		again.JSON(&got2)
		if *got2.CompletedAt != *got.CompletedAt {
			t.Fatalf("completing again moved completed_at: %s → %s", *got.CompletedAt, *got2.CompletedAt)
		}
		res = e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"completed":false,"description":null}`)
		res.JSON(&got)
		if got.Completed || got.CompletedAt != nil || got.Description != nil {
			t.Fatalf("reopen: %+v", got)
		}
	})
	_, tag := get(t)
	big := `{"title":"` + strings.Repeat("a", 1<<20) + `"}`
	runErrorCases(t, e, uid, []errorCase{
		{name: "update/no-user/401", method: "PATCH", path: taskPath(tk.ID), body: `{}`, headers: anonymous, status: 401, code: "unauthorized"},
		{name: "update/too-large/413", method: "PATCH", path: taskPath(tk.ID), body: big, status: 413, code: "payload_too_large"},
		{name: "update/text-plain/415", method: "PATCH", path: taskPath(tk.ID), body: `{}`, headers: http.Header{"Content-Type": {"text/plain"}}, status: 415, code: "unsupported_media_type"},
		{name: "update/completed-string/400", method: "PATCH", path: taskPath(tk.ID), body: `{"completed":"true"}`, status: 400, code: "bad_request"},
		{name: "update/unknown-field/400", method: "PATCH", path: taskPath(tk.ID), body: `{"done":true}`, status: 400, code: "bad_request"},
		{name: "update/malformed-beats-bad-id/400", method: "PATCH", path: "/api/v1/tasks/abc", body: `{"title":`, status: 400, code: "bad_request"},
		{name: "update/bad-id/404", method: "PATCH", path: "/api/v1/tasks/abc", body: `{"title":"x"}`, status: 404, code: "not_found"},
		{name: "update/missing/404", method: "PATCH", path: taskPath(tk.ID + 1000), body: `{"title":""}`, status: 404, code: "not_found"},
		{name: "update/stale-if-match/412", method: "PATCH", path: taskPath(tk.ID), body: `{"title":"x"}`, headers: http.Header{"If-Match": {`"stale"`}}, status: 412, code: "precondition_failed"},
		{name: "update/weak-if-match/412", method: "PATCH", path: taskPath(tk.ID), body: `{"title":"x"}`, headers: http.Header{"If-Match": {"W/" + tag}}, status: 412, code: "precondition_failed"},
		{name: "update/412-beats-422/412", method: "PATCH", path: taskPath(tk.ID), body: `{"title":""}`, headers: http.Header{"If-Match": {`"stale"`}}, status: 412, code: "precondition_failed"},
		{name: "update/404-beats-412/404", method: "PATCH", path: taskPath(tk.ID + 1000), body: `{"title":"x"}`, headers: http.Header{"If-Match": {`"stale"`}}, status: 404, code: "not_found"},
		{name: "update/null-title/422", method: "PATCH", path: taskPath(tk.ID), body: `{"title":null}`, status: 422, code: "validation_failed", field: "title"},
		{name: "update/empty-title/422", method: "PATCH", path: taskPath(tk.ID), body: `{"title":" "}`, status: 422, code: "validation_failed", field: "title"},
		{name: "update/null-completed/422", method: "PATCH", path: taskPath(tk.ID), body: `{"completed":null}`, status: 422, code: "validation_failed", field: "completed"},
		{name: "update/long-description/422", method: "PATCH", path: taskPath(tk.ID), body: map[string]any{"description": strings.Repeat("a", 1001)}, headers: http.Header{"If-Match": {tag}}, status: 422, code: "validation_failed", field: "description"},
	})
	t.Run("update/failures-changed-nothing", func(t *testing.T) {
		if _, now := get(t); now != tag {
			t.Fatalf("a failed PATCH changed the task: %s → %s", tag, now)
		}
	})
	t.Run("update/if-match-list-and-star/200", func(t *testing.T) {
		res := e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"title":"listed"}`, http.Header{"If-Match": {`"nope", ` + tag}})
		wantStatus(t, res, http.StatusOK, "")
		res = e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"title":"star"}`, http.Header{"If-Match": {"*"}})
		wantStatus(t, res, http.StatusOK, "")
		res = e.do(t, uid, http.MethodPatch, taskPath(tk.ID), `{"title":"stale"}`, http.Header{"If-Match": {tag}})
		wantStatus(t, res, http.StatusPreconditionFailed, "precondition_failed")
	})
}

func testToggle(t *testing.T, e *testEnv) {
	uid := e.user(t)
	tk := e.create(t, uid, "toggle me")
	var done taskJSON
	t.Run("toggle/complete/200", func(t *testing.T) {
		res := e.do(t, uid, http.MethodPost, taskPath(tk.ID)+"/toggle", nil)
		wantStatus(t, res, http.StatusOK, "")
		res.JSON(&done)
		if !done.Completed || done.CompletedAt == nil || *done.CompletedAt != done.UpdatedAt || done.CreatedAt != tk.CreatedAt {
			t.Fatalf("got %+v", done)
		}
		if res.Header.Get("ETag") == "" {
			t.Fatal("no ETag")
		}
	})
	t.Run("toggle/reopen-with-if-match/200", func(t *testing.T) {
		tag := e.do(t, uid, http.MethodGet, taskPath(tk.ID), nil).Header.Get("ETag")
		res := e.do(t, uid, http.MethodPost, taskPath(tk.ID)+"/toggle", nil, http.Header{"If-Match": {tag}})
		wantStatus(t, res, http.StatusOK, "")
		var got taskJSON
		res.JSON(&got)
		if got.Completed || got.CompletedAt != nil || got.UpdatedAt <= done.UpdatedAt {
			t.Fatalf("got %+v", got)
		}
		wantStatus(t, e.do(t, uid, http.MethodPost, taskPath(tk.ID)+"/toggle", nil, http.Header{"If-Match": {tag}}), 412, "precondition_failed")
	})
	runErrorCases(t, e, uid, []errorCase{
		{name: "toggle/no-user/401", method: "POST", path: taskPath(tk.ID) + "/toggle", headers: anonymous, status: 401, code: "unauthorized"},
		{name: "toggle/missing/404", method: "POST", path: taskPath(tk.ID+1000) + "/toggle", status: 404, code: "not_found"},
		{name: "toggle/missing-with-if-match/404", method: "POST", path: taskPath(tk.ID+1000) + "/toggle", headers: http.Header{"If-Match": {"*"}}, status: 404, code: "not_found"},
		{name: "toggle/bad-id/404", method: "POST", path: "/api/v1/tasks/1x/toggle", status: 404, code: "not_found"},
		{name: "toggle/stale/412", method: "POST", path: taskPath(tk.ID) + "/toggle", headers: http.Header{"If-Match": {`"stale"`}}, status: 412, code: "precondition_failed"},
	})
}

func testDelete(t *testing.T, e *testEnv) {
	uid := e.user(t)
	a := e.create(t, uid, "a")
	b := e.create(t, uid, "b")
	runErrorCases(t, e, uid, []errorCase{
		{name: "delete/no-user/401", method: "DELETE", path: taskPath(a.ID), headers: anonymous, status: 401, code: "unauthorized"},
		{name: "delete/bad-id/404", method: "DELETE", path: "/api/v1/tasks/x", status: 404, code: "not_found"},
		{name: "delete/missing/404", method: "DELETE", path: taskPath(a.ID + 1000), status: 404, code: "not_found"},
		{name: "delete/stale/412", method: "DELETE", path: taskPath(b.ID), headers: http.Header{"If-Match": {`"stale"`}}, status: 412, code: "precondition_failed"},
	})
	t.Run("delete/ok/204", func(t *testing.T) {
		res := e.do(t, uid, http.MethodDelete, taskPath(a.ID), nil)
		wantStatus(t, res, http.StatusNoContent, "")
		if len(res.Body) != 0 {
			t.Fatalf("body %q", res.Body)
		}
		wantStatus(t, e.do(t, uid, http.MethodGet, taskPath(a.ID), nil), 404, "not_found")
		wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(a.ID), nil), 404, "not_found")
	})
	t.Run("delete/if-match/204", func(t *testing.T) {
		tag := e.do(t, uid, http.MethodGet, taskPath(b.ID), nil).Header.Get("ETag")
		wantStatus(t, e.do(t, uid, http.MethodDelete, taskPath(b.ID), nil, http.Header{"If-Match": {tag}}), 204, "")
	})
}

func testStats(t *testing.T, e *testEnv) {
	uid := e.user(t)
	t.Run("stats/empty/200", func(t *testing.T) {
		res := e.do(t, uid, http.MethodGet, "/api/v1/tasks/stats", nil)
		if string(res.Body) != `{"total":0,"pending":0,"completed":0}` {
			t.Fatalf("body %s", res.Body)
		}
	})
	t.Run("stats/counts/200", func(t *testing.T) {
		for range 3 {
			tk := e.create(t, uid, "x")
			e.do(t, uid, http.MethodPost, taskPath(tk.ID)+"/toggle", nil)
		}
		e.create(t, uid, "y")
		e.create(t, e.user(t), "someone else's")
		res := e.do(t, uid, http.MethodGet, "/api/v1/tasks/stats", nil)
		if string(res.Body) != `{"total":4,"pending":1,"completed":3}` {
			t.Fatalf("body %s", res.Body)
		}
	})
	runErrorCases(t, e, uid, []errorCase{
		{name: "stats/no-user/401", method: "GET", path: "/api/v1/tasks/stats", headers: anonymous, status: 401, code: "unauthorized"},
	})
}

func testIdempotency(t *testing.T, e *testEnv) {
	uid := e.user(t)
	key := http.Header{"Idempotency-Key": {"key-1"}}
	first := e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"once"}`, key)
	wantStatus(t, first, http.StatusCreated, "")
	t.Run("idempotency/replay/201", func(t *testing.T) {
		again := e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{ "title" : "once" }`, key)
		wantStatus(t, again, http.StatusCreated, "")
		if string(again.Body) != string(first.Body) || again.Header.Get("Location") != first.Header.Get("Location") ||
			again.Header.Get("ETag") != first.Header.Get("ETag") {
			t.Fatalf("replay differs:\n%s %v\n%s %v", first.Body, first.Header, again.Body, again.Header)
		}
		if n := e.count(t, uid); n != 1 {
			t.Fatalf("%d tasks, want 1", n)
		}
	})
	t.Run("idempotency/other-body/422", func(t *testing.T) {
		wantStatus(t, e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"twice"}`, key), 422, "idempotency_key_reused")
	})
	t.Run("idempotency/every-field/422", func(t *testing.T) {
		// Every field of the create request, whatever it is, is part of
		// the request the key stands for: the same key with another value
		// of any one field is the contract's 422, not a replay.
		rt := reflect.TypeFor[createTaskRequest]()
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			a, b := sampleValues(t, f.Type)
			variants := []struct {
				label string
				first any // the field's value in the first request; nil: absent
				then  any
			}{
				{"value/value", a, b},
				{"value/null", a, json.RawMessage("null")},
				{"absent/value", nil, b},
			}
			for _, v := range variants {
				body := func(x any) map[string]any {
					m := map[string]any{"title": "same"}
					if x != nil {
						m[name] = x
					} else if name == "title" {
						delete(m, name)
					}
					return m
				}
				if name == "title" && v.first == nil {
					continue // a create without a title is a 422 of its own
				}
				k := http.Header{"Idempotency-Key": {"field-" + name + "-" + v.label}}
				wantStatus(t, e.do(t, uid, http.MethodPost, "/api/v1/tasks", body(v.first), k), http.StatusCreated, "")
				before := e.count(t, uid)
				var mark http.Header
				if _, null := v.then.(json.RawMessage); null && name == "title" {
					mark = apitest.Mismatch("a null title")
				}
				res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", body(v.then), k, mark)
				if res.Status == http.StatusUnprocessableEntity && res.Problem().Code == "validation_failed" {
					continue // the second body is invalid on its own (a null title): not a replay either
				}
				if res.Status != http.StatusUnprocessableEntity || res.Problem().Code != "idempotency_key_reused" {
					t.Errorf("%s %s: status %d, body %s; want 422 idempotency_key_reused", name, v.label, res.Status, res.Body)
				}
				if n := e.count(t, uid); n != before {
					t.Errorf("%s %s: %d tasks after the refused request, want %d", name, v.label, n, before)
				}
			}
		}
	})
	t.Run("idempotency/legacy-hash/replay", func(t *testing.T) {
		// A key recorded by the version that hashed field by field is
		// still replayed for the same request.
		k := http.Header{"Idempotency-Key": {"legacy"}}
		body := `{"title":"old","description":"d"}`
		res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", body, k)
		wantStatus(t, res, http.StatusCreated, "")
		var req createTaskRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		legacy := legacyRequestHash("POST /api/v1/tasks", req)
		if _, err := e.db.Ent.ExecContext(t.Context(), `UPDATE "idempotency_keys" SET "request_hash" = $1 WHERE "key" = 'legacy'`, legacy); err != nil {
			t.Fatal(err)
		}
		again := e.do(t, uid, http.MethodPost, "/api/v1/tasks", body, k)
		wantStatus(t, again, http.StatusCreated, "")
		if string(again.Body) != string(res.Body) {
			t.Fatalf("not replayed:\n%s\n%s", res.Body, again.Body)
		}
		wantStatus(t, e.do(t, uid, http.MethodPost, "/api/v1/tasks", `{"title":"old"}`, k), 422, "idempotency_key_reused")
	})
	t.Run("idempotency/other-user/201", func(t *testing.T) {
		other := e.user(t)
		res := e.do(t, other, http.MethodPost, "/api/v1/tasks", `{"title":"once"}`, key)
		wantStatus(t, res, http.StatusCreated, "")
		if string(res.Body) == string(first.Body) {
			t.Fatal("another user got the first user's response")
		}
	})
}

// count returns how many tasks the user has, read straight from the database.
func (e *testEnv) count(t testing.TB, uid string) int {
	t.Helper()
	n, err := e.db.Ent.Task.Query().Where(taskUser(uid)).Count(t.Context())
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// sampleValues returns two different valid JSON values for a request field
// of type typ (an httpx.Optional of some type).
func sampleValues(t *testing.T, typ reflect.Type) (any, any) {
	t.Helper()
	v, ok := typ.FieldByName("Value")
	if !ok {
		t.Fatalf("request field of type %s is not an httpx.Optional", typ)
	}
	switch {
	case v.Type == reflect.TypeFor[time.Time]():
		return "2026-01-02T03:04:05.000000Z", "2026-01-02T03:04:06.000000Z"
	case v.Type.Kind() == reflect.String:
		return "a", "b"
	case v.Type.Kind() == reflect.Bool:
		return true, false
	case v.Type.Kind() >= reflect.Int && v.Type.Kind() <= reflect.Float64:
		return 1, 2
	}
	t.Fatalf("no sample values for %s: add them to sampleValues", v.Type)
	return nil, nil
}
