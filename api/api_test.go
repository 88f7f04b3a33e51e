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
		"request":        {"value: {title: Call mom}", "value: {title: Call mom, priority: 1}"},
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
				checkResponses(t, op)
				checkRequestExamples(t, op)
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

func checkResponses(t *testing.T, op *openapi3.Operation) {
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
		if status >= 400 {
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

// TestSecuredOperations pins which operations need an access token.
func TestSecuredOperations(t *testing.T) {
	doc, err := load(t, api.Spec())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not validate: %v", err)
	}
	var open []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil || len(*op.Security) == 0 {
				open = append(open, method+" "+path)
			}
		}
	}
	slices.Sort(open)
	want := []string{
		"GET /docs", "GET /docs/{asset}", "GET /healthz", "GET /openapi.yaml", "GET /readyz",
		"POST /api/v1/auth/login", "POST /api/v1/auth/logout", "POST /api/v1/auth/password-reset/confirm",
		"POST /api/v1/auth/password-reset/request", "POST /api/v1/auth/refresh", "POST /api/v1/auth/register", "POST /api/v1/auth/verify-email",
	}
	if !slices.Equal(open, want) {
		t.Errorf("operations without security:\ngot  %v\nwant %v", open, want)
	}
}
