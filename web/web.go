// Package web serves the browser client: one HTML page and the scripts,
// style sheet and icon it loads, all embedded in the binary from static/.
// The client is plain ES modules with no build step; it talks to the server
// only through the public REST contract under /api/v1, like any other client.
//
// The page answers at every path in Pages, so a reload or a link from a mail
// (/reset-password?token=…) opens the right view. Its assets are served under
// /assets/VERSION/NAME, where VERSION is a hash of every embedded file: those
// answers are cached for a year as immutable, and the page itself is
// revalidated on every load (no-cache with an ETag), so a new binary's page
// points at new asset URLs at once. Every file is gzipped once, when the
// routes are mounted, and sent compressed to clients that accept gzip.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var static embed.FS

// Pages are the paths that serve the page; the client picks the view from
// the path. Any other path outside the API is the server's 404.
var Pages = []string{"/", "/account", "/reset-password", "/verify-email"}

// CSP is the page's Content-Security-Policy: scripts, styles, images and API
// calls from this origin only, no inline script or style, no plugins, no
// framing, no form submission by the browser (the client submits with fetch),
// and Trusted Types required with no policy allowed, so no string can become
// HTML or script through a DOM sink.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

const (
	cachePage   = "no-cache"
	cacheAsset  = "public, max-age=31536000, immutable"
	indexName   = "index.html"
	assetPrefix = "/assets/"
)

// types are the Content-Types of the files under static/ by extension; a
// file with another extension makes Mount panic, so nothing is served with a
// guessed type.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one answer, ready to send.
type file struct {
	ctype string
	plain []byte
	gz    []byte // nil when gzip would not make it smaller
	etag  string
}

// site is the embedded client, prepared once.
type site struct {
	version string
	page    *file
	assets  map[string]*file
}

// Mount registers GET for every path in Pages and for /assets/:version/*name
// on r, which should be the engine's root (an httpx.Engine, which answers HEAD
// on every GET route). notFound
// answers a request for an asset that does not exist (or of another
// version); pass the handler the engine gives unknown routes, so that every
// 404 is the same problem+json. It panics if the embedded files cannot be
// prepared, which is a build defect.
func Mount(r gin.IRoutes, notFound gin.HandlerFunc) {
	if notFound == nil {
		panic("web.Mount: notFound is nil")
	}
	s, err := load(static)
	if err != nil {
		panic("web.Mount: " + err.Error())
	}
	for _, p := range Pages {
		r.GET(p, s.servePage)
	}
	r.GET(assetPrefix+":version/*name", s.serveAsset(notFound))
}

// load reads every file of fsys's static/ directory, names the version after
// their contents, points the page's asset references at that version and
// compresses everything.
func load(fsys fs.FS) (*site, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, err
	}
	raw := map[string][]byte{}
	h := sha256.New()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			return nil, fmt.Errorf("static/%s: a directory; the assets are served flat", name)
		}
		if _, ok := types[path.Ext(name)]; !ok {
			return nil, fmt.Errorf("static/%s: no Content-Type for %q", name, path.Ext(name))
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, err
		}
		raw[name] = b
		// ReadDir sorts by name, so the hash does not depend on the order
		// of the embedded directory.
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	index, ok := raw[indexName]
	if !ok {
		return nil, fmt.Errorf("static/%s is missing", indexName)
	}
	s := &site{version: hex.EncodeToString(h.Sum(nil))[:16], assets: map[string]*file{}}
	// The page names its assets "/assets/NAME"; each gets the version.
	index = bytes.ReplaceAll(index, []byte(`"`+assetPrefix), []byte(`"`+assetPrefix+s.version+"/"))
	if s.page, err = prepare(indexName, index); err != nil {
		return nil, err
	}
	s.page.etag = `"` + s.version + `"`
	for name, b := range raw {
		if name == indexName {
			continue
		}
		if s.assets[name], err = prepare(name, b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func prepare(name string, b []byte) (*file, error) {
	f := &file{ctype: types[path.Ext(name)], plain: b}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() < len(b) {
		f.gz = buf.Bytes()
	}
	return f, nil
}

func (s *site) servePage(c *gin.Context) {
	h := c.Writer.Header()
	// Replaces the API's "default-src 'none'" that the shared middleware set.
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", cachePage)
	h.Set("ETag", s.page.etag)
	if etagMatches(c.GetHeader("If-None-Match"), s.page.etag) {
		h.Add("Vary", "Accept-Encoding")
		c.Status(http.StatusNotModified)
		return
	}
	send(c, s.page)
}

func (s *site) serveAsset(notFound gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("name"), "/")
		f, ok := s.assets[name]
		if !ok || c.Param("version") != s.version {
			notFound(c)
			return
		}
		c.Header("Cache-Control", cacheAsset)
		send(c, f)
	}
}

// send writes f, gzipped when the client accepts it.
func send(c *gin.Context, f *file) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.ctype)
	body := f.plain
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			body = f.gz
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(body) // dropped by net/http for a HEAD
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip: listed
// as gzip or *, with a q-value that is not zero.
func acceptsGzip(header string) bool {
	gz, star := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gz = q
		case "*":
			star = q
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}

// etagMatches reports whether an If-None-Match value names etag (weakly, as
// RFC 9110 wants for If-None-Match) or is "*".
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
