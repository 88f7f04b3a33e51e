// Package httpx is the HTTP layer every module shares: the Gin engine and
// its middleware, the problem+json error writer, request binding and
// validation, the authenticated Principal, and the server's lifecycle.
package httpx

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/apperr"
	"todo/platform/config"
)

// NewEngine returns a Gin engine with the shared middleware: request id,
// security headers, recovery, access log, metrics and CORS; 404 and 405 as
// problem+json; client addresses taken from X-Forwarded-For only when the
// peer is a configured trusted proxy.
func NewEngine(cfg config.HTTP, log *slog.Logger, reg prometheus.Registerer) (*gin.Engine, error) {
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
	e.NoMethod(func(c *gin.Context) { WriteError(c, apperr.ErrMethod) })
	return e, nil
}

// NotFound is a handler that answers 404 not_found.
func NotFound(c *gin.Context) { WriteError(c, apperr.ErrNotFound) }

// Health answers 200 {"status":"ok"} while the process runs.
func Health(c *gin.Context) { JSON(c, http.StatusOK, gin.H{"status": "ok"}) }
