package httpx

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/apperr"
	"todo/platform/config"
)

// headServer serves an engine with a small GET route, a large one (past
// net/http's 2 KiB buffer, so the GET is chunked), a GET+POST path, a
// POST-only path and a GET whose middleware refuses the request, over a real
// listener: dropping a HEAD's body is net/http's part of the work.
func headServer(t *testing.T, logs io.Writer, reg *prometheus.Registry) *httptest.Server {
	t.Helper()
	e, err := NewEngine(config.HTTP{CORSOrigins: []string{"https://app.example.com"}}, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/small", func(c *gin.Context) {
		c.Header("ETag", `"v1"`)
		JSON(c, http.StatusOK, gin.H{"status": "ok"})
	})
	big := bytes.Repeat([]byte("x"), 64<<10)
	e.GET("/big", func(c *gin.Context) { c.Data(http.StatusOK, "text/plain", big) })
	e.GET("/both", func(c *gin.Context) { c.String(http.StatusOK, "got") })
	e.POST("/both", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	e.POST("/post-only", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	e.GET("/guarded", func(c *gin.Context) { WriteError(c, apperr.ErrUnauthorized) }, func(c *gin.Context) { c.String(http.StatusOK, "secret") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, method, url string, header http.Header) (answer, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{StatusCode: res.StatusCode, Header: res.Header}, body
}

// TestHeadAnswersLikeGet: HEAD on a GET route has the GET's status and
// headers, Content-Length included, and no body; a GET route's middleware
// refusing the request refuses the HEAD the same way.
func TestHeadAnswersLikeGet(t *testing.T) {
	srv := headServer(t, io.Discard, prometheus.NewRegistry())
	for _, path := range []string{"/small", "/big", "/both", "/guarded", "/nope"} {
		t.Run(path, func(t *testing.T) {
			h := http.Header{"X-Request-Id": {"same-id"}, "Origin": {"https://app.example.com"}}
			get, getBody := send(t, http.MethodGet, srv.URL+path, h)
			head, headBody := send(t, http.MethodHead, srv.URL+path, h)
			if head.StatusCode != get.StatusCode {
				t.Errorf("status: HEAD %d, GET %d", head.StatusCode, get.StatusCode)
			}
			if len(getBody) == 0 {
				t.Fatal("the GET has no body: nothing is compared")
			}
			if len(headBody) != 0 {
				t.Errorf("HEAD has a body of %d bytes", len(headBody))
			}
			get.Header.Del("Date")
			head.Header.Del("Date")
			get.Header.Del("Transfer-Encoding") // how the GET's body is framed; a HEAD has none
			if g, h := headerString(get.Header), headerString(head.Header); g != h {
				t.Errorf("headers differ:\nGET  %s\nHEAD %s", g, h)
			}
			if cl := get.Header.Get("Content-Length"); path == "/small" && cl == "" {
				t.Error("the small GET has no Content-Length: the comparison proves less than it should")
			}
		})
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// TestHeadAllowAndCORS: a 405 lists HEAD wherever GET is listed, a HEAD on a
// path without GET is a 405 listing what the path has, browsers may read
// Allow, and a preflight for HEAD is answered.
func TestHeadAllowAndCORS(t *testing.T) {
	srv := headServer(t, io.Discard, prometheus.NewRegistry())
	origin := http.Header{"Origin": {"https://app.example.com"}}
	for _, tc := range []struct {
		method, path, allow string
	}{
		{http.MethodPut, "/both", "GET, HEAD, POST"},
		{http.MethodDelete, "/small", "GET, HEAD"},
		{http.MethodHead, "/post-only", "POST"},
		{http.MethodGet, "/post-only", "POST"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			res, _ := send(t, tc.method, srv.URL+tc.path, origin)
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status: got %d, want 405", res.StatusCode)
			}
			if got := res.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow: got %q, want %q", got, tc.allow)
			}
			if exposed := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(exposed, "Allow") {
				t.Errorf("Access-Control-Expose-Headers %q does not expose Allow", exposed)
			}
		})
	}
	pre, _ := send(t, http.MethodOptions, srv.URL+"/small", http.Header{
		"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"HEAD"},
	})
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "HEAD") {
		t.Errorf("preflight for HEAD: %d, Access-Control-Allow-Methods %q", pre.StatusCode, pre.Header.Get("Access-Control-Allow-Methods"))
	}
}

// TestHeadIsLoggedAndCountedAsHead: the access log and the metrics name the
// method the client sent, not the GET it was served as.
func TestHeadIsLoggedAndCountedAsHead(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	srv := headServer(t, &logs, reg)
	send(t, http.MethodHead, srv.URL+"/small", nil)
	srv.Close() // waits for the handler, and so for its log line
	if !strings.Contains(logs.String(), "method=HEAD") {
		t.Errorf("access log does not say HEAD:\n%s", logs.String())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods = append(methods, l.GetValue())
				}
			}
		}
	}
	if len(methods) != 1 || methods[0] != http.MethodHead {
		t.Errorf("http_requests_total method labels: got %v, want [HEAD]", methods)
	}
}

func TestWithHead(t *testing.T) {
	for allow, want := range map[string]string{
		"GET":                  "GET, HEAD",
		"POST, GET, DELETE":    "POST, GET, HEAD, DELETE",
		"POST":                 "POST",
		"GET, HEAD":            "GET, HEAD",
		"":                     "",
		"PATCH, GET":           "PATCH, GET, HEAD",
		"GET, POST, PUT, HEAD": "GET, POST, PUT, HEAD",
	} {
		if got := withHead(allow); got != want {
			t.Errorf("withHead(%q): got %q, want %q", allow, got, want)
		}
	}
}

// answer is what a test keeps of a response once its body is read and closed.
type answer struct {
	StatusCode int
	Header     http.Header
}
