package tasks

import (
	"net/http"
	"testing"
)

func TestSmoke(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			u := e.user(t)
			a := e.create(t, u, "a")
			res := e.do(t, u, http.MethodPost, taskPath(a.ID)+"/toggle", nil)
			wantStatus(t, res, 200, "")
			t.Logf("%s", res.Body)
			res = e.do(t, u, http.MethodGet, "/api/v1/tasks?limit=1&status=completed", nil)
			wantStatus(t, res, 200, "")
			t.Logf("%s", res.Body)
			res = e.do(t, u, http.MethodGet, "/api/v1/tasks/stats", nil)
			t.Logf("%s", res.Body)
			res = e.do(t, u, http.MethodPatch, taskPath(a.ID), map[string]any{"title": "b", "completed": false}, http.Header{"If-Match": {res.Header.Get("ETag")}})
			t.Logf("%d %s", res.Status, res.Body)
		})
	}
}
