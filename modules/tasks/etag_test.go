package tasks

import (
	"net/http"
	"testing"
	"time"

	"todo/platform/apitest"
)

// TestWritesClockNotPastUpdatedAt makes two writes that bring a task back
// to its first values (two toggles; completed true then false; a title and
// back) while the clock stands still at, or has gone back before, the
// task's updated_at. Every write must get a later updated_at and so a new
// ETag (writeTime's rule): otherwise the two writes give the task its first
// representation back, and an If-Match with the ETag from before them
// passes, a lost update. A toggle without If-Match stamped now as it was
// (found by a review: each case failed for the toggle).
func TestWritesClockNotPastUpdatedAt(t *testing.T) {
	writes := []struct {
		name  string
		write func(ce *clockEnv, uid string, id int64, i int) *apitest.Response
	}{
		{"toggle", func(ce *clockEnv, uid string, id int64, _ int) *apitest.Response {
			return ce.do(t, uid, http.MethodPost, taskPath(id)+"/toggle", nil)
		}},
		{"patch-completed", func(ce *clockEnv, uid string, id int64, i int) *apitest.Response {
			return ce.do(t, uid, http.MethodPatch, taskPath(id), map[string]any{"completed": i == 0})
		}},
		{"patch-title", func(ce *clockEnv, uid string, id int64, i int) *apitest.Response {
			return ce.do(t, uid, http.MethodPatch, taskPath(id), map[string]any{"title": []string{"y", "x"}[i]})
		}},
	}
	for _, b := range backends {
		for _, w := range writes {
			for _, back := range []time.Duration{0, time.Second} {
				t.Run(b.name+"/"+w.name+"/back-"+back.String(), func(t *testing.T) {
					ce := newClockEnv(t, b, 48*time.Hour)
					uid := ce.user(t)
					tk := ce.create(t, uid, "x")
					tag0 := ce.do(t, uid, http.MethodGet, taskPath(tk.ID), nil).Header.Get("ETag")
					ce.advance(-back)
					prev := tk.UpdatedAt
					for i := range 2 {
						res := w.write(ce, uid, tk.ID, i)
						wantStatus(t, res, http.StatusOK, "")
						var got taskJSON
						res.JSON(&got)
						pt, _ := time.Parse(time.RFC3339Nano, prev)
						gt, _ := time.Parse(time.RFC3339Nano, got.UpdatedAt)
						if !gt.After(pt) {
							t.Errorf("write %d: updated_at %s, not after the previous %s", i+1, got.UpdatedAt, prev)
						}
						prev = got.UpdatedAt
					}
					if tag := ce.do(t, uid, http.MethodGet, taskPath(tk.ID), nil).Header.Get("ETag"); tag == tag0 {
						t.Errorf("after two writes the ETag is the one before them (%s)", tag)
					}
					h := http.Header{}
					h.Set("If-Match", tag0)
					res := ce.do(t, uid, http.MethodPatch, taskPath(tk.ID), map[string]any{"title": "stale"}, h)
					if res.Status != http.StatusPreconditionFailed {
						t.Errorf("PATCH with the ETag from before two writes: status %d, want 412", res.Status)
					}
				})
			}
		}
	}
}
