package httpx

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"
)

// appender encodes itself, differently from what encoding/json would write
// for it, so that a test can tell which encoder ran.
type appender struct{ N int }

func (a appender) AppendJSON(b []byte) []byte {
	b = append(b, `{"appended":`...)
	b = strconv.AppendInt(b, int64(a.N), 10)
	return append(b, '}')
}

func TestJSON(t *testing.T) {
	cases := []struct {
		name   string
		v      any
		status int
		want   string
	}{
		{"reflection", map[string]any{"a": "<&>", "b": 1}, http.StatusOK, `{"a":"<&>","b":1}`},
		{"appender", appender{N: 7}, http.StatusCreated, `{"appended":7}`},
		{"appender-pointer", &appender{N: 8}, http.StatusOK, `{"appended":8}`},
		{"unencodable", map[string]any{"f": func() {}}, http.StatusInternalServerError,
			`{"type":"about:blank","title":"Internal Server Error","status":500,"code":"internal"}`},
	}
	gin.SetMode(gin.TestMode)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second time on a pooled buffer
				rec := httptest.NewRecorder()
				c, _ := gin.CreateTestContext(rec)
				JSON(c, tc.status, tc.v)
				if rec.Code != tc.status || rec.Body.String() != tc.want {
					t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.want)
				}
				if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(tc.want)) {
					t.Fatalf("Content-Length %s, want %d", got, len(tc.want))
				}
			}
		})
	}
}
