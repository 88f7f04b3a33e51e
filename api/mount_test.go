package api_test

import (
	"bytes"
	"net/http"
	"regexp"
	"testing"

	"github.com/gin-gonic/gin"

	"todo/api"
	"todo/platform/apitest"
)

// docsEngine mounts the api routes on an engine with the two things shared
// middleware provides in the real server: X-Request-ID and problem+json 404s.
func docsEngine() *gin.Engine {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.Use(func(c *gin.Context) { c.Header("X-Request-ID", "test-req") })
	api.Mount(e, func(c *gin.Context) {
		c.Header("Content-Type", "application/problem+json")
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"type": "about:blank", "title": "Not Found", "status": 404, "code": "not_found"})
	})
	return e
}

func TestMount(t *testing.T) {
	s := apitest.New(t, docsEngine())

	t.Run("openapi.yaml/200", func(t *testing.T) {
		res := s.Do(http.MethodGet, "/openapi.yaml", nil)
		if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/yaml" {
			t.Fatalf("got %d %q, want 200 application/yaml", res.Status, res.Header.Get("Content-Type"))
		}
		if !bytes.Equal(res.Body, api.Spec()) {
			t.Error("the body is not api.Spec()")
		}
	})

	t.Run("docs/200/assets-served-locally", func(t *testing.T) {
		res := s.Do(http.MethodGet, "/docs", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("GET /docs: got %d, want 200", res.Status)
		}
		if bytes.Contains(res.Body, []byte("http://")) || bytes.Contains(res.Body, []byte("https://")) {
			t.Errorf("the page refers to another host; it must work offline:\n%s", res.Body)
		}
		refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllSubmatch(res.Body, -1)
		if len(refs) < 3 {
			t.Fatalf("the page refers to %d assets, want the bundle, the style sheet and init.js", len(refs))
		}
		for _, ref := range refs {
			if res := s.Do(http.MethodGet, string(ref[1]), nil); res.Status != http.StatusOK {
				t.Errorf("GET %s: got %d, want 200", ref[1], res.Status)
			}
		}
	})

	t.Run("docs/init.js/points-at-openapi.yaml", func(t *testing.T) {
		res := s.Do(http.MethodGet, "/docs/init.js", nil)
		if !bytes.Contains(res.Body, []byte(`url: "/openapi.yaml"`)) {
			t.Errorf("init.js does not load /openapi.yaml:\n%s", res.Body)
		}
		if bytes.Contains(res.Body, []byte("://")) {
			t.Errorf("init.js refers to another host:\n%s", res.Body)
		}
	})

	t.Run("docs/LICENSE/200", func(t *testing.T) {
		if res := s.Do(http.MethodGet, "/docs/LICENSE", nil); res.Status != http.StatusOK || !bytes.Contains(res.Body, []byte("Apache License")) {
			t.Errorf("GET /docs/LICENSE: got %d", res.Status)
		}
	})

	for _, path := range []string{"/docs/nope.js", "/docs/index.html", "/docs/", "/docs/a/swagger-ui.css", "/docs/..%2fapi.go"} {
		t.Run("docs/unknown/404"+path, func(t *testing.T) {
			res := s.Do(http.MethodGet, path, nil)
			if res.Status != http.StatusNotFound {
				t.Fatalf("got %d, want 404", res.Status)
			}
			if p := res.Problem(); p.Code != "not_found" {
				t.Errorf("code: got %q, want not_found", p.Code)
			}
		})
	}
}
