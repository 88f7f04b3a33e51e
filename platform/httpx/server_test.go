package httpx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"todo/platform/config"
)

func testHTTPConfig() config.HTTP {
	return config.HTTP{
		ReadHeaderTimeout: time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       5 * time.Second,
		ShutdownTimeout:   5 * time.Second,
	}
}

// TestShutdownFinishesInFlight: a request in flight when the context ends
// (SIGTERM in `todo serve`) completes, and new connections are refused.
func TestShutdownFinishesInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeListener(ctx, ln, testHTTPConfig(), slog.New(slog.DiscardHandler), h) }()

	url := "http://" + ln.Addr().String() + "/slow"
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel()

	r := <-got
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: body %q, err %v; want done", r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after shutdown")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("a new connection was accepted after shutdown")
	}
}

// TestShutdownBounded: a request that outlives ShutdownTimeout does not keep
// the process up; ServeListener returns an error after the bound.
func TestShutdownBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testHTTPConfig()
	cfg.ShutdownTimeout = 200 * time.Millisecond
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeListener(ctx, ln, cfg, slog.New(slog.DiscardHandler), h) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("ServeListener returned nil although a request was cut off")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("shutdown took %s, bound is %s", d, cfg.ShutdownTimeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return")
	}
}
