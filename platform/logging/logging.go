// Package logging builds the service's structured logger.
package logging

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"todo/platform/config"
)

// New returns a slog logger writing to w in cfg's format and level.
func New(w io.Writer, cfg config.Log) *slog.Logger {
	return slog.New(newHandler(w, cfg))
}

func newHandler(w io.Writer, cfg config.Log) slog.Handler {
	opts := &slog.HandlerOptions{Level: level(cfg.Level)}
	if cfg.Format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}

func level(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// GatherInterval is how long an access log line may wait in the buffer
// of NewGathering's access logger before it is written.
const GatherInterval = 100 * time.Millisecond

// gatherSize is the buffered size that is written at once.
const gatherSize = 32 << 10

// NewGathering is New for a server: its logger writes every record through
// at once, as New's does, except the access log (Access), whose lines are
// gathered and written together at most GatherInterval later, or sooner
// once 32 KiB are waiting: one write for many requests instead of one each
// (a system call was about 5% of the CPU of a short request). Any other
// record first writes what is waiting, so the lines keep their order.
// closeLog writes what is waiting, and access lines after it go out at once; a process killed
// outright loses at most GatherInterval of access lines, never another
// record.
func NewGathering(w io.Writer, cfg config.Log) (log *slog.Logger, closeLog func()) {
	g := &gatherer{w: w}
	h := &gatheringHandler{Handler: newHandler(directWriter{g}, cfg), access: newHandler(g, cfg)}
	return slog.New(h), g.close
}

// Access returns the logger for the access log of log: the gathering one
// when log was made by NewGathering, else log itself.
func Access(log *slog.Logger) *slog.Logger {
	if h, ok := log.Handler().(*gatheringHandler); ok {
		return slog.New(h.access)
	}
	return log
}

// gatheringHandler is the handler of NewGathering's logger: its own records
// go through at once; access is the access log's handler.
type gatheringHandler struct {
	slog.Handler
	access slog.Handler
}

// gatherer buffers the access log's lines (Write) and writes them before
// any other record (directWriter) and at most GatherInterval after the
// first of them.
type gatherer struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	pending bool // a flush is scheduled
	closed  bool
}

func (g *gatherer) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return g.w.Write(p)
	}
	g.buf = append(g.buf, p...)
	if len(g.buf) >= gatherSize {
		return len(p), g.flushLocked()
	}
	if !g.pending {
		g.pending = true
		time.AfterFunc(GatherInterval, g.flush)
	}
	return len(p), nil
}

func (g *gatherer) flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = false
	_ = g.flushLocked()
}

func (g *gatherer) flushLocked() error {
	if len(g.buf) == 0 {
		return nil
	}
	_, err := g.w.Write(g.buf)
	if cap(g.buf) > 4*gatherSize {
		g.buf = nil // a burst's buffer is not kept
	} else {
		g.buf = g.buf[:0]
	}
	return err
}

func (g *gatherer) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	_ = g.flushLocked()
	g.closed = true
}

// directWriter writes what the gatherer holds, then p.
type directWriter struct{ g *gatherer }

func (d directWriter) Write(p []byte) (int, error) {
	d.g.mu.Lock()
	defer d.g.mu.Unlock()
	if err := d.g.flushLocked(); err != nil {
		return 0, err
	}
	return d.g.w.Write(p)
}
