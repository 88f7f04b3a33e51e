package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"todo/platform/background"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
	"todo/platform/logging"
)

func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.CheckServe(); err != nil {
		return err
	}
	// The access log's lines are gathered for up to 100 ms (logging.
	// NewGathering); everything else is written at once.
	log, closeLog := logging.NewGathering(stdout, cfg.Log)
	defer closeLog()
	if cfg.Auth.Secret == "" {
		if cfg.Auth.Secret, err = embeddedSecret(cfg.Database.DataDir); err != nil {
			return err
		}
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		_ = db.Close()
		log.Info("database closed")
	}()
	if err := migrateAtStart(ctx, cfg.Database, db, log); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer a.close()
	if cfg.HTTP.DebugAddr != "" {
		go servePprof(ctx, cfg.HTTP.DebugAddr, log)
	}
	if cfg.HTTP.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.MetricsAddr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR: listen on %s: %w", cfg.HTTP.MetricsAddr, err)
		}
		go serveMetrics(ctx, ln, a.metrics, log)
	}
	// The jobs and the mail worker (one per process, always on) stop when
	// ctx ends; the worker lets the mail in flight be answered (a few
	// seconds at most), cuts its SMTP connection and hands back the mail of
	// its batch not yet sent. Mail queued by requests still finishing during
	// the shutdown stays queued for the next start, or another instance.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := background.Start(jobsCtx, log, a.jobs...)
	mailDone := make(chan struct{})
	go func() {
		defer close(mailDone)
		_ = a.mail.Run(jobsCtx)
	}()
	// The revocation listener (PostgreSQL) runs until the server is done:
	// requests still finishing during the shutdown keep its notifications.
	listenCtx, stopListen := context.WithCancel(context.WithoutCancel(ctx))
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		if a.listener != nil {
			a.listener.Run(listenCtx)
		}
	}()
	defer func() {
		stopJobs()
		stopListen()
		<-jobsDone
		<-mailDone
		<-listenDone
	}()
	return httpx.Serve(ctx, cfg.HTTP, log, a.api)
}

// embeddedSecret reads the token signing secret of the embedded default from
// DATA_DIR/auth_secret, creating it with 32 random bytes on first start.
func embeddedSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "auth_secret")
	b, err := os.ReadFile(path) //nolint:gosec // G304: DATA_DIR is the operator's setting, not request input
	if err == nil && len(strings.TrimSpace(string(b))) >= config.MinSecretLen {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("create %s: %w", dataDir, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// serveMetrics serves Prometheus' scrapes of GET /metrics on a listener of
// their own (METRICS_ADDR), apart from the API, until ctx ends.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics", "err", err.Error())
	}
}

// servePprof serves Go's profiles on a loopback address of its own, for
// finding where the time goes under load (docs/performance.md).
func servePprof(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("pprof listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("pprof", "err", err.Error())
	}
}
