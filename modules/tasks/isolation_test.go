package tasks

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"todo/platform/apitest"
)

// TestIsolation sends every endpoint at another user's task: each is a 404,
// exactly like a missing task, and the task is unchanged afterwards.
func TestIsolation(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, b)
			owner, intruder := e.user(t), e.user(t)
			victim := e.create(t, owner, "mine")
			e.do(t, owner, http.MethodPost, taskPath(victim.ID)+"/toggle", nil)
			e.create(t, intruder, "theirs")
			tag := e.do(t, owner, http.MethodGet, taskPath(victim.ID), nil).Header.Get("ETag")
			p := taskPath(victim.ID)
			cases := []struct {
				name, method, path string
				body               any
				header             http.Header
			}{
				{"get", "GET", p, nil, nil},
				{"patch", "PATCH", p, `{"title":"stolen"}`, nil},
				{"patch-invalid", "PATCH", p, `{"title":""}`, apitest.Mismatch("an empty title")},
				{"patch-if-match", "PATCH", p, `{"title":"stolen"}`, http.Header{"If-Match": {tag}}},
				{"patch-star", "PATCH", p, `{"completed":false}`, http.Header{"If-Match": {"*"}}},
				{"toggle", "POST", p + "/toggle", nil, nil},
				{"toggle-if-match", "POST", p + "/toggle", nil, http.Header{"If-Match": {tag}}},
				{"delete", "DELETE", p, nil, nil},
				{"delete-if-match", "DELETE", p, nil, http.Header{"If-Match": {"*"}}},
			}
			for _, tc := range cases {
				t.Run(tc.name+"/404", func(t *testing.T) {
					before := e.row(t, victim.ID)
					h := http.Header{}
					for k, v := range tc.header {
						h[k] = v
					}
					wantStatus(t, e.do(t, intruder, tc.method, tc.path, tc.body, h), http.StatusNotFound, "not_found")
					if after := e.row(t, victim.ID); !reflect.DeepEqual(before, after) {
						t.Fatalf("foreign task changed: %+v → %+v", before, after)
					}
				})
			}
			t.Run("list-and-stats-exclude", func(t *testing.T) {
				for _, st := range []string{"all", "pending", "completed"} {
					res := e.do(t, intruder, http.MethodGet, "/api/v1/tasks?status="+st, nil)
					if strings.Contains(string(res.Body), `"mine"`) {
						t.Fatalf("%s list shows the foreign task: %s", st, res.Body)
					}
				}
				res := e.do(t, intruder, http.MethodGet, "/api/v1/tasks/stats", nil)
				if string(res.Body) != `{"total":1,"pending":1,"completed":0}` {
					t.Fatalf("stats %s", res.Body)
				}
			})
		})
	}
}

// row reads a task straight from the database.
func (e *testEnv) row(t testing.TB, id int64) Task {
	t.Helper()
	rows := e.readTasks(t, `"id" = $1`, id)
	if len(rows) != 1 {
		t.Fatalf("read task %d: %d rows", id, len(rows))
	}
	return rows[0]
}
