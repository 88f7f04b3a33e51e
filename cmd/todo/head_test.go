package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"todo/platform/apitest"
	"todo/platform/database/dbtest"
)

// TestHeadOnEveryGetRoute: on every GET route of the whole handler, found
// from the engine's routes so that a new one is covered too, HEAD answers with
// the GET's status and headers and no body, with and without a token, every
// exchange held to the contract (which documents each HEAD).
func TestHeadOnEveryGetRoute(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	e, err := newHandler(context.Background(), testConfig(t, url), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := apitest.New(t, e)
	r := s.Do("POST", "/api/v1/auth/register", map[string]string{"email": "head@example.com", "name": "Head", "password": "a long password"})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	r.JSON(&pair)
	r = s.Do("POST", "/api/v1/tasks", map[string]any{"title": "Buy milk"}, apitest.Bearer(pair.AccessToken))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	taskPath := r.Header.Get("Location")
	args := strings.NewReplacer("/api/v1/tasks/:id", taskPath, "*asset", "swagger-ui.css")

	routes := 0
	for _, route := range e.Routes() {
		if route.Method != http.MethodGet {
			continue
		}
		routes++
		path := args.Replace(route.Path)
		for _, token := range []string{pair.AccessToken, ""} {
			t.Run(fmt.Sprintf("%s/token=%v", route.Path, token != ""), func(t *testing.T) {
				h := http.Header{
					"X-Request-Id":    {"head-test"},
					"Accept-Encoding": {"identity"}, // Go's client asks for gzip on a GET only
				}
				if token != "" {
					h.Set("Authorization", "Bearer "+token)
				}
				if strings.ContainsAny(path, ":*") {
					// A pattern no argument fills is requested as it is.
					h.Set(apitest.MismatchHeader, "expected: a route pattern as the path")
				}
				get, getBody := roundTrip(t, s, http.MethodGet, path, h)
				head, headBody := roundTrip(t, s, http.MethodHead, path, h)
				if head.StatusCode != get.StatusCode {
					t.Errorf("status: HEAD %d, GET %d", head.StatusCode, get.StatusCode)
				}
				if len(getBody) == 0 {
					t.Errorf("the GET (%d) has no body: nothing is compared", get.StatusCode)
				}
				if len(headBody) != 0 {
					t.Errorf("HEAD has a body of %d bytes", len(headBody))
				}
				for _, hd := range []http.Header{get.Header, head.Header} {
					hd.Del("Date")
					hd.Del("Transfer-Encoding")
				}
				if g, hh := fmt.Sprint(get.Header), fmt.Sprint(head.Header); g != hh {
					t.Errorf("headers differ:\nGET  %s\nHEAD %s", g, hh)
				}
			})
		}
	}
	// The operations routes, the documentation and the API's reads.
	if routes < 10 {
		t.Errorf("%d GET routes, want at least 10", routes)
	}
}

func roundTrip(t *testing.T, s *apitest.Server, method, path string, h http.Header) (exchanged, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchanged{StatusCode: res.StatusCode, Header: res.Header}, body
}

// exchanged is what a test keeps of a response once its body is read and closed.
type exchanged struct {
	StatusCode int
	Header     http.Header
}
