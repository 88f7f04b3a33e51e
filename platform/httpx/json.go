package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// JSON writes v as application/json with status code. It encodes into a
// pooled buffer, so a failed encoding never leaves half a body on the wire,
// and sets Content-Length.
func JSON(c *gin.Context, code int, v any) {
	c.Header("Content-Type", "application/json")
	c.Status(code)
	writeJSONBody(c, v)
}

func writeJSONBody(c *gin.Context, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		c.Writer.Header().Set("Content-Type", "application/problem+json")
		c.Status(http.StatusInternalServerError)
		buf.Reset()
		buf.WriteString(`{"type":"about:blank","title":"Internal Server Error","status":500,"code":"internal"}`)
	}
	body := buf.Bytes()
	if n := len(body); n > 0 && body[n-1] == '\n' {
		body = body[:n-1]
	}
	c.Writer.Header().Set("Content-Length", itoa(len(body)))
	_, _ = c.Writer.Write(body)
}
