package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/config"
)

// TestMetricsMethodLabelBounded: the method label takes a bounded set of
// values, so that requests with made-up methods (any token is a valid HTTP
// method) cannot grow the metrics without limit.
func TestMetricsMethodLabelBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewEngine(config.HTTP{}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for i := range 50 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(fmt.Sprintf("BOGUS%d", i), "/x", nil))
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		methods := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] = true
				}
			}
		}
		if len(methods) > 2 {
			t.Errorf("%s: %d method label values after 50 made-up methods, want GET and one for the rest", mf.GetName(), len(methods))
		}
		if len(methods) > 0 && !methods[http.MethodGet] {
			t.Errorf("%s: no GET label: %v", mf.GetName(), methods)
		}
	}
}
