package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// etagOf is the task's strong ETag: a hash of its JSON representation,
// the bytes a single-task response sends, so that it changes whenever any
// field a client sees changes, a field added later included. updated_at
// alone would do but for two writes in one microsecond.
func etagOf(t Task) string {
	return etagOfBody(encodeTask(t))
}

// etagOfBody is the ETag of a single-task response body.
func etagOfBody(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// ifMatch is a parsed If-Match header. The zero value (header absent) is no
// precondition.
type ifMatch struct {
	present bool
	any     bool     // *
	tags    []string // strong tags, quotes included
}

// parseIfMatch parses If-Match (RFC 9110 §13.1.1): "*" or a comma-separated
// list of entity tags. Weak tags are dropped, since If-Match compares
// strongly; a malformed member matches nothing.
func parseIfMatch(values []string) ifMatch {
	if len(values) == 0 {
		return ifMatch{}
	}
	m := ifMatch{present: true}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			switch {
			case part == "*":
				m.any = true
			case strings.HasPrefix(part, "W/"):
			case len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' && validETagChars(part[1:len(part)-1]):
				m.tags = append(m.tags, part)
			}
		}
	}
	return m
}

func validETagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

// matches reports whether the precondition holds for a task whose current
// ETag is etag.
func (m ifMatch) matches(etag string) bool {
	if !m.present || m.any {
		return true
	}
	for _, t := range m.tags {
		if t == etag {
			return true
		}
	}
	return false
}
