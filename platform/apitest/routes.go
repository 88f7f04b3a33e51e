package apitest

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// CheckRoutes fails the test unless the routes a Gin engine registers and the
// operations of the contract are the same set: every route is documented and
// every documented operation is served. Pass engine.Routes() of an
// httpx.Engine, which answers HEAD on every GET route: each GET route counts
// as a HEAD route too. Gin's :id and *asset are compared as the contract's
// {id} and {asset}.
func CheckRoutes(t testing.TB, routes gin.RoutesInfo) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	registered := make(map[string]bool, len(routes))
	for _, r := range routes {
		registered[r.Method+" "+openAPIPath(r.Path)] = true
		if r.Method == http.MethodGet {
			registered[http.MethodHead+" "+openAPIPath(r.Path)] = true
		}
	}
	documented := make(map[string]bool)
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	if missing := difference(documented, registered); len(missing) > 0 {
		t.Errorf("apitest: documented in api/openapi.yaml but not registered on the engine:\n\t%s", strings.Join(missing, "\n\t"))
	}
	if extra := difference(registered, documented); len(extra) > 0 {
		t.Errorf("apitest: registered on the engine but not documented in api/openapi.yaml:\n\t%s", strings.Join(extra, "\n\t"))
	}
}

// openAPIPath turns Gin's /tasks/:id and /docs/*asset into /tasks/{id} and /docs/{asset}.
func openAPIPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// difference returns the keys of a that are not in b, sorted.
func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
