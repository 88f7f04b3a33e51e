package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

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
	idle                   time.Duration // a quiet connection is pinged this often
	pingTimeout            time.Duration

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
	for ch := range l.subs {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	// Listening: whatever is sent from now on arrives. What was missed
	// before is forgotten before anyone relies on the subscription again.
	l.reset()
	l.connected.Store(true)
	l.mConnected.Set(1)
	l.log.Info("database listener connected", "channels", len(l.subs))
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.idle)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			l.mNotifications.Inc()
			for _, s := range l.subs[n.Channel] {
				s.Notify(n.Payload)
			}
		case errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil:
			// Quiet for a while: make sure the connection still answers,
			// so that one cut silently is noticed within idle+pingTimeout.
			pingCtx, cancel := context.WithTimeout(ctx, l.pingTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
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
