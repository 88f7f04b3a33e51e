package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"todo/api"
)

// contract is api/openapi.yaml loaded, validated and routable. It is read-only
// once built, so every Server in the test binary shares one.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	// unrouted is the operation a request to no documented operation is held
	// to: a 404 or 405 problem, the only answers such a request may get;
	// unroutedHead is the same for a HEAD, whose answers have no body.
	unrouted, unroutedHead *openapi3.Operation
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	ctx := context.Background()
	// /openapi.yaml is YAML text, and its schema is a string: the body is
	// checked as the text it is, not as the data YAML would decode to.
	openapi3filter.RegisterBodyDecoder("application/yaml", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		text, err := io.ReadAll(body)
		return string(text), err
	})
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec())
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is invalid: %w", err)
	}
	// Paths are full paths under the server "/"; without servers the router
	// matches on the path alone, whatever host httptest listens on.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route api/openapi.yaml: %w", err)
	}
	unrouted, err := unroutedOperation(doc, "NotFound", "MethodNotAllowed")
	if err != nil {
		return nil, err
	}
	unroutedHead, err := unroutedOperation(doc, "HeadProblem", "HeadMethodNotAllowed")
	if err != nil {
		return nil, err
	}
	return &contract{doc: doc, router: router, unrouted: unrouted, unroutedHead: unroutedHead}, nil
})

// unroutedOperation is an operation whose only responses are the document's
// components.responses named notFound (404) and methodNotAllowed (405).
func unroutedOperation(doc *openapi3.T, notFound, methodNotAllowed string) (*openapi3.Operation, error) {
	op := &openapi3.Operation{Responses: openapi3.NewResponses()}
	for status, name := range map[int]string{http.StatusNotFound: notFound, http.StatusMethodNotAllowed: methodNotAllowed} {
		ref := doc.Components.Responses[name]
		if ref == nil {
			return nil, fmt.Errorf("api/openapi.yaml has no components.responses.%s", name)
		}
		op.Responses.Set(fmt.Sprint(status), ref)
	}
	return op, nil
}

// genericHeaders are response headers any response may carry undocumented:
// transport headers and the security and CORS headers that shared middleware
// sets on every response. A documented one (Cache-Control on token pairs) is
// still checked against its documentation.
var genericHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Date", "Vary", "Connection", "Transfer-Encoding",
	"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Cache-Control",
	"Content-Security-Policy", "Permissions-Policy", "Strict-Transport-Security",
}

// genericHeaderPrefixes are families of headers treated like genericHeaders.
var genericHeaderPrefixes = []string{"Cross-Origin-", "Access-Control-"}

func isGenericHeader(name string) bool {
	if slices.ContainsFunc(genericHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
		return true
	}
	return slices.ContainsFunc(genericHeaderPrefixes, func(p string) bool {
		return len(name) >= len(p) && strings.EqualFold(name[:len(p)], p)
	})
}

// exchange is one request and the response the handler gave it.
type exchange struct {
	req     *http.Request // body already read into reqBody
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// check holds ex to the contract. It returns the response's violations and,
// separately, the request's: tests send invalid requests on purpose, and
// the caller decides whether the request's mismatch was marked so. routed
// is false when the request's path and method match no operation; its
// response is then held to the 404/405 rule, which is check enough.
func (c *contract) check(ctx context.Context, ex exchange) (violations []string, routed bool, requestMismatch error) {
	route, params, err := c.router.FindRoute(ex.req)
	unrouted := c.unrouted
	if ex.req.Method == http.MethodHead {
		unrouted = c.unroutedHead
	}
	if err != nil {
		route = &routers.Route{Spec: c.doc, Path: ex.req.URL.Path, Method: ex.req.Method, Operation: unrouted}
		requestMismatch = fmt.Errorf("no operation in the contract: %w", err)
	}
	reqOpts := &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc, // auth is the server's to test, not the filter's
		MultiError:          true,
		SkipSettingDefaults: true,
	}
	reqOpts.WithCustomSchemaErrorFunc(schemaError)
	in := &openapi3filter.RequestValidationInput{Request: ex.req, PathParams: params, Route: route, Options: reqOpts}
	if requestMismatch == nil {
		ex.req.Body = http.NoBody
		if len(ex.reqBody) > 0 {
			ex.req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
		}
		requestMismatch = openapi3filter.ValidateRequest(ctx, in)
		if unknown := undocumentedQuery(route, ex.req); unknown != nil {
			requestMismatch = errors.Join(requestMismatch, unknown)
		}
	}

	resOpts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	resOpts.WithCustomSchemaErrorFunc(schemaError)
	resIn := in
	if ex.req.Method == http.MethodHead {
		// ValidateResponse skips a HEAD's response altogether; the route is
		// the HEAD operation already, so its status and headers are checked
		// when the request is named a GET.
		asGet := *ex.req
		asGet.Method = http.MethodGet
		resIn = &openapi3filter.RequestValidationInput{Request: &asGet, PathParams: params, Route: route, Options: reqOpts}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: resIn, Status: ex.status, Header: ex.header, Options: resOpts}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		violations = append(violations, err.Error())
	}
	if ref := route.Operation.Responses.Status(ex.status); ref != nil && ref.Value != nil {
		violations = append(violations, checkHeaders(ref.Value, ex.header)...)
		if len(ref.Value.Content) == 0 && len(ex.body) > 0 {
			violations = append(violations, fmt.Sprintf("response has a body (%d bytes) but the contract documents none", len(ex.body)))
		}
	}
	if route.Operation == unrouted && len(violations) > 0 {
		violations = append([]string{"the path and method match no operation, so the response must be a 404 or 405 problem"}, violations...)
	}
	return violations, route.Operation != unrouted, requestMismatch
}

// undocumentedQuery reports the query parameters of req that the route's
// operation does not declare (kin-openapi checks declared ones only).
func undocumentedQuery(route *routers.Route, req *http.Request) error {
	declared := func(name string) bool {
		var params openapi3.Parameters
		if route.PathItem != nil {
			params = append(params, route.PathItem.Parameters...)
		}
		params = append(params, route.Operation.Parameters...)
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Name == name {
				return true
			}
		}
		return false
	}
	var unknown []string
	for _, name := range sortedKeys(http.Header(req.URL.Query())) {
		if !declared(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return fmt.Errorf("query parameter(s) %s not documented for this operation", strings.Join(unknown, ", "))
}

// schemaError says where in the value a schema error is and what it is,
// without kin-openapi's dump of the whole schema and value.
func schemaError(err *openapi3.SchemaError) string {
	msg := fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	if err.Origin != nil { // why an allOf member failed
		msg += ": " + err.Origin.Error()
	}
	return msg
}

// checkHeaders reports every header of the response that its documentation
// does not list and that is not generic. Missing and malformed documented
// headers are ValidateResponse's to report.
func checkHeaders(doc *openapi3.Response, header http.Header) []string {
	var violations []string
	for _, name := range sortedKeys(header) {
		if isGenericHeader(name) {
			continue
		}
		documented := false
		for d := range doc.Headers {
			if strings.EqualFold(d, name) {
				documented = true
				break
			}
		}
		if !documented {
			violations = append(violations, fmt.Sprintf("response header %q is not documented for this response", name))
		}
	}
	return violations
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
