package httpx

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/config"
)

// TestCORSVary: with CORS on, every answer says it varies by Origin, also
// one to a request that sent none, so a shared cache cannot hand an answer
// without CORS headers to a cross-origin page. With CORS off, none does.
func TestCORSVary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		origin  string
		vary    bool
		allowed string
	}{
		{"on/no-origin", []string{"https://app.example.com"}, "", true, ""},
		{"on/allowed", []string{"https://app.example.com"}, "https://app.example.com", true, "https://app.example.com"},
		{"on/other", []string{"https://app.example.com"}, "https://evil.example.com", true, ""},
		{"off/no-origin", nil, "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(config.HTTP{CORSOrigins: tc.origins}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			e.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if got := w.Header().Get("Vary") == "Origin"; got != tc.vary {
				t.Errorf("Vary: %q, want Origin: %v", w.Header().Get("Vary"), tc.vary)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != tc.allowed {
				t.Errorf("Access-Control-Allow-Origin: %q, want %q", got, tc.allowed)
			}
		})
	}
}
