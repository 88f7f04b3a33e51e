package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as `todo serve` (see TestMain), so that
// the shutdown test signals a real process without a separate go build.
const childEnv = "TODO_RELIABILITY_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// The same as main, minus the command line: `todo serve`.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, []string{"serve"}, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "todo:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	removePrivatePG()
	os.Exit(code)
}

// longMode reports whether TODO_LONG asks for the long reliability run
// (docs/reliability.md).
func longMode() bool { return os.Getenv("TODO_LONG") != "" && os.Getenv("TODO_LONG") != "0" }

// failFastBound is the correctness bound on any answer while the database
// is down or saturated: not a performance figure, a "does not hang" check.
// DB_ACQUIRE_TIMEOUT in these tests is at most 3 s.
const failFastBound = 5 * time.Second

// outcome is one request a load client made.
type outcome struct {
	client   int
	op       string
	status   int // 0: no HTTP answer
	code     string
	retry    string
	err      error
	took     time.Duration
	duringDB string // "up", "down" or "restarting" when the request started
}

// tally counts outcomes by operation and status.
type tally struct {
	mu   sync.Mutex
	all  []outcome
	seen map[string]int
}

func (ty *tally) add(o outcome) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if ty.seen == nil {
		ty.seen = map[string]int{}
	}
	ty.all = append(ty.all, o)
	ty.seen[fmt.Sprintf("%s %d", o.op, o.status)]++
}

func (ty *tally) summary() string {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	keys := make([]string, 0, len(ty.seen))
	for k := range ty.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests:", len(ty.all))
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s]=%d", k, ty.seen[k])
	}
	return b.String()
}

func (ty *tally) slowest(pred func(outcome) bool) time.Duration {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	var m time.Duration
	for _, o := range ty.all {
		if pred(o) && o.took > m {
			m = o.took
		}
	}
	return m.Round(time.Millisecond)
}

func (ty *tally) count(pred func(outcome) bool) int {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	n := 0
	for _, o := range ty.all {
		if pred(o) {
			n++
		}
	}
	return n
}

// apiClient is a minimal JSON client usable from any goroutine.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(base string, conns int) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	// 20 s: far above failFastBound, so a hang is seen as a slow answer or
	// a client timeout rather than blocking the test forever.
	return &apiClient{base: base, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c *apiClient) do(ctx context.Context, method, path, token string, body any, hdr map[string]string) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: b}, err
}

func problemCode(a answer) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

type taskJSON struct {
	ID          int64   `json:"id"`
	UserID      string  `json:"user_id"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	Completed   bool    `json:"completed"`
	CompletedAt *string `json:"completed_at"`
}

// registerUser registers a fresh account and returns its access token and
// user id.
func registerUser(t testing.TB, c *apiClient, email string) (token, userID string) {
	t.Helper()
	a, err := c.do(context.Background(), "POST", "/api/v1/auth/register", "",
		map[string]string{"email": email, "name": "Load", "password": "load test password"}, nil)
	if err != nil || a.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s %v", email, a.status, a.body, err)
	}
	var pair struct {
		AccessToken string `json:"access_token"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(a.body, &pair); err != nil {
		t.Fatal(err)
	}
	return pair.AccessToken, pair.User.ID
}

// tracked is what a load client knows about one of its tasks.
type tracked struct {
	id          int64
	title       string
	description *string
	completed   bool
	// ambiguous: a write on it got no success answer (503, or no answer),
	// so its state is one of two and only the invariants can be checked.
	ambiguous bool
	deleted   bool // answered 204
}

// loadClient creates, toggles and deletes its own user's tasks until ctx
// ends, recording every outcome and every task it was told about.
type loadClient struct {
	n       int
	api     *apiClient
	token   string
	tasks   []*tracked
	pending []string // titles of creates that got no 201 (may or may not exist)
	phase   *atomic.Value
	ty      *tally
}

func (lc *loadClient) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(lc.n), uint64(time.Now().UnixNano()))) //nolint:gosec // G115: a small non-negative client number
	seq := 0
	for ctx.Err() == nil {
		live := lc.live()
		switch r := rng.IntN(10); {
		case r < 5 || len(live) == 0:
			seq++
			lc.create(fmt.Sprintf("client %d task %d \u202e é ✓ 🦫", lc.n, seq), rng.IntN(2) == 0)
		case r < 8:
			lc.toggle(live[rng.IntN(len(live))])
		default:
			lc.delete(live[rng.IntN(len(live))])
		}
	}
}

func (lc *loadClient) live() []*tracked {
	var out []*tracked
	for _, t := range lc.tasks {
		if !t.deleted {
			out = append(out, t)
		}
	}
	return out
}

func (lc *loadClient) send(op, method, path string, body any) (answer, bool) {
	phase := lc.phase.Load().(string)
	start := time.Now()
	// A fresh context: the load's end must not cut a request short.
	a, err := lc.api.do(context.Background(), method, path, lc.token, body, nil)
	o := outcome{client: lc.n, op: op, status: a.status, err: err, took: time.Since(start), duringDB: phase}
	if err == nil && a.status >= 400 {
		o.code, o.retry = problemCode(a), a.header.Get("Retry-After")
	}
	lc.ty.add(o)
	return a, err == nil
}

func (lc *loadClient) create(title string, withDesc bool) {
	body := map[string]any{"title": title}
	if withDesc {
		body["description"] = "  description of " + title + " \u200f\u0301 "
	}
	a, ok := lc.send("create", "POST", "/api/v1/tasks", body)
	if !ok || a.status != http.StatusCreated {
		lc.pending = append(lc.pending, title)
		return
	}
	var tj taskJSON
	if err := json.Unmarshal(a.body, &tj); err != nil {
		lc.pending = append(lc.pending, title)
		return
	}
	lc.tasks = append(lc.tasks, &tracked{id: tj.ID, title: tj.Title, description: tj.Description, completed: tj.Completed})
}

func (lc *loadClient) toggle(t *tracked) {
	a, ok := lc.send("toggle", "POST", fmt.Sprintf("/api/v1/tasks/%d/toggle", t.id), nil)
	switch {
	case ok && a.status == http.StatusOK:
		var tj taskJSON
		if json.Unmarshal(a.body, &tj) == nil {
			t.completed = tj.Completed
			return
		}
		t.ambiguous = true
	case ok && a.status == http.StatusNotFound && t.ambiguous:
		// An earlier delete that got no answer did happen.
		t.deleted = true
	default:
		t.ambiguous = true
	}
}

func (lc *loadClient) delete(t *tracked) {
	a, ok := lc.send("delete", "DELETE", fmt.Sprintf("/api/v1/tasks/%d", t.id), nil)
	switch {
	case ok && a.status == http.StatusNoContent:
		t.deleted, t.ambiguous = true, false
	case ok && a.status == http.StatusNotFound && t.ambiguous:
		t.deleted = true
	default:
		t.ambiguous = true
	}
}

// checkOutcomes holds every answer to the contract of a failing database:
// a documented status, 503 only as problem "unavailable" with Retry-After,
// never 500, never a dropped request, always within failFastBound.
func checkOutcomes(t *testing.T, ty *tally, allowed ...int) {
	t.Helper()
	ty.mu.Lock()
	defer ty.mu.Unlock()
	var bad []string
	for _, o := range ty.all {
		ok := o.err == nil && o.took < failFastBound
		if o.status == http.StatusServiceUnavailable && (o.code != "unavailable" || o.retry == "") {
			ok = false
		}
		if o.err == nil && !containsInt(allowed, o.status) {
			ok = false
		}
		if !ok && len(bad) < 20 {
			bad = append(bad, fmt.Sprintf("%s (db %s): status %d code %q Retry-After %q err %v after %v", o.op, o.duringDB, o.status, o.code, o.retry, o.err, o.took.Round(time.Millisecond)))
		}
	}
	if len(bad) > 0 {
		t.Errorf("answers that break the contract of a failing database (first %d):\n\t%s", len(bad), strings.Join(bad, "\n\t"))
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// waitStatus polls path until it answers want, or fails after limit.
func waitStatus(t *testing.T, c *apiClient, path string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	last := 0
	for time.Since(start) < limit {
		a, err := c.do(context.Background(), "GET", path, "", nil, nil)
		if err == nil {
			last = a.status
			if a.status == want {
				if want == http.StatusServiceUnavailable && (problemCode(a) != "unavailable" || a.header.Get("Retry-After") == "") {
					t.Errorf("GET %s: 503 without code unavailable and Retry-After: %s", path, a.body)
				}
				return time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s did not answer %d within %v (last %d)", path, want, limit, last)
	return 0
}

// TestDatabaseRestartUnderLoad serves the whole binary (run, in-process) on
// a private PostgreSQL server, keeps clients creating, toggling and
// deleting tasks, and stops and starts the server under them. While it is
// down every request fails fast with 503 unavailable and Retry-After, never
// 500 or a hang; /readyz follows the database; afterwards the same process
// serves again, every create answered 201 exists as answered, and no
// failed request left a half-done change.
//
// TODO_LONG=1: 60 s of load over 5 restarts.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	pg := privatePG(t)
	name := pg.newDatabase(t)
	clients, restarts := 4, 1
	up, down := 1500*time.Millisecond, 1500*time.Millisecond
	if longMode() {
		clients, restarts = 8, 5
		up, down = 10*time.Second, 2*time.Second
	}
	// connect_timeout bounds a connection attempt to a server that neither
	// accepts nor refuses (a black-holed host); a stopped server refuses at
	// once. DB_ACQUIRE_TIMEOUT bounds the wait for a pooled connection.
	url := pg.url(name, "connect_timeout=2")
	env := map[string]string{
		"DATABASE_URL":        url,
		"DB_AUTO_MIGRATE":     "true",
		"DB_MIN_CONNS":        "2",
		"DB_MAX_CONNS":        "10",
		"DB_ACQUIRE_TIMEOUT":  "3s",
		"AUTH_SECRET":         testSecret,
		"AUTH_BCRYPT_COST":    "4",
		"AUTH_RATE_PER_IP":    "100000",
		"AUTH_RATE_PER_EMAIL": "100000",
		"LOG_LEVEL":           "info",
	}
	base, logs, stop := startServeAt(t, env)
	api := newAPIClient(base, clients*2)

	var phase atomic.Value
	phase.Store("up")
	ty := &tally{}
	lcs := make([]*loadClient, clients)
	userIDs := map[string]bool{}
	for i := range lcs {
		token, uid := registerUser(t, api, fmt.Sprintf("load%d@example.com", i))
		userIDs[uid] = true
		lcs[i] = &loadClient{n: i, api: api, token: token, phase: &phase, ty: ty}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, lc := range lcs {
		wg.Go(func() { lc.run(ctx) })
	}

	var readyDown, readyUp []time.Duration
	for range restarts {
		time.Sleep(up)
		phase.Store("down")
		if err := pg.stop("fast"); err != nil {
			cancel()
			wg.Wait()
			t.Fatal(err)
		}
		readyDown = append(readyDown, waitStatus(t, api, "/readyz", http.StatusServiceUnavailable, failFastBound))
		time.Sleep(down)
		phase.Store("restarting")
		if err := pg.start(); err != nil {
			cancel()
			wg.Wait()
			t.Fatal(err)
		}
		readyUp = append(readyUp, waitStatus(t, api, "/readyz", http.StatusOK, 30*time.Second))
		phase.Store("up")
	}
	// The same process serves again: every client gets successes after the
	// last restart.
	before := ty.count(func(o outcome) bool { return true })
	time.Sleep(up)
	cancel()
	wg.Wait()
	for _, lc := range lcs {
		var okAfter int
		ty.mu.Lock()
		for _, o := range ty.all[before:] {
			if o.client == lc.n && o.err == nil && o.status < 300 {
				okAfter++
			}
		}
		ty.mu.Unlock()
		if okAfter == 0 {
			t.Errorf("client %d: no success after the database came back", lc.n)
		}
	}

	t.Logf("restarts %d, readyz 503 after %v, 200 after %v; slowest answer while down %v; %s",
		restarts, readyDown, readyUp, ty.slowest(func(o outcome) bool { return o.duringDB != "up" }), ty.summary())
	checkOutcomes(t, ty, http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusNotFound, http.StatusServiceUnavailable)
	downs := ty.count(func(o outcome) bool { return o.duringDB == "down" })
	unavailable := ty.count(func(o outcome) bool { return o.status == http.StatusServiceUnavailable })
	if downs == 0 || unavailable == 0 {
		t.Errorf("the outage was not exercised: %d requests while down, %d answered 503", downs, unavailable)
	}
	// 404 only for a task whose earlier delete got no answer.
	if n := ty.count(func(o outcome) bool { return o.status == http.StatusNotFound }); n > 0 {
		t.Logf("%d answers 404 after an unanswered delete that had happened", n)
	}

	verified := verifyWrites(t, url, lcs, userIDs)
	t.Logf("writes verified: %d", verified)
	if err := stop(); err != nil {
		t.Errorf("serve returned %v", err)
	}
	if strings.Contains(logs.text(), `"level":"ERROR"`) {
		t.Errorf("errors logged under a database restart (a 500 somewhere):\n%s", firstLines(logs.text(), `"level":"ERROR"`, 10))
	}
}

func firstLines(text, substr string, n int) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// verifyWrites reads the database directly: every task a client was told
// exists is there as it was answered, every task answered 204 is gone, every
// create that got no 201 exists at most once, and the invariants hold for
// every row. It returns how many writes it checked.
func verifyWrites(t *testing.T, url string, lcs []*loadClient, users map[string]bool) int {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	type row struct {
		userID      string
		title       string
		description *string
		completed   bool
		hasAt       bool
	}
	rows, err := db.QueryContext(ctx, `SELECT t.id, t.user_id, t.title, t.description, t.completed, t.completed_at IS NOT NULL, u.id IS NOT NULL FROM tasks t LEFT JOIN users u ON u.id = t.user_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byID := map[int64]row{}
	byTitle := map[string]int{}
	for rows.Next() {
		var (
			id      int64
			r       row
			desc    sql.NullString
			hasUser bool
		)
		if err := rows.Scan(&id, &r.userID, &r.title, &desc, &r.completed, &r.hasAt, &hasUser); err != nil {
			t.Fatal(err)
		}
		if desc.Valid {
			r.description = &desc.String
		}
		if r.completed != r.hasAt {
			t.Errorf("task %d: completed=%v but completed_at set=%v", id, r.completed, r.hasAt)
		}
		if !hasUser || !users[r.userID] {
			t.Errorf("task %d belongs to user %s, who does not exist or is not a load client", id, r.userID)
		}
		byID[id] = r
		byTitle[r.title]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	verified := 0
	for _, lc := range lcs {
		for _, tk := range lc.tasks {
			r, ok := byID[tk.id]
			switch {
			case tk.deleted && !tk.ambiguous && ok:
				t.Errorf("task %d was answered 204 but still exists", tk.id)
			case tk.deleted:
			case !ok && !tk.ambiguous:
				t.Errorf("task %d (%q) was answered 201 and is lost", tk.id, tk.title)
			case !ok:
				// An unanswered delete happened.
			default:
				if r.title != tk.title || !equalStrPtr(r.description, tk.description) {
					t.Errorf("task %d: stored %q/%v, answered %q/%v", tk.id, r.title, deref(r.description), tk.title, deref(tk.description))
				}
				if !tk.ambiguous && r.completed != tk.completed {
					t.Errorf("task %d: completed=%v, last answer said %v", tk.id, r.completed, tk.completed)
				}
			}
			verified++
		}
		for _, title := range lc.pending {
			if byTitle[title] > 1 {
				t.Errorf("create %q answered with an error stored %d tasks", title, byTitle[title])
			}
			verified++
		}
	}
	return verified
}

func equalStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// startServeAt is startServe with a check that run ends with the test.
func startServeAt(t *testing.T, env map[string]string) (string, *lineWriter, func() error) {
	t.Helper()
	base, out, stop := startServe(t, env)
	var once sync.Once
	var stopErr error
	stopOnce := func() error {
		once.Do(func() { stopErr = stop() })
		return stopErr
	}
	t.Cleanup(func() {
		if err := stopOnce(); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("serve: %v", err)
		}
	})
	return base, out, stopOnce
}
