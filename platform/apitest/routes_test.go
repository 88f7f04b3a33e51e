package apitest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"todo/api"
	"todo/platform/apitest"
)

// documentedRoutes registers a no-op route on a fresh engine for every
// operation of the contract but the HEADs, which an httpx.Engine answers on
// its GET routes, skipping skip ("METHOD /path" in Gin syntax).
// Gin panics on conflicting routes, so this also shows that the documented
// paths can be served side by side (/tasks/stats beside /tasks/:id, /docs
// beside /docs/*asset).
func documentedRoutes(t *testing.T, skip string) *gin.Engine {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	e := gin.New()
	for path, item := range doc.Paths.Map() {
		ginPath := strings.NewReplacer("{id}", ":id", "{asset}", "*asset").Replace(path)
		for method := range item.Operations() {
			if method != http.MethodHead && method+" "+ginPath != skip {
				e.Handle(method, ginPath, func(*gin.Context) {})
			}
		}
	}
	return e
}

func TestCheckRoutes(t *testing.T) {
	t.Run("get-route-answers-head", func(t *testing.T) {
		e := documentedRoutes(t, "GET /healthz")
		e.GET("/undocumented", func(*gin.Context) {})
		rec := &recorder{TB: t}
		apitest.CheckRoutes(rec, e.Routes())
		got := rec.reported()
		for _, want := range []string{
			"not registered on the engine:\n\tGET /healthz\n\tHEAD /healthz",
			"not documented in api/openapi.yaml:\n\tGET /undocumented\n\tHEAD /undocumented",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("the report does not contain %q:\n%s", want, got)
			}
		}
	})
	t.Run("same-set/passes", func(t *testing.T) {
		rec := &recorder{TB: t}
		apitest.CheckRoutes(rec, documentedRoutes(t, "").Routes())
		if got := rec.reported(); got != "" {
			t.Errorf("reported:\n%s", got)
		}
	})
	t.Run("missing-and-extra/reported", func(t *testing.T) {
		e := documentedRoutes(t, "POST /api/v1/tasks/:id/toggle")
		e.PUT("/api/v1/tasks/:id", func(*gin.Context) {})
		rec := &recorder{TB: t}
		apitest.CheckRoutes(rec, e.Routes())
		got := rec.reported()
		for _, want := range []string{"not registered on the engine:\n\tPOST /api/v1/tasks/{id}/toggle", "not documented in api/openapi.yaml:\n\tPUT /api/v1/tasks/{id}"} {
			if !strings.Contains(got, want) {
				t.Errorf("the report does not contain %q:\n%s", want, got)
			}
		}
	})
}
