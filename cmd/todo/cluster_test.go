package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"todo/platform/config"
)

// revocationBound is the contract for a revocation made through another
// instance: refused within a second (docs/deployment.md).
const revocationBound = time.Second

// TestCluster runs three `todo serve` processes (this test binary in serve
// mode, see TestMain) on one PostgreSQL database of a private server and
// one Redis, behind Debian's nginx with a configuration of the test's own,
// and shows what several instances must hold together: a logout through
// one is refused by the other two within a second, the per-address login
// limit is one budget for the three, idempotent creates replayed through
// different instances create once, a PostgreSQL restart is survived by
// all three, and an instance killed with SIGKILL under load loses no
// acknowledged write while nginx routes around it.
func TestCluster(t *testing.T) {
	nginx := nginxPath(t)
	pg := privatePG(t)
	dbURL := pg.url(pg.newDatabase(t), "")
	redisPrefix := clusterRedisPrefix(t)
	const ratePerIP = 5
	env := map[string]string{
		"DATABASE_URL":         dbURL,
		"AUTH_SECRET":          testSecret,
		"AUTH_BCRYPT_COST":     "4",
		"AUTH_RATE_PER_IP":     strconv.Itoa(ratePerIP),
		"AUTH_RATE_PER_EMAIL":  "1000000",
		"AUTH_MAX_SESSIONS":    "1000",
		"HTTP_TRUSTED_PROXIES": "127.0.0.1/32",
		"REDIS_URL":            "redis://" + clusterRedisAddr(),
		"REDIS_KEY_PREFIX":     redisPrefix,
		"METRICS_ADDR":         "off",
		"DB_MIN_CONNS":         "1",
		"DB_MAX_CONNS":         "10",
		"DB_ACQUIRE_TIMEOUT":   "3s",
		"LOG_LEVEL":            "info",
	}
	if err := run(context.Background(), []string{"migrate", "apply"}, envFunc(env), io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate apply: %v", err)
	}
	var inst [3]*clusterInstance
	for i := range inst {
		inst[i] = startInstance(t, i, env)
	}
	lb := startNginx(t, nginx, inst[:])
	from := clientsFrom(lb)
	t.Logf("three instances %s, %s, %s behind nginx on %s", inst[0].base, inst[1].base, inst[2].base, lb)

	owner := from("127.0.0.10")
	register(t, owner, "cluster@example.com")

	t.Run("idempotent-create-through-each-instance", func(t *testing.T) {
		tok := loginAt(t, from("127.0.0.11"), "cluster@example.com").access
		body := map[string]string{"title": "created once"}
		var ids []int64
		for _, in := range inst {
			a := mustDo(t, newAPIClient(in.base, 1), "POST", "/api/v1/tasks", tok, body, map[string]string{"Idempotency-Key": "k-sequential"})
			if a.status != http.StatusCreated {
				t.Fatalf("through %s: %d %s", in.base, a.status, a.body)
			}
			ids = append(ids, taskID(t, a))
		}
		if ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("ids %v: the replays made tasks", ids)
		}
		// The same key sent to the three at once: one creates, the others
		// replay it or are told it is in progress (409); one task in all.
		var wg sync.WaitGroup
		statuses := make([]int, len(inst))
		for i, in := range inst {
			wg.Go(func() {
				a := mustDo(t, newAPIClient(in.base, 1), "POST", "/api/v1/tasks", tok, map[string]string{"title": "raced once"}, map[string]string{"Idempotency-Key": "k-concurrent"})
				statuses[i] = a.status
			})
		}
		wg.Wait()
		for _, s := range statuses {
			if s != http.StatusCreated && s != http.StatusConflict {
				t.Fatalf("statuses %v, want 201 or 409", statuses)
			}
		}
		titles := listTitles(t, owner, tok)
		if n := titles["created once"]; n != 1 {
			t.Errorf("%d tasks \"created once\", want 1", n)
		}
		if n := titles["raced once"]; n != 1 {
			t.Errorf("%d tasks \"raced once\" (statuses %v), want 1", n, statuses)
		}
	})

	t.Run("per-address-login-limit-across-instances", func(t *testing.T) {
		c := from("127.0.0.12")
		upstreams := map[string]int{}
		var ok, limited int
		for range 3 * ratePerIP {
			a := mustDo(t, c, "POST", "/api/v1/auth/login", "", map[string]string{"email": "cluster@example.com", "password": "cluster password"}, nil)
			switch a.status {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
				upstreams[a.header.Get("X-Upstream")]++
			default:
				t.Fatalf("login: %d %s", a.status, a.body)
			}
		}
		if ok != ratePerIP || limited != 2*ratePerIP {
			t.Errorf("%d logins allowed and %d refused from one address through three instances, want %d and %d", ok, limited, ratePerIP, 2*ratePerIP)
		}
		if len(upstreams) != len(inst) {
			t.Errorf("refusals came from %v, want all three instances", upstreams)
		}
		// Another address has a budget of its own.
		loginAt(t, from("127.0.0.13"), "cluster@example.com")
	})

	t.Run("logout-refused-by-the-others-within-1s", func(t *testing.T) {
		delays := revocationTrials(t, from, inst[:], 100, "127.0.1.")
		slices.Sort(delays)
		t.Logf("revocation seen by both other instances: p50 %v, p99 %v, max %v over %d trials",
			delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1], len(delays))
	})

	t.Run("postgresql-restart", func(t *testing.T) {
		tok := loginAt(t, from("127.0.0.14"), "cluster@example.com").access
		if err := pg.stop("fast"); err != nil {
			t.Fatal(err)
		}
		// While it is down, an answer is quick: 503 (a cached session) or
		// 503 at the session check; never a hang.
		for _, in := range inst {
			a, err := newAPIClient(in.base, 1).do(context.Background(), "GET", "/api/v1/tasks", tok, nil, nil)
			if err != nil || (a.status != http.StatusServiceUnavailable && a.status != http.StatusOK) {
				t.Errorf("%s with PostgreSQL down: %d %s %v", in.base, a.status, a.body, err)
			}
		}
		if err := pg.start(); err != nil {
			t.Fatal(err)
		}
		for _, in := range inst {
			c := newAPIClient(in.base, 1)
			deadline := time.Now().Add(30 * time.Second)
			for {
				a, err := c.do(context.Background(), "POST", "/api/v1/tasks", tok, map[string]string{"title": "after the restart"}, nil)
				if err == nil && a.status == http.StatusCreated {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not create a task within 30s of PostgreSQL's restart: %d %s %v\n%s", in.base, a.status, a.body, err, in.out.text())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// Revocation still reaches every instance (each listener
		// reconnected, or asks the database until it has).
		revocationTrials(t, from, inst[:], 3, "127.0.2.")
	})

	t.Run("sigkill-under-load", func(t *testing.T) {
		killed := inst[2]
		res := loadAndKill(t, from, killed)
		t.Logf("creates: %d acknowledged (%d after the kill), %d answered 502 (in flight at the kill, not retried: POST is not idempotent); reads: %d, %d failed",
			res.acked, res.ackedAfter, res.badGateway, res.reads, res.readFailures)
		if res.ackedAfter == 0 {
			t.Error("no create succeeded after the kill: nginx did not route around the dead instance")
		}
		if res.readFailures != 0 {
			t.Errorf("%d GETs failed: nginx should have passed them to another instance", res.readFailures)
		}
		if res.other != 0 {
			t.Errorf("%d creates answered neither 201 nor 502", res.other)
		}
		// Every acknowledged create is there, read through the survivors.
		for tok, want := range res.created {
			have := listTitles(t, owner, tok)
			for _, title := range want {
				if have[title] != 1 {
					t.Errorf("acknowledged task %q is there %d times, want once", title, have[title])
				}
			}
		}
	})
}

// revocationTrials logs in trials times (each from its own address, under
// prefix), has the two other instances accept the token (and cache it),
// logs out through one instance, and measures how long until both others
// refuse it; each must within revocationBound.
func revocationTrials(t *testing.T, from func(string) *apiClient, inst []*clusterInstance, trials int, prefix string) []time.Duration {
	t.Helper()
	direct := make([]*apiClient, len(inst))
	for i, in := range inst {
		direct[i] = newAPIClient(in.base, 2)
	}
	var delays []time.Duration
	for n := range trials {
		pair := loginAt(t, from(fmt.Sprintf("%s%d", prefix, n%250+1)), "cluster@example.com")
		a, others := n%len(inst), []int{(n + 1) % len(inst), (n + 2) % len(inst)}
		for _, o := range others {
			for range 2 { // the second answer comes from the cache
				if r := mustDo(t, direct[o], "GET", "/api/v1/users/me", pair.access, nil, nil); r.status != http.StatusOK {
					t.Fatalf("trial %d: %s before the logout: %d %s", n, inst[o].base, r.status, r.body)
				}
			}
		}
		if r := mustDo(t, direct[a], "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": pair.refresh}, nil); r.status != http.StatusNoContent {
			t.Fatalf("trial %d: logout: %d %s", n, r.status, r.body)
		}
		start := time.Now()
		if r := mustDo(t, direct[a], "GET", "/api/v1/users/me", pair.access, nil, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("trial %d: the instance that revoked accepts the token: %d", n, r.status)
		}
		var worst time.Duration
		for _, o := range others {
			for {
				r := mustDo(t, direct[o], "GET", "/api/v1/users/me", pair.access, nil, nil)
				took := time.Since(start)
				if r.status == http.StatusUnauthorized {
					worst = max(worst, took)
					break
				}
				if r.status != http.StatusOK {
					t.Fatalf("trial %d: %s: %d %s", n, inst[o].base, r.status, r.body)
				}
				if took > revocationBound {
					t.Fatalf("trial %d: %s still accepts a token revoked through %s %v ago", n, inst[o].base, inst[a].base, took)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		delays = append(delays, worst)
	}
	return delays
}

type killResult struct {
	acked, ackedAfter, badGateway, other int
	reads, readFailures                  int
	created                              map[string][]string // access token → acknowledged titles
}

// loadAndKill runs creates and reads through nginx from eight clients,
// SIGKILLs killed a second in, and goes on for two more seconds.
func loadAndKill(t *testing.T, from func(string) *apiClient, killed *clusterInstance) killResult {
	t.Helper()
	const workers = 8
	res := killResult{created: map[string][]string{}}
	var mu sync.Mutex
	var afterKill atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		c := from(fmt.Sprintf("127.0.3.%d", w+1))
		tok := register(t, c, fmt.Sprintf("kill-%d@example.com", w)).access
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				title := fmt.Sprintf("w%d-%d", w, n)
				a, err := c.do(ctx, "POST", "/api/v1/tasks", tok, map[string]string{"title": title}, nil)
				if ctx.Err() != nil {
					return
				}
				r, rerr := c.do(ctx, "GET", "/api/v1/tasks?limit=5", tok, nil, nil)
				mu.Lock()
				switch {
				case err == nil && a.status == http.StatusCreated:
					res.acked++
					if afterKill.Load() {
						res.ackedAfter++
					}
					res.created[tok] = append(res.created[tok], title)
				case err == nil && a.status == http.StatusBadGateway:
					res.badGateway++
				default:
					res.other++
					t.Logf("create: %d %s %v", a.status, a.body, err)
				}
				if ctx.Err() == nil {
					res.reads++
					if rerr != nil || r.status != http.StatusOK {
						res.readFailures++
						t.Logf("read: %d %s %v", r.status, r.body, rerr)
					}
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.exited
	afterKill.Store(true)
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	return res
}

// clusterInstance is one `todo serve` process of TestCluster.
type clusterInstance struct {
	base   string
	cmd    *exec.Cmd
	out    *lineWriter
	exited chan struct{}
}

// startInstance starts this test binary as `todo serve` with env on a
// free port and waits until it listens.
func startInstance(t *testing.T, n int, env map[string]string) *clusterInstance {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	in := &clusterInstance{base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, out: newLineWriter(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.out, in.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(in.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-in.exited
		if t.Failed() {
			t.Logf("instance %d log:\n%s", n, in.out.text())
		}
	})
	select {
	case <-in.out.addr:
		return in
	case <-in.exited:
		t.Fatalf("instance %d exited before listening:\n%s", n, in.out.text())
	case <-time.After(60 * time.Second):
		t.Fatalf("instance %d did not start:\n%s", n, in.out.text())
	}
	return nil
}

// nginxPath finds Debian's nginx (in /usr/sbin, which a user's PATH may
// lack); the test fails without it.
func nginxPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx is not installed: apt-get install nginx (bash .ci/run does)")
	return ""
}

// clusterNginxConf is the balancer of TestCluster, the sample of
// docs/deployment.md with the test's own paths and ports. X-Upstream tells
// the test which instance answered.
const clusterNginxConf = `
daemon off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
{{user}}
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    upstream todo {
{{servers}}
        keepalive 32;
    }
    server {
        listen 127.0.0.1:{{port}};
        location / {
            proxy_pass http://todo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            add_header X-Upstream $upstream_addr always;
        }
    }
}
`

// startNginx writes the configuration into a temporary directory, starts
// nginx in the foreground with it, and returns its base URL.
func startNginx(t *testing.T, bin string, inst []*clusterInstance) string {
	t.Helper()
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, in := range inst {
		fmt.Fprintf(&servers, "        server %s max_fails=1 fail_timeout=10s;\n", strings.TrimPrefix(in.base, "http://"))
	}
	user := ""
	if os.Geteuid() == 0 {
		// As root, nginx would run its worker as nobody, who cannot enter
		// the test's temporary directory.
		user = "user root;"
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{servers}}", servers.String(), "{{port}}", strconv.Itoa(port), "{{user}}", user).Replace(clusterNginxConf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if res, err := http.Get(base + "/healthz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out, log)
		default:
		}
		if i == 100 {
			t.Fatal("nginx does not answer")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientsFrom returns a maker of API clients of base whose connections
// come from a given loopback address, so that the test can speak for many
// client addresses while nginx alone sets X-Forwarded-For.
func clientsFrom(base string) func(ip string) *apiClient {
	return func(ip string) *apiClient {
		c := newAPIClient(base, 4)
		tr := c.hc.Transport.(*http.Transport)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		tr.DialContext = d.DialContext
		return c
	}
}

func clusterRedisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// clusterRedisPrefix is a key prefix of the test's own in the shared
// Redis; its keys are deleted when the test ends.
func clusterRedisPrefix(t *testing.T) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: clusterRedisAddr()})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis on %s: %v (install and start redis-server; bash .ci/run does)", clusterRedisAddr(), err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "todo-cluster-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return prefix
}

type clusterPair struct{ access, refresh string }

func register(t *testing.T, c *apiClient, email string) clusterPair {
	t.Helper()
	a := mustDo(t, c, "POST", "/api/v1/auth/register", "", map[string]string{"email": email, "name": "Cluster", "password": "cluster password"}, nil)
	if a.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, a.status, a.body)
	}
	return pairOf(t, a)
}

func loginAt(t *testing.T, c *apiClient, email string) clusterPair {
	t.Helper()
	a := mustDo(t, c, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": "cluster password"}, nil)
	if a.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, a.status, a.body)
	}
	return pairOf(t, a)
}

func pairOf(t *testing.T, a answer) clusterPair {
	t.Helper()
	var p struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatal(err)
	}
	return clusterPair{p.AccessToken, p.RefreshToken}
}

func mustDo(t *testing.T, c *apiClient, method, path, token string, body any, hdr map[string]string) answer {
	t.Helper()
	a, err := c.do(context.Background(), method, path, token, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func taskID(t *testing.T, a answer) int64 {
	t.Helper()
	var task taskJSON
	if err := json.Unmarshal(a.body, &task); err != nil {
		t.Fatal(err)
	}
	return task.ID
}

// listTitles counts the caller's tasks by title, every page.
func listTitles(t *testing.T, c *apiClient, token string) map[string]int {
	t.Helper()
	titles := map[string]int{}
	cursor := ""
	for {
		path := "/api/v1/tasks?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		a := mustDo(t, c, "GET", path, token, nil, nil)
		if a.status != http.StatusOK {
			t.Fatalf("list: %d %s", a.status, a.body)
		}
		var page struct {
			Items      []taskJSON `json:"items"`
			NextCursor *string    `json:"next_cursor"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, task := range page.Items {
			titles[task.Title]++
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return titles
		}
		cursor = *page.NextCursor
	}
}

// TestRedisClient: no client without REDIS_URL; with one, every call is
// bounded by REDIS_TIMEOUT and never retried, whatever the URL says.
func TestRedisClient(t *testing.T) {
	c, err := redisClient(config.Redis{})
	if err != nil || c != nil {
		t.Fatalf("without a URL: %v, %v; want none", c, err)
	}
	c, err = redisClient(config.Redis{URL: "redis://:pw@127.0.0.1:6390/3?dial_timeout=30s&max_retries=5", Timeout: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.Options()
	if o.Addr != "127.0.0.1:6390" || o.DB != 3 || o.Password != "pw" {
		t.Errorf("options %+v", o)
	}
	if o.DialTimeout != 40*time.Millisecond || o.ReadTimeout != 40*time.Millisecond || o.WriteTimeout != 40*time.Millisecond || o.PoolTimeout != 40*time.Millisecond || o.MaxRetries != 0 { // -1 is stored as 0, none
		t.Errorf("timeouts %v %v %v %v, retries %d; want 40ms and none", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, o.MaxRetries)
	}
}
