package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"todo/platform/config"
	"todo/platform/database"
)

// TestGracefulShutdownUnderLoad starts `todo serve` as a real process (this
// test binary in serve mode, see TestMain) on SQLite, puts requests in
// flight, and sends SIGTERM: the listener closes at once (new connections
// are refused), every request already accepted completes with a valid
// answer, the process exits 0 within HTTP_SHUTDOWN_TIMEOUT after closing
// the database, and every task answered 201 is in the database file.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	dataDir := t.TempDir()
	const shutdownTimeout = 10 * time.Second
	held, loaders := 20, 32
	if longMode() {
		held, loaders = 100, 64
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"=1",
		"HTTP_ADDR=127.0.0.1:0",
		"METRICS_ADDR=127.0.0.1:0",
		"DATA_DIR="+dataDir,
		"DATABASE_URL=",
		"AUTH_SECRET="+testSecret,
		"AUTH_BCRYPT_COST=4",
		"AUTH_RATE_PER_IP=1000000",
		"AUTH_RATE_PER_EMAIL=1000000",
		"HTTP_SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
		"LOG_LEVEL=info",
	)
	out := newLineWriter()
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			if err := <-exited; err != nil {
				t.Logf("killed server: %v", err)
			}
		}
	})
	var addr string
	select {
	case addr = <-out.addr:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v\n%s\n%s", err, out.text(), stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start\n%s", out.text())
	}
	base := "http://" + addr
	api := newAPIClient(base, 4)
	token, _ := registerUser(t, api, "shutdown@example.com")

	// Requests the server has accepted and is reading: the headers sent with
	// Expect: 100-continue and the body held back until after SIGTERM. The
	// 100 Continue each gets back proves its handler is running and reading
	// the body, so it is in flight when the signal comes, however slowly
	// this machine schedules the server (a connection the server has not
	// read from yet is idle to Go's Shutdown, and closed).
	type heldReq struct {
		conn  net.Conn
		br    *bufio.Reader
		title string
		body  string
	}
	reqs := make([]heldReq, held)
	for i := range reqs {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		title := fmt.Sprintf("held %d", i)
		body := fmt.Sprintf(`{"title":%q,"description":"in flight at SIGTERM"}`, title)
		fmt.Fprintf(conn, "POST /api/v1/tasks HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, token, len(body))
		reqs[i] = heldReq{conn: conn, br: bufio.NewReader(conn), title: title, body: body}
	}
	for i, r := range reqs {
		_ = r.conn.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := r.br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("held request %d: %q %v, want 100 Continue", i, line, err)
		}
		if blank, err := r.br.ReadString('\n'); err != nil || blank != "\r\n" {
			t.Fatalf("held request %d: after 100 Continue: %q %v", i, blank, err)
		}
	}

	// Background load: clients creating tasks on fresh connections until
	// the listener is gone.
	noKeepAlive := http.DefaultTransport.(*http.Transport).Clone()
	noKeepAlive.DisableKeepAlives = true
	bg := &apiClient{base: base, hc: &http.Client{Transport: noKeepAlive, Timeout: 20 * time.Second}}
	var (
		mu         sync.Mutex
		created    = map[int64]string{}
		statuses   = map[int]int{}
		refused    atomic.Int64
		otherErrs  []string
		unanswered []string // titles of creates that got no answer
		terminated atomic.Bool
	)
	var wg sync.WaitGroup
	for n := range loaders {
		wg.Go(func() {
			for i := 0; ; i++ {
				title := fmt.Sprintf("bg %d-%d", n, i)
				a, err := bg.do(context.Background(), "POST", "/api/v1/tasks", token, map[string]string{"title": title}, nil)
				mu.Lock()
				switch {
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
					mu.Unlock()
					return
				case err != nil:
					otherErrs = append(otherErrs, err.Error())
					unanswered = append(unanswered, title)
					stop := terminated.Load()
					mu.Unlock()
					if stop {
						return
					}
					continue
				}
				statuses[a.status]++
				if a.status == http.StatusCreated {
					var tj taskJSON
					if json.Unmarshal(a.body, &tj) == nil {
						created[tj.ID] = title
					}
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)

	terminated.Store(true)
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the accepted requests still wait
	// for their bodies.
	refusedAt := time.Duration(-1)
	for time.Since(sigAt) < failFastBound {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			// A dial that meets the listener as it closes is reset
			// rather than refused: either way it is not served.
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("dial after SIGTERM: %v, want connection refused (or reset)", err)
			}
			refusedAt = time.Since(sigAt)
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if refusedAt < 0 {
		t.Fatalf("new connections still accepted %v after SIGTERM", failFastBound)
	}
	wg.Wait()

	// The accepted requests finish and are answered.
	for i, r := range reqs {
		if _, err := io.WriteString(r.conn, r.body); err != nil {
			t.Errorf("held request %d: finishing the body: %v", i, err)
			continue
		}
		_ = r.conn.SetReadDeadline(time.Now().Add(shutdownTimeout))
		res, err := http.ReadResponse(r.br, nil)
		if err != nil {
			t.Errorf("held request %d: no answer: %v", i, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var tj taskJSON
		if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &tj) != nil || tj.Title != r.title {
			t.Errorf("held request %d: %d %s", i, res.StatusCode, b)
			continue
		}
		created[tj.ID] = r.title
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v, want 0\n%s", err, stderr.String())
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM", shutdownTimeout+5*time.Second)
	}
	exitAfter := time.Since(sigAt)
	logs := out.text()
	for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`, `"msg":"database closed"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("the log lacks %s", msg)
		}
	}
	for code, n := range statuses {
		if code != http.StatusCreated {
			t.Errorf("background creates answered %d: %d times", code, n)
		}
	}
	t.Logf("SIGTERM: refused new connections after %v, exit after %v; %d held requests answered; background %v, refused %d, connection errors %d %v",
		refusedAt.Round(time.Millisecond), exitAfter.Round(time.Millisecond), held, statuses, refused.Load(), len(otherErrs), firstN(otherErrs, 3))

	// Nothing answered 201 is lost.
	db, err := database.Open(context.Background(), config.Database{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tasks, err := db.Ent.Task.Query().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]string{}
	for _, tk := range tasks {
		stored[tk.ID] = tk.Title
	}
	for id, title := range created {
		if stored[id] != title {
			t.Errorf("task %d %q answered 201 but stored as %q", id, title, stored[id])
		}
	}
	// A create that got a reset instead of an answer was in the kernel's
	// accept queue when the listener closed: the server never read it.
	titles := map[string]bool{}
	for _, title := range stored {
		titles[title] = true
	}
	for _, title := range unanswered {
		if titles[title] {
			t.Errorf("create %q got no answer but was executed", title)
		}
	}
	t.Logf("%d tasks answered 201, all stored; %d unanswered creates, none stored", len(created), len(unanswered))
}

func firstN(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}
