package tasks

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"

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
	res, err := h.svc.CreateIdempotent(c.Request.Context(), uid, in, keys[0], requestHash(c, req), c.FullPath())
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

func writeTask(c *gin.Context, status int, t Task) error {
	c.Header("ETag", etagOf(t))
	r := toTaskResponse(t)
	httpx.JSON(c, status, &r)
	return nil
}

// requestHash identifies a create request for its Idempotency-Key: method,
// route and the body as decoded (before trimming), so that two bodies that
// differ only in JSON layout are the same request.
func requestHash(c *gin.Context, req createTaskRequest) string {
	h := sha256.New()
	writeField(h, []byte(c.Request.Method+" "+c.FullPath()))
	writeOptional(h, req.Title.Set, req.Title.Null, req.Title.Value)
	writeOptional(h, req.Description.Set, req.Description.Null, req.Description.Value)
	return hex.EncodeToString(h.Sum(nil))
}

func writeOptional(h hash.Hash, set, null bool, v string) {
	switch {
	case !set:
		h.Write([]byte{0})
	case null:
		h.Write([]byte{1})
	default:
		h.Write([]byte{2})
		writeField(h, []byte(v))
	}
}

func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
