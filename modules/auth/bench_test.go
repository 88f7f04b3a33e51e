package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"todo/platform/config"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

// benchCost is the bcrypt cost of the benchmarks: AUTH_BENCH_COST, default
// 10 (production's default is 12; the ratios do not depend on it).
func benchCost(b *testing.B) int {
	if s := os.Getenv("AUTH_BENCH_COST"); s != "" {
		c, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("AUTH_BENCH_COST: %v", err)
		}
		return c
	}
	return 10
}

// benchEngine is the module on a fresh PostgreSQL database behind the shared
// engine, with a bare route beside an authenticated one.
func benchEngine(b *testing.B, cfg config.Auth) (*httpx.Engine, *Module) {
	b.Helper()
	db := dbtest.New(b)
	log := slog.New(slog.DiscardHandler)
	e, err := httpx.NewEngine(config.HTTP{}, log, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(context.Background(), Deps{DB: db.Ent, Dialect: db.Dialect, Config: cfg, Log: log, Now: time.Now, Binder: httpx.NewBinder()})
	if err != nil {
		b.Fatal(err)
	}
	v1 := e.Group("/api/v1")
	m.Routes(v1)
	ok := func(c *gin.Context) { httpx.JSON(c, http.StatusOK, gin.H{"ok": true}) }
	e.GET("/bench/bare", ok)
	e.GET("/bench/authed", m.RequireUser(), ok)
	return e, m
}

func benchConfig(cost int) config.Auth {
	c := testConfig()
	c.BcryptCost = cost
	c.HashSlots = runtime.GOMAXPROCS(0)
	c.HashQueue = 1 << 16
	return c
}

func serve(h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func benchRegister(b *testing.B, h http.Handler, email string) pairJSON {
	b.Helper()
	w := serve(h, "POST", "/api/v1/auth/register", fmt.Sprintf(`{"email":%q,"name":"Bench","password":%q}`, email, testPassword))
	if w.Code != http.StatusCreated {
		b.Fatalf("register: %d %s", w.Code, w.Body)
	}
	var p pairJSON
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		b.Fatal(err)
	}
	return p
}

// parallel runs n calls of fn on workers goroutines and returns the time.
func parallel(n, workers int, fn func()) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				fn()
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkLoginVsBcrypt compares logins per second through the HTTP
// handler with raw bcrypt.CompareHashAndPassword per second at the same
// cost on the same cores; the ratio is the handler's efficiency.
func BenchmarkLoginVsBcrypt(b *testing.B) {
	cost := benchCost(b)
	h, _ := benchEngine(b, benchConfig(cost))
	benchRegister(b, h, "bench@example.com")
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), cost)
	if err != nil {
		b.Fatal(err)
	}
	procs := runtime.GOMAXPROCS(0)
	body := fmt.Sprintf(`{"email":"bench@example.com","password":%q}`, testPassword)
	var failed atomic.Int64
	login := func() {
		if w := serve(h, "POST", "/api/v1/auth/login", body); w.Code != http.StatusOK {
			failed.Add(1)
		}
	}
	compare := func() {
		if bcrypt.CompareHashAndPassword(hash, []byte(testPassword)) != nil {
			failed.Add(1)
		}
	}
	// Rounds alternate, so that load from elsewhere on the machine weighs
	// on both sides alike.
	const rounds = 5
	var loginTime, rawTime time.Duration
	b.ResetTimer()
	for i := range rounds {
		n := b.N/rounds + boolInt(i < b.N%rounds)
		loginTime += parallel(n, 2*procs, login)
		rawTime += parallel(n, procs, compare)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d logins or compares failed", n)
	}
	logins := float64(b.N) / loginTime.Seconds()
	raw := float64(b.N) / rawTime.Seconds()
	b.ReportMetric(logins, "logins/s")
	b.ReportMetric(raw, "bcrypt/s")
	b.ReportMetric(logins/raw, "ratio")
	b.ReportMetric(float64(cost), "cost")
}

// BenchmarkRequireUser measures what authenticating adds to a request: the
// median latency of a route behind RequireUser minus that of the same bare
// route, requests alternating one by one; with the session cache off (the
// default: one query a request) and on (AUTH_SESSION_CACHE_TTL=1m: after
// the first request, none).
func BenchmarkRequireUser(b *testing.B) {
	for _, ttl := range []time.Duration{0, config.MaxSessionCacheTTL} {
		name := "session-cache=off"
		if ttl > 0 {
			name = "session-cache=on"
		}
		b.Run(name, func(b *testing.B) { requireUser(b, ttl) })
	}
}

func requireUser(b *testing.B, cacheTTL time.Duration) {
	cfg := benchConfig(bcrypt.MinCost)
	cfg.SessionCacheTTL = cacheTTL
	h, _ := benchEngine(b, cfg)
	p := benchRegister(b, h, "mw@example.com")
	auth := "Bearer " + p.AccessToken
	bare := make([]time.Duration, 0, b.N)
	authed := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		serve(h, "GET", "/bench/bare", "")
		bare = append(bare, time.Since(start))
		start = time.Now()
		if w := serve(h, "GET", "/bench/authed", "", "Authorization", auth); w.Code != http.StatusOK {
			b.Fatalf("authed: %d %s", w.Code, w.Body)
		}
		authed = append(authed, time.Since(start))
	}
	b.StopTimer()
	mb, ma := median(bare), median(authed)
	b.ReportMetric(float64(mb.Microseconds()), "µs-bare-p50")
	b.ReportMetric(float64(ma.Microseconds()), "µs-authed-p50")
	b.ReportMetric(float64((ma - mb).Microseconds()), "µs-added-p50")
}

// BenchmarkMeUnderLoginFlood measures GET /api/v1/users/me while a login
// flood keeps every hashing slot busy and the queue full: the p99 shows
// whether the bcrypt bound keeps the other endpoints responsive.
func BenchmarkMeUnderLoginFlood(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, slots := range slices.Compact([]int{procs, max(procs-1, 1)}) {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) { meUnderFlood(b, slots) })
	}
}

func meUnderFlood(b *testing.B, slots int) {
	cost := benchCost(b)
	cfg := benchConfig(cost)
	cfg.HashSlots = slots
	cfg.HashQueue = 32
	h, _ := benchEngine(b, cfg)
	p := benchRegister(b, h, "flood@example.com")
	auth := "Bearer " + p.AccessToken
	body := fmt.Sprintf(`{"email":"flood@example.com","password":%q}`, testPassword)

	ctx, cancel := context.WithCancel(context.Background())
	var flood sync.WaitGroup
	var ok, shed atomic.Int64
	for range 64 {
		flood.Go(func() {
			for ctx.Err() == nil {
				switch serve(h, "POST", "/api/v1/auth/login", body).Code {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					shed.Add(1)
					time.Sleep(10 * time.Millisecond) // a client honouring Retry-After a little
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // let the flood fill the slots
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if w := serve(h, "GET", "/api/v1/users/me", "", "Authorization", auth); w.Code != http.StatusOK {
			b.Fatalf("me: %d %s", w.Code, w.Body)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	flood.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(ok.Load()), "logins-ok")
	b.ReportMetric(float64(shed.Load()), "logins-shed-503")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkPasswordResetRequest times POST /auth/password-reset/request for
// an email with an account and one without, with the service's timing floor
// ("floor") and without it ("work"): the work for an account (a lookup and
// a transaction of two inserts) must stay well under the floor, so that
// both answers take the floor.
func BenchmarkPasswordResetRequest(b *testing.B) {
	cfg := benchConfig(bcrypt.MinCost)
	cfg.MailsPerHour = 1 << 30
	cfg.RatePerIP = 1 << 30
	h, m := benchEngine(b, cfg)
	if w := serve(h, "POST", "/api/v1/auth/register", `{"email":"reset-bench@example.com","name":"R","password":"a long password"}`); w.Code != http.StatusCreated {
		b.Fatalf("register: %d %s", w.Code, w.Body)
	}
	floor := m.svc.resetFloor
	for _, mode := range []struct {
		name  string
		floor time.Duration
	}{{"work", 0}, {"floor", floor}} {
		for _, email := range []string{"reset-bench@example.com", "nobody-bench@example.com"} {
			kind := "existing"
			if strings.HasPrefix(email, "nobody") {
				kind = "unknown"
			}
			b.Run(mode.name+"/"+kind, func(b *testing.B) {
				m.svc.resetFloor = mode.floor
				body := `{"email":"` + email + `"}`
				for b.Loop() {
					if w := serve(h, "POST", "/api/v1/auth/password-reset/request", body); w.Code != http.StatusAccepted {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
	m.svc.resetFloor = floor
}

// BenchmarkLoginWrongVersusUnknown times a failed login for an email with
// an account and for one without: both should cost one bcrypt at the
// configured cost, so their times should match.
func BenchmarkLoginWrongVersusUnknown(b *testing.B) {
	cfg := benchConfig(benchCost(b))
	cfg.FailuresPerAccount = 1 << 30
	h, _ := benchEngine(b, cfg)
	if w := serve(h, "POST", "/api/v1/auth/register", `{"email":"timing-bench@example.com","name":"T","password":"a long password"}`); w.Code != http.StatusCreated {
		b.Fatalf("register: %d %s", w.Code, w.Body)
	}
	for _, email := range []string{"timing-bench@example.com", "unknown-bench@example.com"} {
		name := "wrong-password"
		if strings.HasPrefix(email, "unknown") {
			name = "unknown-email"
		}
		b.Run(name, func(b *testing.B) {
			body := `{"email":"` + email + `","password":"not the password"}`
			for b.Loop() {
				if w := serve(h, "POST", "/api/v1/auth/login", body); w.Code != http.StatusUnauthorized {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
