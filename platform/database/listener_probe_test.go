package database_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// TestListenerOnAnotherDatabase: a listener whose DATABASE_LISTEN_URL names
// another database than the service's (another branch, another server, a
// typo in the database name) proved its connection with a notification it
// sent on that same connection, so it reported connected and the session
// cache was trusted while no revocation made through DATABASE_URL could
// ever reach it. Probing through the service's own pool proves the path
// the revocations take: such a listener is never connected, and one on the
// service's database is.
func TestListenerOnAnotherDatabase(t *testing.T) {
	service, serviceURL := dbtest.NewWithURL(t)
	otherURL := dbtest.NewEmpty(t)

	run := func(t *testing.T, url string) (*database.Listener, *prometheus.Registry) {
		t.Helper()
		l, err := database.NewListener(url, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		l.ProbeThrough(service.SQL)
		database.ShortenWaits(l, 200*time.Millisecond)
		reg := prometheus.NewRegistry()
		reg.MustRegister(l)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return l, reg
	}

	t.Run("another database", func(t *testing.T) {
		l, reg := run(t, otherURL)
		waitFor(t, "two reconnections", func() bool {
			return strings.Contains(metricsText(t, reg), "db_listener_reconnects_total 2")
		})
		if l.Connected() {
			t.Error("reported connected on a database that never hears the service's notifications")
		}
	})
	t.Run("the service's database", func(t *testing.T) {
		l, _ := run(t, serviceURL)
		waitFor(t, "the listener to connect", l.Connected)
	})
}
