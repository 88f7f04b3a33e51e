package database_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// events records what a subscription was called with.
type events struct {
	mu       sync.Mutex
	payloads []string
	resets   int
}

func (e *events) sub() database.Subscription {
	return database.Subscription{
		Notify: func(p string) { e.mu.Lock(); e.payloads = append(e.payloads, p); e.mu.Unlock() },
		Reset:  func() { e.mu.Lock(); e.resets++; e.mu.Unlock() },
	}
}

func (e *events) snapshot() ([]string, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.payloads...), e.resets
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListener: notifications committed on a channel reach its subscriber,
// those rolled back never do; a connection terminated by the server is
// re-established, with Reset called as it is lost and again once it
// listens, and the metrics count it all; Run returns when its context ends.
func TestListener(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	l, err := database.NewListener(url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var ev, other events
	l.Subscribe("test_channel", ev.sub())
	l.Subscribe("other_channel", other.sub())
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	waitFor(t, "the first connection", l.Connected)
	if _, resets := ev.snapshot(); resets != 1 {
		t.Errorf("resets after connecting: %d, want 1", resets)
	}

	notify := func(commit bool, payload string) {
		t.Helper()
		tx, err := db.SQL.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), "SELECT pg_notify('test_channel', $1)", payload); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	notify(false, "rolled back")
	notify(true, "committed")
	waitFor(t, "the committed notification", func() bool { p, _ := ev.snapshot(); return len(p) == 1 })
	if p, _ := ev.snapshot(); p[0] != "committed" {
		t.Errorf("payloads: %q, want only the committed one", p)
	}
	if p, _ := other.snapshot(); len(p) != 0 {
		t.Errorf("another channel's subscriber got %q", p)
	}

	var killed int
	err = db.SQL.QueryRowContext(t.Context(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
		database.ListenerApplicationName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listener's connection: %d, %v", killed, err)
	}
	// Lost (Reset), then back and listening (Reset again).
	waitFor(t, "the reconnection", func() bool { _, r := ev.snapshot(); return r >= 3 && l.Connected() })
	notify(true, "after reconnect")
	waitFor(t, "a notification after the reconnection", func() bool { p, _ := ev.snapshot(); return len(p) == 2 })

	text := metricsText(t, reg)
	for _, want := range []string{"db_listener_connected 1", "db_listener_reconnects_total 1", "db_listener_notifications_total 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if l.Connected() {
		t.Error("still connected after Run returned")
	}
	waitFor(t, "the connection to close", func() bool {
		var n int
		_ = db.SQL.QueryRowContext(t.Context(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
			database.ListenerApplicationName).Scan(&n)
		return n == 0
	})
}

func metricsText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			fmt.Fprintf(&b, "%s %g\n", mf.GetName(), m.GetGauge().GetValue()+m.GetCounter().GetValue())
		}
	}
	return b.String()
}
