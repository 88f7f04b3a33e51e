package httpx

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/config"
)

// fuzzBody is a request type with every kind of field the modules bind:
// plain and Optional strings and booleans, validator tags, Normalize and
// Check.
type fuzzBody struct {
	Email    string           `json:"email" validate:"required,min=5,max=255,emailaddr"`
	Name     Optional[string] `json:"name"`
	Password string           `json:"password" validate:"omitempty,minbytes=8,maxbytes=72"`
	Done     Optional[bool]   `json:"done"`
	Key      string           `json:"key" validate:"omitempty,visibleascii"`
}

func (b *fuzzBody) Normalize() { b.Email = strings.ToLower(strings.TrimSpace(b.Email)) }

// contractCodes are the problem codes of API.md.
var contractCodes = map[string]int{
	"bad_request": 400, "unauthorized": 401, "invalid_credentials": 401, "account_disabled": 403,
	"wrong_password": 403, "not_found": 404, "method_not_allowed": 405, "email_taken": 409,
	"idempotency_in_progress": 409, "precondition_failed": 412, "payload_too_large": 413,
	"unsupported_media_type": 415, "validation_failed": 422, "idempotency_key_reused": 422,
	"rate_limited": 429, "internal": 500, "unavailable": 503,
}

// FuzzBind sends any body with any Content-Type through the shared engine
// to a handler that binds with the Binder: the answer is 200 with a body
// that holds no NUL, or a problem+json 400, 413, 415 or 422 with its
// contract code; never a panic or a 500.
func FuzzBind(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"email":"a@example.com","name":"Ann","password":"long enough","done":true,"key":"k-1"}`},
		{"application/json", `{"email":"a@example.com","name":null}`},
		{"application/json", `{"email":"a@example.com","name":"a\u0000b"}`},
		{"application/json", `{"email":"a@example.com","key":"\u0000"}`},
		{"application/json", "{\"email\":\"a@example.com\",\"name\":\"\xff\"}"},
		{"application/json", `{"email":"a@example.com","done":"yes"}`},
		{"application/json", `{"email":"a@example.com","extra":1}`},
		{"application/json", `{"email":"a@example.com"} {}`},
		{"application/json", `[]`},
		{"application/json", `null`},
		{"application/json", ``},
		{"application/json", `{"email":`},
		{"application/json; charset=utf-8", `{"email":"  A@EXAMPLE.COM "}`},
		{"text/plain", `{"email":"a@example.com"}`},
		{"", `{}`},
		{"application/json", `{"email":"a@example.com","name":"\ud800"}`},
		{"application/json", `{"email":"a@example.com","password":"` + strings.Repeat("x", 73) + `"}`},
		{"application/json", `{"email":"a@example.com","name":{"nested":[1,2,{"x":null}]}}`},
		{"application/json", `{"EMAIL":"a@example.com"}`},
		{"application/json", `{"email":"a@example.com","email":"b@example.com"}`},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	e, err := NewEngine(config.HTTP{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	b := NewBinder()
	e.POST("/bind", Handle(func(c *gin.Context) error {
		var req fuzzBody
		if err := b.JSON(c, &req); err != nil {
			return err
		}
		JSON(c, http.StatusOK, req)
		return nil
	}))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req := httptest.NewRequest("POST", "/bind", bytes.NewReader(body))
		if ct != "" {
			req.Header["Content-Type"] = []string{ct}
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)
		switch res.StatusCode {
		case http.StatusOK:
			var got struct {
				Email, Password, Key string
				Name                 struct{ Value string }
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("200 with %s: %v", out, err)
			}
			if strings.ContainsRune(got.Email+got.Password+got.Key+got.Name.Value, 0) {
				t.Fatalf("a NUL passed validation: %s", out)
			}
		case 400, 413, 415, 422:
			checkProblem(t, res.StatusCode, res.Header.Get("Content-Type"), out)
		default:
			t.Fatalf("status %d: %s", res.StatusCode, out)
		}
	})
}

func checkProblem(t *testing.T, status int, ct string, body []byte) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q", status, ct)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("status %d: body is not a problem: %v: %s", status, err, body)
	}
	if want, ok := contractCodes[p.Code]; !ok || want != status || p.Status != status {
		t.Fatalf("status %d with code %q (status field %d)", status, p.Code, p.Status)
	}
}

// FuzzValidEmail: ValidEmail never panics, and what it accepts has one
// local part and a dotted domain without spaces.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", "a@b", "@example.com", "a@.com", "a@example.", "a b@example.com",
		"a@exa mple.com", "a@-x.com", "a@ex\u00e9.com", "a\x00@example.com", "a@@example.com", "\"a\"@example.com",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 64) + ".com", "a@\xff.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidEmail(s) {
			return
		}
		at := strings.LastIndexByte(s, '@')
		if at <= 0 || strings.Count(s, "@") != 1 || !strings.Contains(s[at:], ".") || strings.ContainsAny(s, " \t\r\n\x00") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzRequestID: a client's X-Request-ID is echoed only when it is 1–128
// characters of [A-Za-z0-9._-]; anything else is replaced.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", "a b", "a\x00", strings.Repeat("a", 128), strings.Repeat("a", 129), "<script>", "é"} {
		f.Add(s)
	}
	e, err := NewEngine(config.HTTP{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	e.GET("/healthz", Health)
	f.Fuzz(func(t *testing.T, id string) {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header["X-Request-Id"] = []string{id}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-ID")
		if !validRequestID(got) {
			t.Fatalf("answered X-Request-ID %q", got)
		}
		if validRequestID(id) != (got == id) {
			t.Fatalf("sent %q, answered %q", id, got)
		}
	})
}
