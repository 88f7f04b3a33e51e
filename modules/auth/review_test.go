package auth

import (
	"net/http"
	"testing"

	"todo/platform/apitest"
)

// TestRevokeSessionMalformedIDIs404: a session id PostgreSQL cannot take as
// text (invalid UTF-8, NUL) is no such session, a 404, not a 500.
func TestRevokeSessionMalformedIDIs404(t *testing.T) {
	e := pgEnv(t)
	s := e.server(t)
	p := register(t, s, "malformed-sid@example.com")
	for _, id := range []string{"%ff", "%c3%28", "%00", "not-a-uuid"} {
		r := s.Do("DELETE", "/api/v1/users/me/sessions/"+id, nil, apitest.Bearer(p.AccessToken))
		expectProblem(t, r, http.StatusNotFound, "not_found")
	}
}
