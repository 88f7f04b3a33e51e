package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/apperr"
	"todo/platform/config"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

// fzCodes are the problem codes of API.md by status.
var fzCodes = map[string]int{
	"bad_request": 400, "unauthorized": 401, "not_found": 404, "method_not_allowed": 405,
	"idempotency_in_progress": 409, "sync_token_expired": 410, "precondition_failed": 412, "payload_too_large": 413,
	"unsupported_media_type": 415, "validation_failed": 422, "idempotency_key_reused": 422,
	"unavailable": 503,
}

// fzTasks is the module on a fresh SQLite database behind the shared
// engine; X-Fuzz-User names the caller. It returns the handler, a user and
// a task of that user with its ETag, a list cursor and a sync token.
func fzTasks(f *testing.F) (h http.Handler, uid string, id int64, etag, cursor, since string) {
	db := dbtest.NewSQLite(f)
	u, err := db.Ent.User.Create().SetEmail("fuzz@example.com").SetName("Fuzz").SetHashedPassword("x").Save(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e, err := httpx.NewEngine(config.HTTP{}, log, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	m := New(Deps{DB: db.Ent, Dialect: db.Dialect, Secret: []byte("fuzz-secret-fuzz-secret-fuzz-secret"), Log: log, Now: time.Now, Binder: httpx.NewBinder(),
		Config: config.Tasks{IdempotencyTTL: time.Hour}})
	m.Routes(e.Group("/api/v1"), func(c *gin.Context) {
		httpx.SetPrincipal(c, httpx.Principal{UserID: c.GetHeader("X-Fuzz-User"), SessionID: "fuzz"})
		c.Next()
	})
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Fuzz-User", u.ID)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		rec := do("POST", "/api/v1/tasks", fmt.Sprintf(`{"title":"seed %d"}`, i))
		var tk struct{ ID int64 }
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &tk) != nil {
			f.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		id, etag = tk.ID, rec.Header().Get("ETag")
	}
	rec := do("GET", "/api/v1/tasks?limit=1", "")
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &page) != nil || page.NextCursor == nil {
		f.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	rec = do("GET", "/api/v1/tasks/changes?limit=1", "")
	var feed struct {
		NextToken string `json:"next_token"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &feed) != nil || feed.NextToken == "" {
		f.Fatalf("changes: %d %s", rec.Code, rec.Body)
	}
	return e, u.ID, id, etag, *page.NextCursor, feed.NextToken
}

// FuzzTasksHTTP sends any body, query, id, If-Match and Idempotency-Key to
// any of the module's endpoints on SQLite: no input is a 500 or a panic,
// and every rejection is problem+json with a contract code.
func FuzzTasksHTTP(f *testing.F) {
	h, uid, id, etag, cursor, since := fzTasks(f)
	sid := strconv.FormatInt(id, 10)
	seeds := []struct {
		op                      uint8
		id, query, body, im, ik string
	}{
		{0, "", "status=pending&limit=2", "", "", ""},
		{0, "", "cursor=" + cursor, "", "", ""},
		{0, "", "cursor=" + cursor + "&status=completed", "", "", ""},
		{0, "", "cursor=" + cursor[:len(cursor)-1] + "A", "", "", ""},
		{0, "", "limit=abc&status=x&cursor=!!", "", "", ""},
		{0, "", "limit=0", "", "", ""},
		{0, "", "limit=101&limit=1", "", "", ""},
		{0, "", "status=%00", "", "", ""},
		{0, "", "cursor='; DROP TABLE tasks; --", "", "", ""},
		{1, "", "", `{"title":"Buy milk","description":"2 l"}`, "", ""},
		{1, "", "", `{"title":"Buy milk"}`, "", "key-1"},
		{1, "", "", `{"title":"Buy bread"}`, "", "key-1"},
		{1, "", "", `{"title":"x"}`, "", "has space"},
		{1, "", "", `{"title":"x"}`, "", ""},
		{1, "", "", `{"title":"a\u0000b"}`, "", ""},
		{1, "", "", `{"title":"x","description":"a\u0000"}`, "", ""},
		{1, "", "", "{\"title\":\"\xff\"}", "", ""},
		{1, "", "", `{"title":null,"description":null}`, "", ""},
		{1, "", "", `{"title":"   "}`, "", ""},
		{1, "", "", `{"title":"` + strings.Repeat("é", 201) + `"}`, "", ""},
		{1, "", "", `{"title":1}`, "", ""},
		{2, sid, "", "", "", ""},
		{2, "0", "", "", "", ""},
		{2, "01", "", "", "", ""},
		{2, "9223372036854775808", "", "", "", ""},
		{2, "-1", "", "", "", ""},
		{3, sid, "", `{"completed":true}`, etag, ""},
		{3, sid, "", `{"title":"new","description":null}`, `"stale"`, ""},
		{3, sid, "", `{"title":null}`, "*", ""},
		{3, sid, "", `{"completed":"yes"}`, "", ""},
		{3, sid, "", `{}`, `W/` + etag, ""},
		{3, sid, "", `{"title":"x"}`, etag + `, "a"`, ""},
		{3, "abc", "", `{"title":"x"}`, "", ""},
		{4, sid, "", "", etag, ""},
		{4, sid, "", "", `"` + strings.Repeat("a", 300) + `"`, ""},
		{4, sid, "", "", `,,,"`, ""},
		{5, sid, "", "", `"x"`, ""},
		{6, "", "", "", "", ""},
		{7, "", "", "", "", ""},
		{7, "", "since=" + since, "", "", ""},
		{7, "", "since=" + since + "&limit=1000", "", "", ""},
		{7, "", "since=" + since[:len(since)-1] + "A", "", "", ""},
		{7, "", "since=" + cursor, "", "", ""},
		{7, "", "since=&limit=0", "", "", ""},
		{7, "", "limit=1001&since=" + since, "", "", ""},
		{7, "", "limit=-1", "", "", ""},
		{7, "", "since=%ff%00", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.op, s.id, s.query, []byte(s.body), s.im, s.ik)
	}
	ops := []struct{ method, path string }{
		{"GET", "/api/v1/tasks"},
		{"POST", "/api/v1/tasks"},
		{"GET", "/api/v1/tasks/"},
		{"PATCH", "/api/v1/tasks/"},
		{"POST", "/api/v1/tasks/%s/toggle"},
		{"DELETE", "/api/v1/tasks/"},
		{"GET", "/api/v1/tasks/stats"},
		{"GET", "/api/v1/tasks/changes"},
	}
	f.Fuzz(func(t *testing.T, op uint8, id, query string, body []byte, ifMatch, idemKey string) {
		o := ops[int(op)%len(ops)]
		path := o.path
		switch {
		case strings.Contains(path, "%s"):
			path = fmt.Sprintf(path, url.PathEscape(id))
		case strings.HasSuffix(path, "/"):
			path += url.PathEscape(id)
		}
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(o.method, "http://x"+path, rd)
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-Fuzz-User", uid)
		if ifMatch != "" {
			req.Header["If-Match"] = []string{ifMatch}
		}
		if idemKey != "" {
			req.Header["Idempotency-Key"] = []string{idemKey}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode < 400 {
			return
		}
		if mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
			t.Fatalf("%s %s: %d with Content-Type %q: %s", o.method, path, res.StatusCode, res.Header.Get("Content-Type"), out)
		}
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("%d: not a problem: %s", res.StatusCode, out)
		}
		if want, ok := fzCodes[p.Code]; !ok || want != res.StatusCode || p.Status != res.StatusCode {
			t.Fatalf("%s %s?%s: %d with code %q: %s", o.method, path, query, res.StatusCode, p.Code, out)
		}
	})
}

// FuzzCursorDecode: any string given as a cursor is rejected with
// ErrBadCursor unless it is one the codec issued for that user and status,
// and a cursor that decodes encodes back to the same position.
func FuzzCursorDecode(f *testing.F) {
	c := newCursorCodec([]byte("fuzz-secret"))
	good := c.encode("user-1", StatusAll, position{At: time.UnixMicro(1700000000123456).UTC(), ID: 42})
	for _, s := range []string{good, good[:len(good)-1], good + "A", "", "!!!!", "AAAA", strings.Repeat("A", 43), strings.Repeat("_", 43)} {
		f.Add(s, "user-1", "all")
	}
	f.Add(good, "user-2", "all")
	f.Add(good, "user-1", "pending")
	f.Fuzz(func(t *testing.T, token, user, st string) {
		p, err := c.decode(token, user, Status(st))
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("%q: %v, want ErrBadCursor", token, err)
			}
			return
		}
		if user != "user-1" || Status(st) != StatusAll || p.ID != 42 {
			t.Fatalf("%q accepted for %q/%q as %+v", token, user, st, p)
		}
		again, err := c.decode(c.encode(user, Status(st), p), user, Status(st))
		if err != nil || again != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
		}
	})
}

// FuzzSyncTokenDecode: any string given as a since token is rejected with
// ErrBadSyncToken unless the codec issued it to that user, and a token that
// decodes encodes back to the same state.
func FuzzSyncTokenDecode(f *testing.F) {
	c := newSyncCodec([]byte("fuzz-secret"))
	issued := time.UnixMicro(1700000000123456).UTC()
	fullTok := syncToken{Issued: issued, Seq: 7, Full: true, At: issued.Add(-time.Hour), ID: 42}
	incrTok := syncToken{Issued: issued, Seq: 9}
	full, incr := c.encode("user-1", fullTok), c.encode("user-1", incrTok)
	for _, s := range []string{full, incr, incr[:len(incr)-1], incr + "A", "", "!!!!", strings.Repeat("A", 66), strings.Repeat("_", 66)} {
		f.Add(s, "user-1")
	}
	f.Add(incr, "user-2")
	f.Fuzz(func(t *testing.T, token, user string) {
		tok, err := c.decode(token, user)
		if err != nil {
			if !errors.Is(err, ErrBadSyncToken) {
				t.Fatalf("%q: %v, want ErrBadSyncToken", token, err)
			}
			return
		}
		if user != "user-1" || (tok != fullTok && tok != incrTok) {
			t.Fatalf("%q accepted for %q as %+v", token, user, tok)
		}
		if again, err := c.decode(c.encode(user, tok), user); err != nil || again != tok {
			t.Fatalf("round trip of %+v: %+v, %v", tok, again, err)
		}
	})
}

// FuzzParseIfMatch: any If-Match header parses without panicking; "*"
// matches anything, an absent header is no precondition, and only quoted
// strong tags are kept.
func FuzzParseIfMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, `*`, `W/"abc"`, `"a", "b"`, `"`, `""`, `"a"b"`, `,,`, " \"x\" ,*", "\"\x00\"", `"é"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m := parseIfMatch([]string{v})
		if !m.present {
			t.Fatal("a sent header parsed as absent")
		}
		for _, tag := range m.tags {
			if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.HasPrefix(tag, "W/") {
				t.Fatalf("%q: kept tag %q", v, tag)
			}
			if !m.matches(tag) {
				t.Fatalf("%q: tag %q does not match itself", v, tag)
			}
		}
		if m.any != m.matches(`"unrelated-etag-value"`) && !containsTag(m.tags, `"unrelated-etag-value"`) {
			t.Fatalf("%q: * is %v but an unrelated tag matches %v", v, m.any, m.matches(`"unrelated-etag-value"`))
		}
	})
}

func containsTag(tags []string, tag string) bool {
	for _, t := range tags {
		if t == tag {
			return true
		}
	}
	return false
}

// FuzzListParams: any query parses into a valid status and a limit of
// 1–100, or a 422 naming the bad parameters; path ids are canonical
// positive int64s; Idempotency-Keys are 1–255 visible ASCII.
func FuzzListParams(f *testing.F) {
	for _, s := range []struct{ q, id, key string }{
		{"status=all&limit=20", "1", "k"},
		{"status=PENDING&limit=+5", "01", ""},
		{"limit=1e2&status=completed", "+1", strings.Repeat("k", 256)},
		{"limit=-1&limit=5", "9223372036854775807", "\x7f"},
		{"status=%00&cursor=", "9223372036854775808", "ключ"},
		{"%zz", "1.0", " k"},
	} {
		f.Add(s.q, s.id, s.key)
	}
	f.Fuzz(func(t *testing.T, raw, id, key string) {
		q, err := url.ParseQuery(raw)
		if err == nil {
			lq, err := parseListQuery(q)
			if err == nil {
				if lq.Limit < 1 || lq.Limit > maxLimit || (lq.Status != StatusAll && lq.Status != StatusPending && lq.Status != StatusCompleted) {
					t.Fatalf("%q: %+v", raw, lq)
				}
			} else if ae, ok := apperr.From(err); !ok || ae.Code != "validation_failed" || len(ae.Fields) == 0 {
				t.Fatalf("%q: %v", raw, err)
			}
		}
		if n, ok := parseID(id); ok && (n <= 0 || strconv.FormatInt(n, 10) != id) {
			t.Fatalf("id %q parsed as %d", id, n)
		}
		if bad := checkIdempotencyKey(key); bad == nil && (len(key) < 1 || len(key) > maxKeyLen || !httpx.VisibleASCII(key)) {
			t.Fatalf("key %q accepted", key)
		}
	})
}
