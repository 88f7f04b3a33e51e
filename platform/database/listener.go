package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// probeChannelPrefix starts the channel each listener connection probes
// itself on; a random suffix keeps every connection's its own.
const probeChannelPrefix = "todo_listen_probe_"

// ListenerApplicationName is the application_name of the listener's
// connection, by which pg_stat_activity tells it from the pool's.
const ListenerApplicationName = "todo-listen"

// Listener keeps one dedicated PostgreSQL connection LISTENing on the
// channels subscribed to, and hands each notification to its subscribers.
// A notification sent in a transaction (pg_notify) is delivered when the
// transaction commits, and only then.
//
// When the connection drops, the listener reconnects with exponential
// backoff. Notifications sent while it is down are lost, so every
// subscriber's Reset runs when the connection is lost and again once it is
// back and listening, before Connected reports true: a subscriber that
// caches what notifications invalidate uses nothing cached while
// disconnected and starts afresh after.
type Listener struct {
	cfg  *pgx.ConnConfig
	log  *slog.Logger
	subs map[string][]Subscription
	mu   sync.Mutex // guards subs against Subscribe after Run
	run  bool

	connected atomic.Bool

	// Timings; tests shorten them.
	minBackoff, maxBackoff time.Duration
	idle                   time.Duration // a quiet connection is probed this often
	pingTimeout            time.Duration
	// lose, in tests, sends the probes where they are lost, as a pooler
	// in transaction mode loses notifications.
	lose bool
	// via, when set (ProbeThrough), sends the probes instead of the
	// listening connection.
	via *sql.DB

	mConnected     prometheus.Gauge
	mReconnects    prometheus.Counter
	mNotifications prometheus.Counter
}

// Subscription is what a subscriber to a channel is called with. Both run
// on the listener's goroutine and must not block.
type Subscription struct {
	// Notify gets the payload of each notification on the channel.
	Notify func(payload string)
	// Reset is called when notifications may have been missed: as the
	// connection is found lost, and once it listens again.
	Reset func()
}

// NewListener returns a listener that connects to url (a postgres:// URL,
// DATABASE_LISTEN_URL). It does not connect before Run.
func NewListener(url string, log *slog.Logger) (*Listener, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_LISTEN_URL: %w", redact(err))
	}
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return &Listener{
		cfg:         cfg,
		log:         log,
		subs:        make(map[string][]Subscription),
		minBackoff:  100 * time.Millisecond,
		maxBackoff:  5 * time.Second,
		idle:        2 * time.Second,
		pingTimeout: 2 * time.Second,
		mConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "db_listener_connected",
			Help: "1 while the LISTEN connection is up and listening, else 0.",
		}),
		mReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "db_listener_reconnects_total",
			Help: "Times the LISTEN connection was established again after it was lost or failed to connect.",
		}),
		mNotifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "db_listener_notifications_total",
			Help: "Notifications received on the LISTEN connection.",
		}),
	}, nil
}

// Subscribe adds s to channel. Call it before Run.
func (l *Listener) Subscribe(channel string, s Subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run {
		panic("database: Listener.Subscribe after Run")
	}
	l.subs[channel] = append(l.subs[channel], s)
}

// ProbeThrough makes l send the first probe of each connection through
// db, the pool the service writes (and so notifies) through, instead of
// on the connection itself: its coming back proves that notifications
// sent where the service sends them reach this connection, which a
// DATABASE_LISTEN_URL naming another database or server would never do.
// The later probes (liveness, when quiet) stay on the connection, so that
// a busy pool never makes the listener drop. Call it before Run.
func (l *Listener) ProbeThrough(db *sql.DB) { l.via = db }

// Connected reports whether the connection is up and listening, so that
// every notification sent from now on will be delivered.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Describe and Collect make the listener a Prometheus collector of its
// connected gauge and its reconnection and notification counters.
func (l *Listener) Describe(ch chan<- *prometheus.Desc) {
	l.mConnected.Describe(ch)
	l.mReconnects.Describe(ch)
	l.mNotifications.Describe(ch)
}

// Collect sends the listener's metrics to ch; see Describe.
func (l *Listener) Collect(ch chan<- prometheus.Metric) {
	l.mConnected.Collect(ch)
	l.mReconnects.Collect(ch)
	l.mNotifications.Collect(ch)
}

// Run listens until ctx ends, reconnecting whenever the connection is lost.
func (l *Listener) Run(ctx context.Context) {
	l.mu.Lock()
	l.run = true
	l.mu.Unlock()
	backoff := l.minBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			l.mReconnects.Inc()
		}
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > l.maxBackoff { // it was up a while: start over
			backoff = l.minBackoff
		}
		l.log.Warn("database listener disconnected; session checks ask the database until it is back",
			"err", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, l.maxBackoff)
	}
}

// session connects, listens and delivers notifications until the
// connection fails or ctx ends.
//
// The connection is trusted only once a notification sent on a probe
// channel of its own (the first through the pool given to ProbeThrough,
// else on the connection itself) has come back: a pooler in transaction mode
// (Neon's -pooler endpoint, PgBouncer) accepts LISTEN but does not deliver.
// The probe is repeated whenever the connection has been quiet for idle,
// so a connection cut silently, or one that stops delivering, is noticed
// within idle+pingTimeout.
func (l *Listener) session(ctx context.Context) (err error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", redact(err))
	}
	defer func() {
		if l.connected.Swap(false) {
			l.mConnected.Set(0)
			l.reset()
		}
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	probeChannel := probeChannelPrefix + rand.Text()
	for _, ch := range append(slices.Collect(maps.Keys(l.subs)), probeChannel) {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	var (
		nonce    int
		deadline time.Time // of the probe in flight; zero when none is
	)
	probe := func() error {
		nonce++
		pctx, cancel := context.WithTimeout(ctx, l.pingTimeout)
		defer cancel()
		to := probeChannel
		if l.lose {
			to += "_lost"
		}
		var err error
		if l.via != nil && nonce == 1 {
			_, err = l.via.ExecContext(pctx, "SELECT pg_notify($1, $2)", to, strconv.Itoa(nonce))
		} else {
			_, err = conn.Exec(pctx, "SELECT pg_notify($1, $2)", to, strconv.Itoa(nonce))
		}
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		deadline = time.Now().Add(l.pingTimeout)
		return nil
	}
	if err := probe(); err != nil {
		return err
	}
	for {
		wait := l.idle
		if !deadline.IsZero() {
			wait = time.Until(deadline)
		}
		waitCtx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil && n.Channel == probeChannel:
			if n.Payload != strconv.Itoa(nonce) {
				continue // an earlier probe's, late
			}
			deadline = time.Time{}
			if !l.connected.Load() {
				// Delivering: whatever is sent from now on arrives. What was
				// missed before is forgotten before anyone relies on the
				// subscription again.
				l.reset()
				l.connected.Store(true)
				l.mConnected.Set(1)
				l.log.Info("database listener connected", "channels", len(l.subs))
			}
		case err == nil:
			l.mNotifications.Inc()
			for _, s := range l.subs[n.Channel] {
				s.Notify(n.Payload)
			}
		case errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil:
			if !deadline.IsZero() {
				return fmt.Errorf("a probe notification did not come back within %v (a pooler in transaction mode, or another database than DATABASE_URL's? set DATABASE_LISTEN_URL to a direct endpoint of the same database)", l.pingTimeout)
			}
			if err := probe(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

func (l *Listener) reset() {
	for _, subs := range l.subs {
		for _, s := range subs {
			if s.Reset != nil {
				s.Reset()
			}
		}
	}
}
