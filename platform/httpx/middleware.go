package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"todo/platform/apperr"
	"todo/platform/logging"
)

const (
	requestIDKey = "httpx.request_id"
	loggerKey    = "httpx.logger"
)

// RequestID returns the request's id (the client's X-Request-ID when valid).
func RequestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// Logger returns the request's logger.
func Logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// validRequestID: 1–128 characters of [A-Za-z0-9._-].
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// frontDoor is the first middleware: request id, security headers, panic
// recovery, the access log and the metrics.
// Header values every response shares, set straight into the header map
// under their canonical keys: no canonicalisation and no slice per
// response. They are never changed in place; Header.Add on one of these
// keys appends to a copy, as none has spare capacity.
var (
	hvNoSniff    = []string{"nosniff"}
	hvDeny       = []string{"DENY"}
	hvNoReferrer = []string{"no-referrer"}
	hvCSPAPI     = []string{"default-src 'none'; frame-ancestors 'none'"}
	hvCSPDocs    = []string{"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"}
	hvNoStore    = []string{"no-store"}
	hvJSON       = []string{"application/json"}
)

// SetJSONType marks the response as application/json.
func SetJSONType(h http.Header) { h["Content-Type"] = hvJSON }

func frontDoor(log *slog.Logger, m *Metrics) gin.HandlerFunc {
	access := logging.Access(log)
	return func(c *gin.Context) {
		start := time.Now()
		rid := c.GetHeader("X-Request-ID")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		c.Set(requestIDKey, rid)
		c.Set(loggerKey, log)
		h := c.Writer.Header()
		h["X-Request-Id"] = []string{rid}
		h["X-Content-Type-Options"] = hvNoSniff
		h["X-Frame-Options"] = hvDeny
		h["Referrer-Policy"] = hvNoReferrer
		if strings.HasPrefix(c.Request.URL.Path, "/docs") {
			// The Swagger UI page: its own scripts, styles and the spec only.
			h["Content-Security-Policy"] = hvCSPDocs
		} else {
			h["Content-Security-Policy"] = hvCSPAPI
		}
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				log.ErrorContext(c.Request.Context(), "panic", "request_id", rid, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				WriteError(c, apperr.Internal())
			}
			route := c.FullPath()
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			st := c.Writer.Status()
			m.observe(method(c.Request), route, st, elapsed)
			if access.Enabled(c.Request.Context(), slog.LevelInfo) {
				access.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
					slog.String("request_id", rid),
					slog.String("method", method(c.Request)),
					slog.String("route", route),
					slog.Int("status", st),
					slog.Int("bytes", c.Writer.Size()),
					slog.Duration("duration", elapsed),
					slog.String("client_ip", c.ClientIP()),
				)
			}
		}()
		c.Next()
	}
}

// cors answers preflights and marks responses for the configured origins
// only; any other origin gets no CORS headers, so browsers refuse it.
func cors(origins []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		if len(origins) > 0 {
			// Every answer depends on Origin once CORS is on, also one to a
			// request without it: a shared cache must not reuse it across origins.
			h.Add("Vary", "Origin")
		}
		origin := c.GetHeader("Origin")
		if origin == "" {
			c.Next()
			return
		}
		if !slices.Contains(origins, origin) {
			c.Next()
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Allow, ETag, Location, Retry-After, X-Request-ID, WWW-Authenticate")
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH, PUT, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// NoStore marks every answer under a route group, errors included, as not
// to be kept by any cache: the API's answers hold one user's data.
func NoStore(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = hvNoStore
	c.Next()
}
