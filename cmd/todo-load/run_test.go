package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers the parts of the contract the tool uses, in memory:
// with auth (api) or, like rawceiling, with X-User-ID and no auth (raw).
type fakeServer struct {
	raw       bool
	ttl       int64 // expires_in of issued tokens
	mu        sync.Mutex
	users     map[string]string // email → user id
	tokens    map[string]string // access token → user id
	refreshes map[string]string // refresh token → user id
	owner     map[int64]string  // task id → user id
	nextID    int64
	hits      map[string]*atomic.Int64
}

func newFakeServer(t *testing.T, raw bool) (*fakeServer, *httptest.Server) {
	f := &fakeServer{raw: raw, ttl: 900, users: map[string]string{}, tokens: map[string]string{},
		refreshes: map[string]string{}, owner: map[int64]string{}, hits: map[string]*atomic.Int64{}}
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		n := &atomic.Int64{}
		f.hits[pattern] = n
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { n.Add(1); h(w, r) })
	}
	if !raw {
		route("POST /api/v1/auth/register", f.register)
		route("POST /api/v1/auth/login", f.login)
		route("POST /api/v1/auth/refresh", f.refresh)
		route("POST /api/v1/tasks/{id}/toggle", f.onTask(http.StatusOK))
		route("DELETE /api/v1/tasks/{id}", f.onTask(http.StatusNoContent))
		route("GET /api/v1/tasks/stats", f.stats)
		route("GET /api/v1/tasks/changes", f.changes)
	}
	route("GET /api/v1/tasks", f.list)
	route("POST /api/v1/tasks", f.create)
	route("GET /api/v1/tasks/{id}", f.onTask(http.StatusOK))
	route("PATCH /api/v1/tasks/{id}", f.onTask(http.StatusOK))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) pair(w http.ResponseWriter, status int, uid string) {
	f.mu.Lock()
	f.nextID++
	acc, ref := "a"+strconv.FormatInt(f.nextID, 10), "r"+strconv.FormatInt(f.nextID, 10)
	f.tokens[acc], f.refreshes[ref] = uid, uid
	f.mu.Unlock()
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"user": map[string]string{"id": uid}, "access_token": acc,
		"token_type": "Bearer", "expires_in": f.ttl, "refresh_token": ref})
}

func decode(r *http.Request) map[string]string {
	var in map[string]string
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return map[string]string{} // every check on a missing field fails
	}
	return in
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	in := decode(r)
	f.mu.Lock()
	_, taken := f.users[in["email"]]
	uid := "user-" + in["email"]
	if !taken {
		f.users[in["email"]] = uid
	}
	f.mu.Unlock()
	if taken || in["password"] != defaultPassword || in["name"] == "" {
		w.WriteHeader(http.StatusConflict)
		return
	}
	f.pair(w, http.StatusCreated, uid)
}

func (f *fakeServer) login(w http.ResponseWriter, r *http.Request) {
	in := decode(r)
	f.mu.Lock()
	uid, ok := f.users[in["email"]]
	f.mu.Unlock()
	if !ok || in["password"] != defaultPassword {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.pair(w, http.StatusOK, uid)
}

func (f *fakeServer) refresh(w http.ResponseWriter, r *http.Request) {
	in := decode(r)
	f.mu.Lock()
	uid, ok := f.refreshes[in["refresh_token"]]
	delete(f.refreshes, in["refresh_token"])
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.pair(w, http.StatusOK, uid)
}

func (f *fakeServer) user(r *http.Request) (string, bool) {
	if f.raw {
		return r.Header.Get("X-User-ID"), r.Header.Get("X-User-ID") != ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	uid, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return uid, ok
}

func (f *fakeServer) create(w http.ResponseWriter, r *http.Request) {
	uid, ok := f.user(r)
	if in := decode(r); !ok || in["title"] == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	f.owner[id] = uid
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%d,"user_id":%q}`, id, uid)
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	uid, ok := f.user(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	var items []map[string]int64
	f.mu.Lock()
	for id, o := range f.owner {
		if o == uid && len(items) < limit {
			items = append(items, map[string]int64{"id": id})
		}
	}
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "next_cursor": nil})
}

func (f *fakeServer) stats(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.user(r); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	fmt.Fprint(w, `{"total":1,"pending":1,"completed":0}`)
}

// changes is a change feed of two pages: a full sync sends two tasks and
// then one; after that, nothing has changed.
func (f *fakeServer) changes(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.user(r); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	const task = `{"op":"upsert","task":{"id":1}}`
	switch r.URL.Query().Get("since") {
	case "":
		fmt.Fprint(w, `{"changes":[`+task+`,`+task+`],"next_token":"more","has_more":true}`)
	case "more":
		fmt.Fprint(w, `{"changes":[`+task+`],"next_token":"end","has_more":false}`)
	default:
		fmt.Fprint(w, `{"changes":[],"next_token":"end","has_more":false}`)
	}
}

func (f *fakeServer) onTask(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid, ok := f.user(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		f.mu.Lock()
		owned := f.owner[id] == uid
		if owned && r.Method == http.MethodDelete {
			delete(f.owner, id)
		}
		f.mu.Unlock()
		if !owned {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
		if status != http.StatusNoContent {
			fmt.Fprintf(w, `{"id":%d}`, id)
		}
	}
}

func testRunConfig(url string) runConfig {
	return runConfig{URL: url, Mode: modeAuto, CompareMode: modeAuto, Scenarios: scenarioNames(), Concurrency: 4,
		Duration: 120 * time.Millisecond, Warmup: 20 * time.Millisecond, Rounds: 2, MaxRequests: 1_000_000, Users: 3,
		TasksPerUser: 10, Password: defaultPassword, RawUser: "raw-user-1", RawCreateUser: "raw-user-2", ListLimit: 50, DeletePool: 300, Timeout: 5 * time.Second,
		SyncLimit: 2, SyncChanges: 3}
}

func TestRunCompareWithRaw(t *testing.T) {
	api, a := newFakeServer(t, false)
	raw, b := newFakeServer(t, true)
	cfg := testRunConfig(a.URL)
	cfg.CompareURL = b.URL
	cfg.ServerPID = os.Getpid() // any live process will do for the CPU and memory columns
	var out bytes.Buffer
	if err := runLoad(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{"target A ", "3 registered users", "target B (raw)", "no auth (raw), X-User-ID raw-user-1 (creates as raw-user-2)",
		"A/B", "server pid", "peak VmRSS"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	rows := map[string]string{}
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[1] == "A" || f[1] == "B" || f[1] == "A/B") {
			rows[f[0]+" "+f[1]] = line
		}
	}
	for _, sc := range scenarioNames() {
		a := rows[sc+" A"]
		if a == "" || strings.Contains(a, "n/a") {
			t.Errorf("%s on A: %q", sc, a)
			continue
		}
		// Errors column: none on the fake (the delete pool may run out).
		if f := strings.Fields(a); f[len(f)-1] != "-" && !strings.Contains(a, "delete pool empty") {
			t.Errorf("%s on A has errors: %q", sc, a)
		}
		s, _ := lookupScenario(sc)
		braw := rows[sc+" B"]
		if s.raw == strings.Contains(braw, "n/a") {
			t.Errorf("%s on raw B: %q", sc, braw)
		}
		if s.raw && rows[sc+" A/B"] == "" {
			t.Errorf("%s: no A/B row", sc)
		}
	}
	for _, want := range []string{"sync-full A: ", "tasks/s received"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if api.hits["GET /api/v1/tasks/changes"].Load() == 0 ||
		api.hits["POST /api/v1/tasks/{id}/toggle"].Load() == 0 || api.hits["DELETE /api/v1/tasks/{id}"].Load() == 0 ||
		api.hits["POST /api/v1/auth/login"].Load() == 0 || api.hits["GET /api/v1/tasks/stats"].Load() == 0 {
		t.Error("some API endpoints were never called")
	}
	perUser := map[string]int{}
	for _, uid := range raw.owner {
		perUser[uid]++
	}
	if perUser["raw-user-1"] != 10 || perUser["raw-user-2"] == 0 {
		t.Errorf("raw creates went to %v; want raw-user-1 left at its 10 and the rest on raw-user-2", perUser)
	}
	if raw.hits["PATCH /api/v1/tasks/{id}"].Load() == 0 || raw.hits["GET /api/v1/tasks/{id}"].Load() == 0 {
		t.Error("the raw target saw no gets or updates")
	}
}

func TestRunLoginAsAndRenewal(t *testing.T) {
	f, srv := newFakeServer(t, false)
	f.ttl = 1 // tokens to renew within the run
	for _, e := range []string{"seed-1@example.com", "seed-2@example.com"} {
		f.users[e] = "user-" + e
	}
	cfg := testRunConfig(srv.URL)
	cfg.Scenarios, cfg.LoginAs, cfg.Rounds, cfg.Duration = []string{"get", "list-all"}, []string{"seed-1@example.com", "seed-2@example.com"}, 2, 600*time.Millisecond
	var out bytes.Buffer
	if err := runLoad(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "2 existing users logged in") || !strings.Contains(out.String(), "(20 created)") {
		t.Errorf("login-as setup:\n%s", out.String())
	}
	if f.hits["POST /api/v1/auth/refresh"].Load() == 0 {
		t.Error("tokens with a 1 s lifetime were never refreshed")
	}
	if f.hits["POST /api/v1/auth/register"].Load() != 0 {
		t.Error("-login-as registered users")
	}
}

func TestRunPhaseBudget(t *testing.T) {
	_, srv := newFakeServer(t, true)
	cfg := testRunConfig(srv.URL)
	tg := &target{label: "A", base: srv.URL, mode: modeRaw, client: newHTTPClient(2, time.Second, false),
		accounts: []*account{{userID: "u"}}}
	cfg.Concurrency = 2
	sc, _ := lookupScenario("list-all")
	res := runPhase(context.Background(), tg, sc, cfg, 10*time.Second, 25)
	if res.ok != 25 || res.stopped != "max-requests reached" || res.elapsed >= 10*time.Second {
		t.Errorf("budget of 25: ok %d stopped %q elapsed %v", res.ok, res.stopped, res.elapsed)
	}
	sc, _ = lookupScenario("get")
	res = runPhase(context.Background(), tg, sc, cfg, time.Second, 100)
	if res.stopped != errNoIDs.Error() {
		t.Errorf("get without ids: stopped %q", res.stopped)
	}
}

func TestDialerRefusesRemote(t *testing.T) {
	c := newHTTPClient(1, 2*time.Second, false)
	resp, err := c.Get("http://10.255.255.1:9/")
	if err == nil {
		resp.Body.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("remote dial: %v", err)
	}
}

func TestRunRefusesDeadTarget(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := testRunConfig(url)
	err := runLoad(context.Background(), cfg, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "set up target A") {
		t.Errorf("dead target: %v", err)
	}
}
