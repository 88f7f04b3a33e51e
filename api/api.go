// Package api holds the REST contract as code: the OpenAPI document
// (openapi.yaml) and a Swagger UI page that renders it, both embedded in the
// binary so /openapi.yaml and /docs work with no internet access.
//
// The Swagger UI files in docs/ are copied from the swagger-ui-dist version
// pinned in package.json; refresh them with `npm ci && npm run vendor`.
package api

import (
	"bytes"
	"embed"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed openapi.yaml
var spec []byte

//go:embed docs/index.html
var docsPage []byte

//go:embed docs
var docs embed.FS

// Spec returns the OpenAPI 3 document (YAML) of the contract.
func Spec() []byte { return bytes.Clone(spec) }

// assetTypes maps the extensions of the files under docs/ to the Content-Type
// they are served with; a file with any other extension (index.html
// included, which is served at /docs) is not served. LICENSE and NOTICE have none.
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".png": "image/png",
	".txt": "text/plain; charset=utf-8",
	"":     "text/plain; charset=utf-8",
}

// Mount registers GET /openapi.yaml, GET /docs and GET /docs/*asset on r,
// which should be the engine's root: the docs page refers to its assets by
// absolute path. notFound answers a request for an asset that does not
// exist; pass the handler the engine gives unknown routes, so that every 404
// is the same problem+json.
func Mount(r gin.IRouter, notFound gin.HandlerFunc) {
	if notFound == nil {
		panic("api.Mount: notFound is nil")
	}
	r.GET("/openapi.yaml", serveSpec)
	r.GET("/docs", serveDocsPage)
	r.GET("/docs/*asset", serveAsset(notFound))
}

func serveSpec(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", spec)
}

func serveDocsPage(c *gin.Context) {
	c.Data(http.StatusOK, "text/html; charset=utf-8", docsPage)
}

func serveAsset(notFound gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("asset"), "/")
		ctype, known := assetTypes[path.Ext(name)]
		if !known || name == "" || strings.Contains(name, "/") {
			notFound(c)
			return
		}
		body, err := docs.ReadFile("docs/" + name)
		if err != nil {
			notFound(c)
			return
		}
		c.Data(http.StatusOK, ctype, body)
	}
}
