package tasks

import (
	"net/url"
	"strconv"

	"todo/platform/apperr"
	"todo/platform/httpx"
)

const (
	defaultLimit        = 20
	maxLimit            = 100
	defaultChangesLimit = 500
	maxChangesLimit     = 1000
	maxKeyLen           = 255
)

// parseID accepts only a canonical positive decimal int64 ("1", never
// "01", "+1" or "1e3"); anything else is reported as not found.
func parseID(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return id, true
}

// listQuery is the parsed query of GET /tasks.
type listQuery struct {
	Status    Status
	Limit     int
	Cursor    string
	HasCursor bool
}

// parseListQuery reads status and limit, reporting every bad one in one 422.
// The cursor is checked later, by the service, against the user and status.
func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{Status: StatusAll, Limit: defaultLimit}
	var fields []apperr.FieldError
	if vs, ok := q["status"]; ok {
		switch st := Status(vs[0]); st {
		case StatusAll, StatusPending, StatusCompleted:
			lq.Status = st
		default:
			fields = append(fields, apperr.FieldError{Field: "status", Message: "must be one of all, pending, completed"})
		}
	}
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > maxLimit {
			fields = append(fields, apperr.FieldError{Field: "limit", Message: "must be a whole number from 1 to 100"})
		} else {
			lq.Limit = n
		}
	}
	if vs, ok := q["cursor"]; ok {
		lq.Cursor, lq.HasCursor = vs[0], true
	}
	if len(fields) > 0 {
		return lq, apperr.Validation(fields...)
	}
	return lq, nil
}

// changesQuery is the parsed query of GET /tasks/changes.
type changesQuery struct {
	Limit    int
	Since    string
	HasSince bool
}

// parseChangesQuery reads limit, reporting a bad one as a 422. The since
// token is checked later, by the service, against the user.
func parseChangesQuery(q url.Values) (changesQuery, error) {
	cq := changesQuery{Limit: defaultChangesLimit}
	if vs, ok := q["since"]; ok {
		cq.Since, cq.HasSince = vs[0], true
	}
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > maxChangesLimit {
			return cq, apperr.Validation(apperr.FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		}
		cq.Limit = n
	}
	return cq, nil
}

// checkIdempotencyKey validates an Idempotency-Key header that was sent.
func checkIdempotencyKey(key string) []apperr.FieldError {
	if len(key) < 1 || len(key) > maxKeyLen || !httpx.VisibleASCII(key) {
		return []apperr.FieldError{{Field: "Idempotency-Key", Message: "must be 1 to 255 visible ASCII characters"}}
	}
	return nil
}
