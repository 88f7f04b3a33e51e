package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"todo/api"
	"todo/platform/httpx"
)

// load parses spec and validates it, examples included.
func load(t *testing.T, spec []byte) (*openapi3.T, error) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return doc, err
	}
	return doc, validateHeaderExamples(doc)
}

// validateHeaderExamples checks the examples of response headers, which
// kin-openapi's Validate leaves out (it checks those of parameters, media
// types and schemas).
func validateHeaderExamples(doc *openapi3.T) error {
	var errs []error
	check := func(where string, h *openapi3.HeaderRef) {
		if h == nil || h.Value == nil || h.Value.Example == nil || h.Value.Schema == nil {
			return
		}
		if err := h.Value.Schema.Value.VisitJSON(h.Value.Example); err != nil {
			errs = append(errs, fmt.Errorf("%s: example: %w", where, err))
		}
	}
	for name, h := range doc.Components.Headers {
		check("components.headers."+name, h)
	}
	for name, r := range doc.Components.Responses {
		for hn, h := range r.Value.Headers {
			check("components.responses."+name+".headers."+hn, h)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, r := range op.Responses.Map() {
				for hn, h := range r.Value.Headers {
					check(method+" "+path+" "+code+" header "+hn, h)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func TestSpecIsValid(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi: got %q, want 3.0.3 (kin-openapi validates 3.0 fully)", doc.OpenAPI)
	}
}

// TestExamplesAreValidated proves that TestSpecIsValid would catch a wrong
// example: a copy of the document with one broken example must not validate.
func TestExamplesAreValidated(t *testing.T) {
	for name, c := range map[string]struct{ old, new string }{
		"response":       {"expires_in: 900", `expires_in: "soon"`},
		"request":        {"value: {title: Call mom}", "value: {title: Call mom, not_a_field: 1}"},
		"timestamp":      {"created_at: '2026-03-02T09:41:07.123456Z'", "created_at: '2026-03-02T09:41:07Z'"},
		"problem code":   {"code: email_taken", "code: not_found"},
		"header example": {"example: /api/v1/tasks/42", "example: /tasks/42"},
	} {
		t.Run(name, func(t *testing.T) {
			spec := api.Spec()
			if !bytes.Contains(spec, []byte(c.old)) {
				t.Fatalf("api/openapi.yaml no longer contains %q; update this test", c.old)
			}
			broken := bytes.Replace(spec, []byte(c.old), []byte(c.new), 1)
			if _, err := load(t, broken); err == nil {
				t.Errorf("replacing %q with %q: the document still validates", c.old, c.new)
			}
		})
	}
}

func TestEveryOperationIsComplete(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	tags := make(map[string]bool)
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := make(map[string]string)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			t.Run(name, func(t *testing.T) {
				if op.OperationID == "" {
					t.Error("no operationId")
				} else if other, dup := ids[op.OperationID]; dup {
					t.Errorf("operationId %q is also %s", op.OperationID, other)
				}
				ids[op.OperationID] = name
				if len(op.Tags) == 0 {
					t.Error("no tag")
				}
				for _, tag := range op.Tags {
					if !tags[tag] {
						t.Errorf("tag %q is not declared", tag)
					}
				}
				checkResponses(t, method, op)
				checkRequestExamples(t, op)
				if op.Security == nil {
					t.Error("no security: say `security: []` for an operation open without a token, else `security: [bearer: []]`")
				}
				if op.Responses.Status(http.StatusMethodNotAllowed) == nil {
					t.Error("no 405 response")
				}
				if secured := op.Security != nil && len(*op.Security) > 0; secured && op.Responses.Status(http.StatusUnauthorized) == nil {
					t.Error("needs a token but documents no 401")
				}
				// An external issuer's token whose email another account holds
				// is a 409 email_taken wherever it is presented.
				if secured := op.Security != nil && len(*op.Security) > 0; secured && op.Responses.Status(http.StatusConflict) == nil {
					t.Error("needs a token but documents no 409 (email_taken, for an external token)")
				}
				if !strings.HasPrefix(path, "/api/v1/") && op.Security != nil && len(*op.Security) > 0 {
					t.Error("an operations route needs no token")
				}
			})
		}
	}
}

func checkResponses(t *testing.T, method string, op *openapi3.Operation) {
	t.Helper()
	var success bool
	for code, ref := range op.Responses.Map() {
		resp := ref.Value
		status := 0
		if _, err := fmt.Sscan(code, &status); err != nil {
			t.Errorf("response %q: not a status code", code)
			continue
		}
		success = success || status < 300
		if h := resp.Headers["X-Request-ID"]; h == nil || !h.Value.Required {
			t.Errorf("%d: X-Request-ID is not a required header", status)
		}
		if status == http.StatusUnauthorized && resp.Headers["WWW-Authenticate"] == nil {
			t.Errorf("%d: no WWW-Authenticate header", status)
		}
		if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && resp.Headers["Retry-After"] == nil {
			t.Errorf("%d: no Retry-After header", status)
		}
		if status == http.StatusMethodNotAllowed && resp.Headers["Allow"] == nil {
			t.Errorf("%d: no Allow header", status)
		}
		switch {
		case method == http.MethodHead:
			if len(resp.Content) > 0 {
				t.Errorf("%d: a HEAD response has content; it has headers only", status)
			}
		case status >= 400:
			if len(resp.Content) != 1 || resp.Content["application/problem+json"] == nil {
				t.Errorf("%d: content is not only application/problem+json", status)
			}
		}
		for mime, mt := range resp.Content {
			if strings.HasSuffix(mime, "json") && len(mt.Examples) == 0 && mt.Example == nil {
				t.Errorf("%d %s: no example", status, mime)
			}
		}
	}
	if !success {
		t.Error("no success response")
	}
	if op.Responses.Status(http.StatusInternalServerError) == nil {
		t.Error("no 500 response")
	}
}

func checkRequestExamples(t *testing.T, op *openapi3.Operation) {
	t.Helper()
	if op.RequestBody == nil {
		return
	}
	for mime, mt := range op.RequestBody.Value.Content {
		if len(mt.Examples) == 0 && mt.Example == nil {
			t.Errorf("request %s: no example", mime)
		}
		if s := mt.Schema.Value; s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("request %s: additionalProperties is not false", mime)
		}
	}
}

// TestResponseObjectsAreClosed checks that every object schema in components
// forbids undocumented properties, so an undocumented field fails the HTTP tests.
func TestResponseObjectsAreClosed(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	for name, ref := range doc.Components.Schemas {
		s := ref.Value
		if !s.Type.Is("object") {
			continue
		}
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("components.schemas.%s: additionalProperties is not false", name)
		}
	}
}

// TestSecuredOperations pins which operations are open without an access
// token; the document's default, and every other operation's, is the bearer
// token.
func TestSecuredOperations(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	var open []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				open = append(open, method+" "+path)
			}
		}
	}
	slices.Sort(open)
	want := []string{
		"GET /", "GET /account", "GET /assets/{version}/{name}", "GET /docs", "GET /docs/{asset}", "GET /healthz",
		"GET /openapi.yaml", "GET /readyz", "GET /reset-password", "GET /verify-email",
		"HEAD /", "HEAD /account", "HEAD /assets/{version}/{name}", "HEAD /docs", "HEAD /docs/{asset}", "HEAD /healthz",
		"HEAD /openapi.yaml", "HEAD /readyz", "HEAD /reset-password", "HEAD /verify-email",
		"POST /api/v1/auth/login", "POST /api/v1/auth/logout", "POST /api/v1/auth/password-reset/confirm",
		"POST /api/v1/auth/password-reset/request", "POST /api/v1/auth/refresh", "POST /api/v1/auth/register", "POST /api/v1/auth/verify-email",
	}
	if !slices.Equal(open, want) {
		t.Errorf("operations without security:\ngot  %v\nwant %v", open, want)
	}
}

func TestDefaultSecurityIsTheToken(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Errorf("top-level security: got %v, want [bearer: []], so an operation that forgets its own is not open", doc.Security)
	}
}

// TestHeadMirrorsGet: every path with a GET documents its HEAD (the server
// answers it), with the GET's parameters and security, and for each of the
// GET's statuses a response with the same headers and no content.
func TestHeadMirrorsGet(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	for path, item := range doc.Paths.Map() {
		if item.Get == nil && item.Head == nil {
			continue
		}
		t.Run(path, func(t *testing.T) {
			get, head := item.Get, item.Head
			if get == nil || head == nil {
				t.Fatalf("GET %v, HEAD %v: the server answers HEAD exactly where there is a GET", get != nil, head != nil)
			}
			if g, h := paramNames(get), paramNames(head); !slices.Equal(g, h) {
				t.Errorf("parameters: GET %v, HEAD %v", g, h)
			}
			if g, h := fmt.Sprint(get.Security), fmt.Sprint(head.Security); g != h {
				t.Errorf("security: GET %s, HEAD %s", g, h)
			}
			gs, hs := sortedKeys(get.Responses.Map()), sortedKeys(head.Responses.Map())
			if !slices.Equal(gs, hs) {
				t.Fatalf("statuses: GET %v, HEAD %v", gs, hs)
			}
			for _, code := range gs {
				g, h := get.Responses.Value(code).Value, head.Responses.Value(code).Value
				if gh, hh := sortedKeys(g.Headers), sortedKeys(h.Headers); !slices.Equal(gh, hh) {
					t.Errorf("%s headers: GET %v, HEAD %v", code, gh, hh)
				}
			}
		})
	}
}

func paramNames(op *openapi3.Operation) []string {
	var names []string
	for _, p := range op.Parameters {
		names = append(names, p.Value.In+" "+p.Value.Name)
	}
	slices.Sort(names)
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestProblemTitles: every problem example's title is what the server sends
// for its status (platform/httpx's table of RFC 9110 reason phrases).
func TestProblemTitles(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	seen := 0
	for name, ref := range doc.Components.Responses {
		mt := ref.Value.Content.Get("application/problem+json")
		if mt == nil {
			continue
		}
		for ex, exRef := range mt.Examples {
			v, ok := exRef.Value.Value.(map[string]any)
			if !ok {
				t.Errorf("%s example %s: not an object", name, ex)
				continue
			}
			status, _ := v["status"].(float64)
			if got, want := v["title"], httpx.Title(int(status)); got != want {
				t.Errorf("%s example %s: title %q, the server sends %q for %v", name, ex, got, want, status)
			}
			seen++
		}
	}
	if seen < 15 {
		t.Errorf("checked %d problem examples, want every one of them", seen)
	}
}

// TestEmailSchemaAcceptsWhatTheServerAccepts: a validating proxy holding
// requests to the document lets through every email the server takes after
// trimming it, white space around it included, and still stops one that is
// no address at all.
func TestEmailSchemaAcceptsWhatTheServerAccepts(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	for _, name := range []string{"RegisterRequest", "LoginRequest", "PasswordResetRequest"} {
		schema := doc.Components.Schemas[name].Value.Properties["email"].Value
		// kin-openapi checks no email format, but JSON Schema validators that
		// do (RFC 5321's Mailbox) refuse the white space the server trims.
		if schema.Format == "email" {
			t.Errorf("%s.email has format: email", name)
		}
		for _, email := range []string{
			"ada@example.com", " ada@example.com", "ada@example.com ", "  Ada@Example.COM\t", "\tada@example.com\n",
			"\u00a0ada@example.com\u00a0", "\u3000ada@example.com", "\u0085ada@example.com\u2028",
			"a@b.co", "o'brien+todo@mail.example.co.uk", "jörg@bücher.example", "x@1.2.3.4",
			strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".example" + strings.Repeat(" ", 200),
		} {
			if !httpx.ValidEmail(httpx.NormalizeEmail(email)) {
				t.Fatalf("%q: the server refuses it; pick accepted ones", email)
			}
			if err := schema.VisitJSON(email); err != nil {
				t.Errorf("%s.email refuses %q, which the server accepts: %v", name, email, err)
			}
		}
		for _, email := range []string{"", "ada", "ada@example", "@", "ada@@example.com", "a@b.c@d.e"} {
			if err := schema.VisitJSON(email); err == nil {
				t.Errorf("%s.email accepts %q", name, email)
			}
		}
	}
}
