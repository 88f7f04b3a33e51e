package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// JSONAppender is a value that writes its own JSON encoding, without
// reflection: AppendJSON appends to b the bytes encoding/json would write
// for it (with HTML escaping off, no trailing newline) and returns the
// extended slice. It must produce valid JSON and cannot fail.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// JSON writes v as application/json with status code. It encodes into a
// pooled buffer, so a failed encoding never leaves half a body on the wire,
// and sets Content-Length. A v that implements JSONAppender encodes itself;
// anything else goes through encoding/json with HTML escaping off.
func JSON(c *gin.Context, code int, v any) {
	SetJSONType(c.Writer.Header())
	c.Status(code)
	writeJSONBody(c, v)
}

func writeJSONBody(c *gin.Context, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := encodeJSON(buf, v); err != nil {
		c.Writer.Header().Set("Content-Type", "application/problem+json")
		c.Status(http.StatusInternalServerError)
		buf.Reset()
		buf.WriteString(`{"type":"about:blank","title":"Internal Server Error","status":500,"code":"internal"}`)
	}
	body := buf.Bytes()
	c.Writer.Header().Set("Content-Length", itoa(len(body)))
	_, _ = c.Writer.Write(body)
}

// encodeJSON writes v's JSON encoding to buf, without a trailing newline.
func encodeJSON(buf *bytes.Buffer, v any) error {
	if a, ok := v.(JSONAppender); ok {
		// AvailableBuffer shares buf's spare capacity, so a pooled buffer
		// that has grown once is written in place.
		buf.Write(a.AppendJSON(buf.AvailableBuffer()))
		return nil
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}
