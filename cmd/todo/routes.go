package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"entgo.io/ent/dialect"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"todo/api"
	"todo/modules/auth"
	"todo/modules/tasks"
	"todo/platform/apperr"
	"todo/platform/background"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
	"todo/platform/mail"
	"todo/web"
)

// app is the service's HTTP surface and background work: the API engine
// (the modules under /api/v1, the operations routes and the web client's
// page and assets), the Prometheus handler served on METRICS_ADDR, the
// periodic jobs, and the mail worker that drains the outbox.
type app struct {
	api     *httpx.Engine
	metrics http.Handler
	jobs    []background.Job
	mail    *mail.Worker
	// close releases what the app holds beyond the database (the Redis
	// client of the shared limits).
	close func()
	// listener brings revocations from every instance (PostgreSQL); nil on
	// SQLite. Serving runs it.
	listener *database.Listener
}

// newApp builds the app. Tests build it too.
func newApp(ctx context.Context, cfg config.Config, db *database.DB, log *slog.Logger) (*app, error) {
	return newAppAt(ctx, cfg, db, log, time.Now)
}

// newAppAt is newApp on the clock now, which tests move.
func newAppAt(ctx context.Context, cfg config.Config, db *database.DB, log *slog.Logger, now func() time.Time) (*app, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		database.NewCollector(db),
	)
	e, err := httpx.NewEngine(cfg.HTTP, log, reg)
	if err != nil {
		return nil, err
	}
	mailer, err := mail.NewWorker(db.Ent, db.Dialect, cfg.Mail, log, time.Now)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(mailer.Collector())
	var listener *database.Listener
	if db.Dialect == dialect.Postgres {
		listenURL := cfg.Database.ListenURL
		if listenURL == "" {
			listenURL = cfg.Database.URL
		}
		if listener, err = database.NewListener(listenURL, log); err != nil {
			return nil, err
		}
		// Probed through the pool that revocations are sent through, so
		// that a listener on another database is never trusted.
		listener.ProbeThrough(db.SQL)
		reg.MustRegister(listener)
	}
	bind := httpx.NewBinder()
	rdb, err := redisClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	closeApp := func() {}
	authDeps := auth.Deps{
		DB: db.Ent, Dialect: db.Dialect, Config: cfg.Auth, Log: log, Now: now, Binder: bind,
		WakeMail: mailer.Wake, Listener: listener, RedisConfig: cfg.Redis,
	}
	if rdb != nil {
		authDeps.Redis = rdb
		closeApp = func() { _ = rdb.Close() }
		log.Info("rate limits shared through Redis", "addr", rdb.Options().Addr, "db", rdb.Options().DB, "timeout", cfg.Redis.Timeout.String())
	}
	authM, err := auth.New(ctx, authDeps)
	if err != nil {
		closeApp()
		return nil, err
	}
	reg.MustRegister(authM.Collector())
	tasksM := tasks.New(tasks.Deps{DB: db.Ent, Dialect: db.Dialect, Query: db.Query, Config: cfg.Tasks, Secret: []byte(cfg.Auth.Secret), Log: log, Now: now, Binder: bind})

	e.GET("/healthz", httpx.Health)
	e.GET("/readyz", ready(cfg.Database, db))
	api.Mount(e, httpx.NotFound)
	web.Mount(e, httpx.NotFound)
	v1 := e.Group("/api/v1", httpx.NoStore)
	authM.Routes(v1)
	tasksM.Routes(v1, authM.RequireUser())
	return &app{
		api:      e,
		metrics:  metricsHandler(reg, cfg.HTTP.MetricsToken),
		jobs:     append(append(authM.Jobs(log), tasksM.Jobs(log)...), mailer.PurgeJob()),
		mail:     mailer,
		listener: listener,
		close:    closeApp,
	}, nil
}

// redisClient is the client of REDIS_URL's server, or nil when it is not
// set. Every call is bounded by REDIS_TIMEOUT (dialing, reading, writing,
// waiting for a pooled connection) and never retried: a limit that Redis
// does not answer in time falls back to this instance's own at once.
func redisClient(c config.Redis) (*redis.Client, error) {
	if !c.Enabled() {
		return nil, nil
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout = c.Timeout
	opt.ReadTimeout = c.Timeout
	opt.WriteTimeout = c.Timeout
	opt.PoolTimeout = c.Timeout
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}

// newHandler is newApp's API engine alone, for tests that need no more.
func newHandler(ctx context.Context, cfg config.Config, db *database.DB, log *slog.Logger) (*httpx.Engine, error) {
	return newHandlerAt(ctx, cfg, db, log, time.Now)
}

// newHandlerAt is newHandler on the clock now.
func newHandlerAt(ctx context.Context, cfg config.Config, db *database.DB, log *slog.Logger, now func() time.Time) (*httpx.Engine, error) {
	a, err := newAppAt(ctx, cfg, db, log, now)
	if err != nil {
		return nil, err
	}
	return a.api, nil
}

// metricsHandler serves reg in Prometheus' text format; with a token, only
// to requests that carry it as a bearer token.
func metricsHandler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ready answers 200 when the database answers and no migration is pending.
func ready(cfg config.Database, db *database.DB) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			httpx.WriteError(c, apperr.ErrUnavailable.WithDetail("the database does not answer").Wrap(err))
			return
		}
		pending, err := pendingMigrations(ctx, cfg, db)
		if err != nil {
			httpx.WriteError(c, apperr.ErrUnavailable.WithDetail("the migration state cannot be read").Wrap(err))
			return
		}
		if len(pending) > 0 {
			httpx.WriteError(c, apperr.ErrUnavailable.WithDetail("%d migration(s) pending", len(pending)))
			return
		}
		httpx.JSON(c, http.StatusOK, gin.H{"status": "ready"})
	}
}
