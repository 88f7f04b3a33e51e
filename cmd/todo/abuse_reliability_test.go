package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// rawExchange writes head (and then body, if any) on a fresh connection,
// then reads whatever the server answers until it closes the connection or
// deadline passes. It returns the answer's status line ("" when the server
// closed without answering) and how long the server took.
func rawExchange(t *testing.T, addr, head string, body []byte, deadline time.Duration) (status, rest string, took time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		if _, err := conn.Write(body); err != nil {
			t.Fatalf("write body: %v", err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(deadline))
	b, err := io.ReadAll(bufio.NewReader(conn))
	took = time.Since(start)
	// A reset after the answer is fine (the server closes a connection
	// whose body it did not read); a timeout means it hung.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server neither answered nor closed the connection within %v (read %.200q)", deadline, b)
	}
	s := string(b)
	line, rest, _ := strings.Cut(s, "\r\n")
	return line, rest, took
}

func hostOf(base string) string { return strings.TrimPrefix(base, "http://") }

// TestSlowAndOversizedClients: a client that never finishes its headers is
// cut off after HTTP_READ_HEADER_TIMEOUT, one that dribbles its body after
// HTTP_READ_TIMEOUT, and a body announced or streamed over 1 MiB is a 413
// answered at once, without the server reading it whole.
func TestSlowAndOversizedClients(t *testing.T) {
	base, _, _ := startServeAt(t, map[string]string{
		"DATA_DIR":                 t.TempDir(),
		"AUTH_SECRET":              testSecret,
		"AUTH_BCRYPT_COST":         "4",
		"HTTP_READ_HEADER_TIMEOUT": "1s",
		"HTTP_READ_TIMEOUT":        "2s",
	})
	addr := hostOf(base)
	api := newAPIClient(base, 4)
	token, _ := registerUser(t, api, "slow@example.com")

	t.Run("headers-never-finished/cut-off", func(t *testing.T) {
		status, _, took := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", nil, failFastBound+5*time.Second)
		if took < 900*time.Millisecond || took > failFastBound {
			t.Errorf("connection ended after %v, want about HTTP_READ_HEADER_TIMEOUT=1s", took)
		}
		if strings.Contains(status, " 200 ") {
			t.Errorf("half a request was served: %q", status)
		}
		t.Logf("cut off after %v (%q)", took.Round(time.Millisecond), status)
	})

	t.Run("body-dribbled/cut-off", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n")
		// One byte every 200 ms: 80 s for the whole body.
		stopDribble := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stopDribble:
					return
				case <-time.After(200 * time.Millisecond):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		})
		_ = conn.SetReadDeadline(time.Now().Add(failFastBound + 5*time.Second))
		b, _ := io.ReadAll(conn)
		took := time.Since(start)
		close(stopDribble)
		wg.Wait()
		line, _, _ := strings.Cut(string(b), "\r\n")
		if took < 1900*time.Millisecond || took > 2*time.Second+failFastBound {
			t.Errorf("connection ended after %v, want about HTTP_READ_TIMEOUT=2s", took)
		}
		if line != "" && !strings.HasPrefix(line, "HTTP/1.1 4") {
			t.Errorf("answer to a dribbled body: %q, want a 4xx or a closed connection", line)
		}
		if line != "" && !strings.Contains(string(b), "application/problem+json") {
			t.Errorf("answer is not problem+json: %q", b)
		}
		t.Logf("cut off after %v (%q)", took.Round(time.Millisecond), line)
	})

	oversized := []struct {
		name, path, auth string
	}{
		{"register", "/api/v1/auth/register", ""},
		{"create-task", "/api/v1/tasks", "Authorization: Bearer " + token + "\r\n"},
	}
	for _, tc := range oversized {
		t.Run("content-length-10MiB/"+tc.name+"/413", func(t *testing.T) {
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", tc.path, tc.auth, 10<<20)
			status, rest, took := rawExchange(t, addr, head, []byte(`{"title":"`+strings.Repeat("a", 4096)), failFastBound)
			if !strings.HasPrefix(status, "HTTP/1.1 413") || !strings.Contains(rest, `"code":"payload_too_large"`) {
				t.Fatalf("got %q %q, want 413 payload_too_large", status, rest)
			}
			t.Logf("413 after %v with 4 KiB of 10 MiB sent", took.Round(time.Millisecond))
		})
		t.Run("chunked-over-1MiB/"+tc.name+"/413", func(t *testing.T) {
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", tc.path, tc.auth)
			chunk := strings.Repeat("a", 64<<10)
			var body strings.Builder
			body.WriteString(`{"title":"`)
			for range 20 { // 1.25 MiB, then the client stalls without a last chunk
				fmt.Fprintf(&body, "%x\r\n%s\r\n", len(chunk), chunk)
			}
			status, rest, _ := rawExchange(t, addr, head, []byte(body.String()[len(`{"title":"`):]), failFastBound)
			if !strings.HasPrefix(status, "HTTP/1.1 413") || !strings.Contains(rest, `"code":"payload_too_large"`) {
				t.Fatalf("got %q %.200q, want 413 payload_too_large", status, rest)
			}
		})
	}

	// The server is unharmed.
	if a, err := api.do(context.Background(), "GET", "/api/v1/tasks", token, nil, nil); err != nil || a.status != http.StatusOK {
		t.Fatalf("after the abuse: %d %v", a.status, err)
	}
}

// TestPoolExhaustion: 200 concurrent requests to a database endpoint with
// DB_MAX_CONNS=2 and DB_ACQUIRE_TIMEOUT=1s while the two connections are
// stuck behind a table lock: requests wait, then get 503 unavailable with
// Retry-After; nothing crashes or answers 500, and the service recovers.
func TestPoolExhaustion(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	base, logs, _ := startServeAt(t, map[string]string{
		"DATABASE_URL":        url,
		"DB_MIN_CONNS":        "0",
		"DB_MAX_CONNS":        "2",
		"DB_ACQUIRE_TIMEOUT":  "1s",
		"AUTH_SECRET":         testSecret,
		"AUTH_BCRYPT_COST":    "4",
		"AUTH_RATE_PER_IP":    "100000",
		"AUTH_RATE_PER_EMAIL": "100000",
	})
	const clients = 200
	api := newAPIClient(base, clients)
	token, _ := registerUser(t, api, "pool@example.com")

	// Every authenticated request reads sessions; this lock makes the two
	// pooled connections wait, so the other requests wait for them.
	ctx := context.Background()
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ty := &tally{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			a, err := api.do(ctx, "GET", "/api/v1/tasks?limit=5", token, nil, nil)
			o := outcome{client: i, op: "list", status: a.status, err: err, took: time.Since(t0), duringDB: "locked"}
			if err == nil && a.status >= 400 {
				o.code, o.retry = problemCode(a), a.header.Get("Retry-After")
			}
			ty.add(o)
		})
	}
	close(start)
	time.Sleep(2500 * time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("%s; slowest %v", ty.summary(), ty.slowest(func(outcome) bool { return true }))
	checkOutcomes(t, ty, http.StatusOK, http.StatusServiceUnavailable)
	if n := ty.count(func(o outcome) bool { return o.status == http.StatusServiceUnavailable }); n == 0 {
		t.Error("no request timed out waiting for a connection: the pool was not exhausted")
	}
	if a, err := api.do(ctx, "GET", "/api/v1/tasks", token, nil, nil); err != nil || a.status != http.StatusOK {
		t.Fatalf("after the pool drained: %d %v", a.status, err)
	}
	if strings.Contains(logs.text(), `"level":"ERROR"`) {
		t.Errorf("errors logged under pool exhaustion:\n%s", firstLines(logs.text(), `"level":"ERROR"`, 5))
	}
}
