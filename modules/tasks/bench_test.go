package tasks

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/config"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

// BenchmarkListPage measures one list page (GET /api/v1/tasks, 20 items,
// through the Gin engine) for a user with 100 tasks and for one with
// 100,000, interleaved in one run, and reports the median and p99 of each
// and the ratio big/small; keyset pages on the right index keep it near 1.
//
//	go test -run '^$' -bench BenchmarkListPage -benchtime 2000x ./modules/tasks/
func BenchmarkListPage(b *testing.B) {
	e, env := benchEngine(b)
	db := env.db
	small, big := env.user(b), env.user(b)
	seedUser(b, db, small, 100)
	seedUser(b, db, big, 100_000)
	seedUser(b, db, env.user(b), 100_000)
	if _, err := db.SQL.Exec("ANALYZE tasks"); err != nil {
		b.Fatal(err)
	}
	page := func(uid string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/tasks?limit=20", nil)
		req.Header.Set(testUserHeader, uid)
		rec := httptest.NewRecorder()
		start := time.Now()
		e.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return d
	}
	for range 50 { // warm the pool and the statement caches
		page(small)
		page(big)
	}
	smallD := make([]time.Duration, 0, b.N)
	bigD := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			smallD = append(smallD, page(small))
			bigD = append(bigD, page(big))
		} else {
			bigD = append(bigD, page(big))
			smallD = append(smallD, page(small))
		}
	}
	b.StopTimer()
	sm, sp := quantiles(smallD)
	bm, bp := quantiles(bigD)
	b.ReportMetric(float64(sm.Microseconds()), "small-median-µs")
	b.ReportMetric(float64(sp.Microseconds()), "small-p99-µs")
	b.ReportMetric(float64(bm.Microseconds()), "big-median-µs")
	b.ReportMetric(float64(bp.Microseconds()), "big-p99-µs")
	b.ReportMetric(float64(bm)/float64(sm), "median-ratio")
	b.ReportMetric(float64(bp)/float64(sp), "p99-ratio")
}

func quantiles(ds []time.Duration) (median, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

// BenchmarkHandlers measures one request of each hot endpoint through the
// Gin engine on PostgreSQL, for CPU and allocations per request:
//
//	go test -run '^$' -bench BenchmarkHandlers -benchmem -count 5 ./modules/tasks/
func BenchmarkHandlers(b *testing.B) {
	e, env := benchEngine(b)
	db := env.db
	uid := env.user(b)
	seedUser(b, db, uid, 100)
	var id int64
	if err := db.SQL.QueryRow(`SELECT max(id) FROM tasks WHERE user_id = $1`, uid).Scan(&id); err != nil {
		b.Fatal(err)
	}
	serve := func(b *testing.B, method, path, body string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		req.Header.Set(testUserHeader, uid)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
		}
	}
	path := "/api/v1/tasks/" + strconv.FormatInt(id, 10)
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			serve(b, http.MethodGet, path, "")
		}
	})
	b.Run("list20", func(b *testing.B) {
		for b.Loop() {
			serve(b, http.MethodGet, "/api/v1/tasks?limit=20", "")
		}
	})
	b.Run("patch", func(b *testing.B) {
		bodies := [2]string{`{"title":"a","completed":true}`, `{"title":"b","completed":false}`}
		i := 0
		for b.Loop() {
			serve(b, http.MethodPatch, path, bodies[i%2])
			i++
		}
	})
}

// benchEngine serves the module on a fresh PostgreSQL database through the
// Gin engine, behind the test authentication.
func benchEngine(b *testing.B) (*httpx.Engine, *testEnv) {
	db := dbtest.New(b)
	log := slog.New(slog.DiscardHandler)
	e, err := httpx.NewEngine(config.HTTP{}, log, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	mod := New(Deps{DB: db.Ent, Dialect: db.Dialect, Secret: []byte("bench-secret"), Log: log, Now: time.Now, Binder: httpx.NewBinder()})
	mod.Routes(e.Group("/api/v1"), testAuth)
	return e, &testEnv{db: db}
}
