package tasks

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"todo/platform/httpx"
)

// TestPatchMatchesRules runs every combination of a task's state, a PATCH
// body and the clock (past, at or behind the task's updated_at) through
// Update without If-Match, on both databases, and checks the result, and
// the row read back, against applyUpdate, the rules in Go. The clock at or
// behind updated_at takes the locked fallback; the others one statement.
func TestPatchMatchesRules(t *testing.T) {
	str := func(s string) httpx.Optional[string] { return httpx.Optional[string]{Set: true, Value: s} }
	null := httpx.Optional[string]{Set: true, Null: true}
	boolean := func(b bool) httpx.Optional[bool] { return httpx.Optional[bool]{Set: true, Value: b} }
	titles := []httpx.Optional[string]{{}, str("t"), str(" t "), str("new 😀 \"q\"")}
	descs := []httpx.Optional[string]{{}, null, str(""), str("d"), str("other")}
	completions := []httpx.Optional[bool]{{}, boolean(true), boolean(false)}
	clocks := []struct {
		name string
		skew time.Duration
	}{{"after", 1500 * time.Millisecond}, {"same", 0}, {"behind", -time.Second}}
	base := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)

	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var clock atomic.Pointer[time.Time]
			setClock := func(at time.Time) { clock.Store(&at) }
			setClock(base)
			e := newTestEnvWith(t, b.open(t), Deps{Now: func() time.Time { return *clock.Load() }})
			svc := e.mod.h.svc
			ctx := context.Background()
			uid := e.user(t)
			for _, done := range []bool{false, true} {
				for _, withDesc := range []bool{false, true} {
					for _, ck := range clocks {
						for _, title := range titles {
							for _, desc := range descs {
								for _, comp := range completions {
									in := UpdateInput{Title: title, Description: desc, Completed: comp}
									name := fmt.Sprintf("done=%v/desc=%v/clock=%s/%+v", done, withDesc, ck.name, in)
									cur := seedPatchTask(ctx, t, svc, uid, done, withDesc, setClock)
									now := cur.UpdatedAt.Add(ck.skew)
									setClock(now)
									got, err := svc.Update(ctx, uid, cur.ID, ifMatch{}, in)
									if err != nil {
										t.Fatalf("%s: %v", name, err)
									}
									valid, _ := in.validate()
									want, changed := applyUpdate(cur, valid, now)
									if !changed {
										want = cur
									}
									stored, err := svc.Get(ctx, uid, cur.ID)
									if err != nil {
										t.Fatalf("%s: get: %v", name, err)
									}
									for what, tk := range map[string]Task{"returned": got, "stored": stored} {
										if !sameTask(tk, want) || etagOf(tk) != etagOf(want) {
											t.Fatalf("%s: %s\n got %s\nwant %s", name, what, fmtTask(tk), fmtTask(want))
										}
									}
								}
							}
						}
					}
				}
			}
		})
	}
}

// seedPatchTask creates a task titled "t", with description "d" or none,
// completed or pending, at a clock a few seconds past the last one.
func seedPatchTask(ctx context.Context, t *testing.T, svc *service, uid string, done, withDesc bool, setClock func(time.Time)) Task {
	t.Helper()
	at := svc.now().Add(3 * time.Second)
	setClock(at)
	in := CreateInput{Title: "t"}
	if withDesc {
		d := "d"
		in.Description = &d
	}
	tk, err := svc.Create(ctx, uid, in)
	if err == nil && done {
		setClock(at.Add(time.Second))
		tk, err = svc.Toggle(ctx, uid, tk.ID, ifMatch{})
	}
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return tk
}

func sameTask(a, b Task) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.Title == b.Title && equalPtr(a.Description, b.Description) &&
		a.Completed == b.Completed && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		((a.CompletedAt == nil && b.CompletedAt == nil) || (a.CompletedAt != nil && b.CompletedAt != nil && a.CompletedAt.Equal(*b.CompletedAt)))
}

func fmtTask(t Task) string {
	return string(encodeTask(t))
}

// TestPatchMissing checks that a PATCH of a task that does not exist, or
// is another user's, is a 404 on the one-statement path.
func TestPatchMissing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newTestEnv(t, b)
			svc := e.mod.h.svc
			ctx := context.Background()
			owner, other := e.user(t), e.user(t)
			tk, err := svc.Create(ctx, owner, CreateInput{Title: "mine"})
			if err != nil {
				t.Fatal(err)
			}
			rename := UpdateInput{Title: httpx.Optional[string]{Set: true, Value: "x"}}
			for _, tc := range []struct {
				name string
				uid  string
				id   int64
				in   UpdateInput
			}{
				{"missing", owner, tk.ID + 1000, rename},
				{"foreign", other, tk.ID, rename},
				{"missing-empty-body", owner, tk.ID + 1000, UpdateInput{}},
				{"foreign-empty-body", other, tk.ID, UpdateInput{}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if _, err := svc.Update(ctx, tc.uid, tc.id, ifMatch{}, tc.in); !errors.Is(err, ErrTaskNotFound) {
						t.Fatalf("got %v, want ErrTaskNotFound", err)
					}
				})
			}
		})
	}
}
