package tasks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"todo/platform/apperr"
	"todo/platform/httpx"
)

// handler is the HTTP side of the module: it parses, calls the service and
// writes; the rules live in the service.
type handler struct {
	svc  *service
	bind *httpx.Binder
}

func (h *handler) list(c *gin.Context) error {
	uid := httpx.MustPrincipal(c).UserID
	// URL.Query drops pairs it cannot decode; a malformed query string is a
	// 400, not a silent default.
	vals, perr := url.ParseQuery(c.Request.URL.RawQuery)
	if perr != nil {
		return ErrMalformedQuery
	}
	q, qerr := parseListQuery(vals)
	// A bad cursor (400) outranks a bad status or limit (422).
	after, err := h.svc.Position(uid, q)
	if err != nil {
		return err
	}
	if qerr != nil {
		return qerr
	}
	page, err := h.svc.List(c.Request.Context(), uid, q.Status, after, q.Limit)
	if err != nil {
		return err
	}
	r := toListResponse(page)
	httpx.JSON(c, http.StatusOK, &r)
	return nil
}

func (h *handler) changes(c *gin.Context) error {
	uid := httpx.MustPrincipal(c).UserID
	vals, perr := url.ParseQuery(c.Request.URL.RawQuery)
	if perr != nil {
		return ErrMalformedQuery
	}
	q, qerr := parseChangesQuery(vals)
	// A bad token (400) outranks a bad limit (422); an expired one (410)
	// is decided by the service.
	since, err := h.svc.SyncPosition(uid, q)
	if err != nil {
		return err
	}
	if qerr != nil {
		return qerr
	}
	page, err := h.svc.Changes(c.Request.Context(), uid, since, q.Limit)
	if err != nil {
		return err
	}
	r := toChangesResponse(page)
	httpx.JSON(c, http.StatusOK, &r)
	return nil
}

func (h *handler) stats(c *gin.Context) error {
	st, err := h.svc.Stats(c.Request.Context(), httpx.MustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	httpx.JSON(c, http.StatusOK, st)
	return nil
}

func (h *handler) get(c *gin.Context) error {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return ErrTaskNotFound
	}
	t, err := h.svc.Get(c.Request.Context(), httpx.MustPrincipal(c).UserID, id)
	if err != nil {
		return err
	}
	return writeTask(c, http.StatusOK, t)
}

func (h *handler) create(c *gin.Context) error {
	var req createTaskRequest
	if err := h.bind.Decode(c, &req); err != nil {
		return err
	}
	uid := httpx.MustPrincipal(c).UserID
	in, fields := req.input()
	keys, withKey := c.Request.Header["Idempotency-Key"]
	if withKey {
		fields = append(checkIdempotencyKey(keys[0]), fields...)
	}
	if len(fields) > 0 {
		return apperr.Validation(fields...)
	}
	if !withKey {
		t, err := h.svc.Create(c.Request.Context(), uid, in)
		if err != nil {
			return err
		}
		c.Header("Location", c.FullPath()+"/"+itoa(t.ID))
		return writeTask(c, http.StatusCreated, t)
	}
	res, err := h.svc.CreateIdempotent(c.Request.Context(), uid, in, keys[0], requestHash(c, req), legacyRequestHash(c.Request.Method+" "+c.FullPath(), req), c.FullPath())
	if err != nil {
		return err
	}
	c.Header("Location", res.Location)
	c.Header("ETag", res.ETag)
	c.Data(res.Status, "application/json", res.Body)
	return nil
}

func (h *handler) update(c *gin.Context) error {
	var req updateTaskRequest
	// A malformed body (400) outranks a bad id (404).
	if err := h.bind.Decode(c, &req); err != nil {
		return err
	}
	id, ok := parseID(c.Param("id"))
	if !ok {
		return ErrTaskNotFound
	}
	t, err := h.svc.Update(c.Request.Context(), httpx.MustPrincipal(c).UserID, id,
		parseIfMatch(c.Request.Header.Values("If-Match")), req.input())
	if err != nil {
		return err
	}
	return writeTask(c, http.StatusOK, t)
}

func (h *handler) toggle(c *gin.Context) error {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return ErrTaskNotFound
	}
	t, err := h.svc.Toggle(c.Request.Context(), httpx.MustPrincipal(c).UserID, id,
		parseIfMatch(c.Request.Header.Values("If-Match")))
	if err != nil {
		return err
	}
	return writeTask(c, http.StatusOK, t)
}

func (h *handler) delete(c *gin.Context) error {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return ErrTaskNotFound
	}
	err := h.svc.Delete(c.Request.Context(), httpx.MustPrincipal(c).UserID, id,
		parseIfMatch(c.Request.Header.Values("If-Match")))
	if err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// writeTask sends a task with its ETag, the hash of the very bytes sent.
func writeTask(c *gin.Context, status int, t Task) error {
	buf := bodyPool.Get().(*[]byte)
	body := toTaskResponse(t).AppendJSON((*buf)[:0])
	h := c.Writer.Header()
	h["Etag"] = []string{etagOfBody(body)} // the canonical key: Header.Set's work without it
	httpx.SetJSONType(h)
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	c.Status(status)
	_, _ = c.Writer.Write(body)
	*buf = body
	bodyPool.Put(buf)
	return nil
}

// bodyPool recycles the buffers writeTask encodes into.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// requestHash identifies a create request for its Idempotency-Key: the
// method, the route and the whole body as decoded (before trimming), in a
// canonical JSON form, so that two bodies that differ only in layout, key
// order or escapes are the same request, and a body that differs in any
// field, one added later included, is another.
func requestHash(c *gin.Context, req createTaskRequest) string {
	h := sha256.New()
	h.Write([]byte(c.Request.Method + " " + c.FullPath() + "\n"))
	h.Write(canonicalJSON(req))
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON writes a request struct of httpx.Optional fields as a JSON
// object of the fields that were present, null or their value, keyed by
// their JSON names in sorted order (encoding/json sorts a map's keys).
func canonicalJSON(req any) []byte {
	v := reflect.ValueOf(req)
	fields := make(map[string]any, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		switch {
		case !f.FieldByName("Set").Bool():
		case f.FieldByName("Null").Bool():
			fields[name] = nil
		default:
			fields[name] = f.FieldByName("Value").Interface()
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		// Every value was decoded from JSON, so it encodes back.
		panic("canonical request: " + err.Error())
	}
	return b
}

// legacyRequestHash is the hash that keys recorded before requestHash
// hashed the whole body carry (title and description, field by field), so
// that a retry across an upgrade is still a replay. It is needed only while
// such keys live (IDEMPOTENCY_TTL after the upgrade) and takes no new field.
func legacyRequestHash(route string, req createTaskRequest) string {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(route))
	for _, o := range []httpx.Optional[string]{req.Title, req.Description} {
		switch {
		case !o.Set:
			h.Write([]byte{0})
		case o.Null:
			h.Write([]byte{1})
		default:
			h.Write([]byte{2})
			field([]byte(o.Value))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
