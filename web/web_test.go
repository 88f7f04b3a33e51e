package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/apitest"
	"todo/platform/config"
	"todo/platform/httpx"
)

// engine mounts the web routes on the server's engine: its request ids, the
// API's CSP, problem+json 404s and HEAD on every GET route.
func engine(t *testing.T) *httpx.Engine {
	t.Helper()
	e, err := httpx.NewEngine(config.HTTP{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	Mount(e, httpx.NotFound)
	return e
}

func mustLoad(t *testing.T) *site {
	t.Helper()
	s, err := load(static)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPages(t *testing.T) {
	s := apitest.New(t, engine(t))
	site := mustLoad(t)
	for _, p := range Pages {
		t.Run("GET"+p, func(t *testing.T) {
			// The mailed links carry ?token=…, which the page itself
			// ignores (the view reads it in the browser) and the document
			// does not declare.
			res := s.Do(http.MethodGet, p+"?token=abc", nil, apitest.Mismatch("an undeclared query the page ignores"))
			if res.Status != http.StatusOK {
				t.Fatalf("got %d, want 200", res.Status)
			}
			h := res.Header
			if got := h.Get("Content-Security-Policy"); got != CSP {
				t.Errorf("CSP: got %q, want the page's own %q", got, CSP)
			}
			if got := h.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control: got %q, want no-cache", got)
			}
			if got, want := h.Get("ETag"), `"`+site.version+`"`; got != want {
				t.Errorf("ETag: got %q, want %q", got, want)
			}
			if !bytes.Contains(res.Body, []byte(`<script type="module" src="/assets/`+site.version+`/main.js">`)) {
				t.Errorf("the page does not load main.js of this version:\n%s", res.Body)
			}
		})
		t.Run("HEAD"+p, func(t *testing.T) {
			res := s.Do(http.MethodHead, p, nil)
			if res.Status != http.StatusOK || len(res.Body) != 0 {
				t.Fatalf("got %d with %d bytes, want 200 and no body", res.Status, len(res.Body))
			}
			if res.Header.Get("Content-Security-Policy") != CSP || res.Header.Get("Content-Length") == "" {
				t.Errorf("headers: %v", res.Header)
			}
		})
		t.Run("304"+p, func(t *testing.T) {
			for _, inm := range []string{`"` + site.version + `"`, `W/"` + site.version + `"`, `"x", "` + site.version + `"`, "*"} {
				res := s.Do(http.MethodGet, p, nil, hdr("If-None-Match", inm))
				if res.Status != http.StatusNotModified || len(res.Body) != 0 {
					t.Errorf("If-None-Match %s: got %d with %d bytes, want 304 and no body", inm, res.Status, len(res.Body))
				}
			}
			if res := s.Do(http.MethodGet, p, nil, hdr("If-None-Match", `"0000000000000000"`)); res.Status != http.StatusOK {
				t.Errorf("an old version: got %d, want 200", res.Status)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	s := apitest.New(t, engine(t))
	site := mustLoad(t)
	if len(site.assets) < 5 {
		t.Fatalf("%d assets embedded", len(site.assets))
	}
	for name, f := range site.assets {
		url := "/assets/" + site.version + "/" + name
		t.Run("gzip/"+name, func(t *testing.T) {
			res := s.Do(http.MethodGet, url, nil, hdr("Accept-Encoding", "br, gzip;q=0.8"))
			if res.Status != http.StatusOK {
				t.Fatalf("got %d", res.Status)
			}
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control: %q", got)
			}
			if got, want := res.Header.Get("Content-Type"), types[path.Ext(name)]; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			body := res.Body
			if f.gz != nil {
				if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
					t.Fatalf("not gzipped: %v", res.Header)
				}
				body = gunzip(t, body)
			}
			if !bytes.Equal(body, f.plain) {
				t.Error("the body is not the embedded file")
			}
		})
		t.Run("plain/"+name, func(t *testing.T) {
			res := s.Do(http.MethodGet, url, nil, hdr("Accept-Encoding", "gzip;q=0, identity"))
			if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(res.Body, f.plain) {
				t.Errorf("a client that refuses gzip got %q encoding", res.Header.Get("Content-Encoding"))
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		res := s.Do(http.MethodHead, "/assets/"+site.version+"/main.js", nil)
		if res.Status != http.StatusOK || len(res.Body) != 0 || res.Header.Get("Content-Type") != types[".js"] {
			t.Errorf("got %d, %d bytes, %v", res.Status, len(res.Body), res.Header)
		}
	})
	for _, p := range []string{
		"/assets/" + site.version + "/nope.js",
		"/assets/" + site.version + "/index.html",
		"/assets/" + site.version + "/",
		"/assets/" + site.version + "/sub/main.js",
		"/assets/" + site.version + "/..%2fweb.go",
		"/assets/0000000000000000/main.js",
		"/assets/main.js",
		"/index.html",
		"/favicon.ico",
	} {
		t.Run("404"+p, func(t *testing.T) {
			res := s.Do(http.MethodGet, p, nil)
			if res.Status != http.StatusNotFound {
				t.Fatalf("got %d, want 404", res.Status)
			}
			if p := res.Problem(); p.Code != "not_found" {
				t.Errorf("code: got %q, want not_found", p.Code)
			}
			if res.Header.Get("Content-Security-Policy") == CSP {
				t.Error("a 404 got the page's CSP")
			}
		})
	}
}

// TestPageLoadsEveryAsset: the page names every script (as the entry point or
// a modulepreload, so none waits for another to be parsed), the style sheet
// and the icon; nothing refers to another host.
func TestPageLoadsEveryAsset(t *testing.T) {
	site := mustLoad(t)
	page := string(site.page.plain)
	refs := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:src|href)="/assets/`+site.version+`/([^"]+)"`).FindAllStringSubmatch(page, -1) {
		refs[m[1]] = true
	}
	for name := range site.assets {
		if !refs[name] {
			t.Errorf("index.html does not load %s", name)
		}
	}
	for name := range refs {
		if site.assets[name] == nil {
			t.Errorf("index.html loads %s, which is not embedded", name)
		}
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]`)
	for name, f := range site.assets {
		text := strings.ReplaceAll(string(f.plain), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another host: %s", name, m)
		}
	}
	if m := external.FindString(page); m != "" {
		t.Errorf("index.html refers to another host: %s", m)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") || strings.Contains(page, "<style") {
		t.Error("index.html has inline script or style, which the CSP refuses")
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a, err := load(fstest.MapFS{
		"static/index.html": {Data: []byte(`<script src="/assets/a.js"></script>`)},
		"static/a.js":       {Data: []byte("1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := load(fstest.MapFS{
		"static/index.html": {Data: []byte(`<script src="/assets/a.js"></script>`)},
		"static/a.js":       {Data: []byte("2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.version == b.version {
		t.Error("a changed asset kept the version")
	}
	if want := `<script src="/assets/` + a.version + `/a.js"></script>`; string(a.page.plain) != want {
		t.Errorf("page: got %s, want %s", a.page.plain, want)
	}
	if a.assets["a.js"].gz != nil {
		t.Error("a one-byte file was gzipped, which makes it bigger")
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no-index":      {"static/a.js": {Data: []byte("1")}},
		"unknown-type":  {"static/index.html": {}, "static/a.wasm": {}},
		"subdirectory":  {"static/index.html": {}, "static/sub/a.js": {}},
		"no-static-dir": {"other/index.html": {}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(fsys); err == nil {
				t.Error("load accepted it")
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                         false,
		"gzip":                     true,
		"GZIP":                     true,
		"br, gzip, deflate":        true,
		"gzip;q=0":                 false,
		"gzip; q=0.001":            true,
		"gzip;q=0, *":              false,
		"*":                        true,
		"*;q=0":                    false,
		"identity":                 false,
		"x-gzip":                   true,
		"gzip;q=bogus":             false,
		"gzip;q=2":                 false,
		"deflate, *;q=0.5, gzip;q": false, // a weight with no value counts as 0
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestMountNeedsNotFound(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Mount with a nil notFound did not panic")
		}
	}()
	Mount(gin.New(), nil)
}

func hdr(k, v string) http.Header { return http.Header{k: {v}} }

// TestFirstLoadBudget: everything a first visit downloads (the page and
// every asset it names, as sent to a browser that accepts gzip) stays under
// 100 KB. Run with -v to see the figure.
func TestFirstLoadBudget(t *testing.T) {
	site := mustLoad(t)
	sent := func(f *file) int {
		if f.gz != nil {
			return len(f.gz)
		}
		return len(f.plain)
	}
	total, plain := sent(site.page), len(site.page.plain)
	for _, f := range site.assets {
		total += sent(f)
		plain += len(f.plain)
	}
	t.Logf("first load: %d bytes gzipped (%d uncompressed) in %d files", total, plain, len(site.assets)+1)
	if total > 100_000 {
		t.Errorf("first load is %d bytes gzipped, over the 100 KB budget", total)
	}
}
