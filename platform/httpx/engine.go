// Package httpx is the HTTP layer every module shares: the Gin engine and
// its middleware, the problem+json error writer, request binding and
// validation, the authenticated Principal, and the server's lifecycle.
package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/apperr"
	"todo/platform/config"
)

// Engine is a Gin engine that also answers HEAD on every GET route: the GET
// handlers run and net/http sends their status and headers without the body
// (RFC 9110 §9.3.2). Every Gin method is available on it; a HEAD route
// registered on it is never reached.
type Engine struct {
	*gin.Engine
}

// headKey marks, in a request's context, a HEAD request served as a GET.
type headKey struct{}

// ServeHTTP serves r, a HEAD request as the GET of the same target. The
// ResponseWriter stays net/http's, which knows the request was a HEAD: it
// drops the body and sets the Content-Length the GET would have had.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// WithContext copies r: the server's own request stays a HEAD.
		r = r.WithContext(context.WithValue(r.Context(), headKey{}, true))
		r.Method = http.MethodGet
	}
	e.Engine.ServeHTTP(w, r)
}

// IsHead reports whether r is a HEAD request that Engine serves as a GET.
// Middleware that records the method (logs, metrics) asks it; handlers need
// not, as net/http drops whatever body they write.
func IsHead(r *http.Request) bool {
	head, _ := r.Context().Value(headKey{}).(bool)
	return head
}

// method returns the request's method as the client sent it.
func method(r *http.Request) string {
	if IsHead(r) {
		return http.MethodHead
	}
	return r.Method
}

// NewEngine returns a Gin engine with the shared middleware: request id,
// security headers, recovery, access log, metrics and CORS; HEAD on every GET
// route; 404 and 405 as problem+json; client addresses taken from
// X-Forwarded-For only when the peer is a configured trusted proxy.
func NewEngine(cfg config.HTTP, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.ContextWithFallback = true
	proxies := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	if err := e.SetTrustedProxies(proxies); err != nil {
		return nil, err
	}
	if len(proxies) == 0 {
		e.RemoteIPHeaders = nil
	} else {
		e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	}
	e.Use(frontDoor(log, NewMetrics(reg)), cors(cfg.CORSOrigins))
	e.NoRoute(func(c *gin.Context) { WriteError(c, apperr.ErrNotFound) })
	e.NoMethod(func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Allow", withHead(h.Get("Allow")))
		WriteError(c, apperr.ErrMethod)
	})
	return &Engine{Engine: e}, nil
}

// withHead adds HEAD after GET to allow, Gin's list of a path's methods,
// since Engine answers HEAD wherever there is a GET.
func withHead(allow string) string {
	methods := strings.Split(allow, ", ")
	i := slices.Index(methods, http.MethodGet)
	if i < 0 || slices.Contains(methods, http.MethodHead) {
		return allow
	}
	return strings.Join(slices.Insert(methods, i+1, http.MethodHead), ", ")
}

// NotFound is a handler that answers 404 not_found.
func NotFound(c *gin.Context) { WriteError(c, apperr.ErrNotFound) }

// Health answers 200 {"status":"ok"} while the process runs.
func Health(c *gin.Context) { JSON(c, http.StatusOK, gin.H{"status": "ok"}) }
