// Package tasks is the tasks module: a user's todo list under /api/v1/tasks,
// with keyset pages, ETags and If-Match, and idempotent creation.
package tasks

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	"github.com/gin-gonic/gin"

	"todo/ent"
	"todo/platform/background"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
)

// Deps is what the module needs from the process.
type Deps struct {
	DB *ent.Client
	// Dialect is DB's: dialect.Postgres or dialect.SQLite.
	Dialect string
	// Query, when set, runs the statements that are not in a transaction
	// (database.DB.Query: pgx directly on PostgreSQL); else they go through
	// DB.
	Query  database.QueryFunc
	Config config.Tasks
	// Secret keys the MACs of list cursors and sync tokens. When empty, a
	// random key is used, and neither survives a restart.
	Secret []byte
	Log    *slog.Logger
	Now    func() time.Time
	Binder *httpx.Binder
}

// Module is the tasks module.
type Module struct {
	h *handler
}

// New returns the module wired to its dependencies. It panics on a
// Dialect it does not know: that is a wiring mistake, not a condition.
func New(d Deps) *Module {
	if d.Dialect != dialect.Postgres && d.Dialect != dialect.SQLite {
		panic(fmt.Sprintf("tasks.New: Deps.Dialect %q is neither %q nor %q", d.Dialect, dialect.Postgres, dialect.SQLite))
	}
	secret := d.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // never fails, per crypto/rand
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binder := d.Binder
	if binder == nil {
		binder = httpx.NewBinder()
	}
	ttl := d.Config.IdempotencyTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	tombstoneTTL := d.Config.TombstoneTTL
	if tombstoneTTL <= 0 {
		tombstoneTTL = 720 * time.Hour
	}
	svc := &service{
		store:        newStore(d.DB, d.Dialect, d.Query),
		cursors:      newCursorCodec(secret),
		syncTokens:   newSyncCodec(secret),
		clock:        now,
		log:          log,
		keyTTL:       ttl,
		keyWait:      keyWait,
		tombstoneTTL: tombstoneTTL,
	}
	return &Module{h: &handler{svc: svc, bind: binder}}
}

// tombstonePurgeEvery is how often expired tombstones are purged.
const tombstonePurgeEvery = time.Minute

// Jobs returns the module's background jobs: the purge of tombstones past
// the retention window (TASKS_TOMBSTONE_TTL), in bounded batches.
func (m *Module) Jobs(log *slog.Logger) []background.Job {
	return []background.Job{{
		Name:  "purge expired tombstones",
		Every: tombstonePurgeEvery,
		Run: func(ctx context.Context) error {
			n, err := m.h.svc.PurgeTombstones(ctx)
			if n > 0 {
				log.InfoContext(ctx, "purged expired tombstones", "count", n)
			}
			return err
		},
	}}
}

// Routes mounts /tasks; requireUser puts the caller's Principal on the context.
func (m *Module) Routes(r gin.IRouter, requireUser gin.HandlerFunc) {
	g := r.Group("/tasks", requireUser)
	g.GET("", httpx.Handle(m.h.list))
	g.POST("", httpx.Handle(m.h.create))
	g.GET("/stats", httpx.Handle(m.h.stats)) // a static path beside /:id works since Gin v1.7
	g.GET("/changes", httpx.Handle(m.h.changes))
	g.GET("/:id", httpx.Handle(m.h.get))
	g.PATCH("/:id", httpx.Handle(m.h.update))
	g.POST("/:id/toggle", httpx.Handle(m.h.toggle))
	g.DELETE("/:id", httpx.Handle(m.h.delete))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
