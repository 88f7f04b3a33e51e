// Package auth is the accounts module: registration, login, token refresh
// and logout, the caller's account and sessions, and the middleware that
// authenticates every other module's requests.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"todo/ent"
	"todo/platform/background"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
)

// Deps is what the auth module needs from the process.
type Deps struct {
	DB     *ent.Client
	Config config.Auth
	Log    *slog.Logger
	Now    func() time.Time
	Binder *httpx.Binder
	// WakeMail nudges the mail worker after a transaction queued mail (the
	// verification and reset mails, through platform/mail's outbox); nil
	// leaves them to the worker's next poll.
	WakeMail func()
	// Dialect is DB's, dialect.Postgres or dialect.SQLite. On PostgreSQL
	// every revocation is announced with NOTIFY in its transaction.
	Dialect string
	// Listener, on PostgreSQL, brings the revocations announced by every
	// instance (this one's included) to the session cache, which is used
	// only while it is connected. Nil on SQLite, where this process makes
	// every revocation; nil on PostgreSQL leaves the cache to its TTL alone,
	// which only tests do.
	Listener *database.Listener
	// Redis, when set, keeps the rate limits and the login backoff for
	// every instance that shares it (REDIS_URL), with RedisConfig's key
	// prefix and timeout; nil keeps them in this process. The hashing
	// slots stay per process either way.
	Redis       redis.Scripter
	RedisConfig config.Redis
}

// Module is the auth module: its routes and its authentication middleware.
type Module struct {
	svc *Service
	h   *handler
}

// New builds the module. It computes the dummy password hash that unknown
// emails are checked against, one bcrypt at the configured cost.
func New(ctx context.Context, d Deps) (*Module, error) {
	if d.DB == nil || d.Log == nil || d.Now == nil || d.Binder == nil {
		return nil, errors.New("auth: Deps.DB, Log, Now and Binder are required")
	}
	svc, err := NewService(ctx, d)
	if err != nil {
		return nil, err
	}
	return &Module{svc: svc, h: &handler{svc: svc, bind: d.Binder}}, nil
}

// Collector returns the shared limits' metrics:
// todo_ratelimit_redis_errors_total and todo_ratelimit_redis_fallback.
func (m *Module) Collector() prometheus.Collector { return limitMetrics{m.svc.shared} }

// purgeEvery is how often the ended sessions are purged.
const purgeEvery = 10 * time.Minute

// Jobs returns the module's background jobs: the purges of ended sessions
// and of expired verification and reset tokens.
func (m *Module) Jobs(log *slog.Logger) []background.Job {
	return []background.Job{{
		Name:  "purge ended sessions",
		Every: purgeEvery,
		Run: func(ctx context.Context) error {
			n, err := m.svc.PurgeSessions(ctx)
			if n > 0 {
				log.InfoContext(ctx, "purged ended sessions", "count", n)
			}
			return err
		},
	}, {
		Name:  "purge expired account tokens",
		Every: purgeEvery,
		Run: func(ctx context.Context) error {
			n, err := m.svc.PurgeTokens(ctx)
			if n > 0 {
				log.InfoContext(ctx, "purged expired account tokens", "count", n)
			}
			return err
		},
	}}
}

// Service returns the module's Service.
func (m *Module) Service() *Service { return m.svc }

// Routes mounts /auth/… and /users/me… on r.
func (m *Module) Routes(r gin.IRouter) {
	a := r.Group("/auth")
	a.POST("/register", httpx.Handle(m.h.register))
	a.POST("/login", httpx.Handle(m.h.login))
	a.POST("/refresh", httpx.Handle(m.h.refresh))
	a.POST("/logout", httpx.Handle(m.h.logout))
	a.POST("/verify-email/request", m.RequireUser(), httpx.Handle(m.h.requestVerification))
	a.POST("/verify-email", httpx.Handle(m.h.verifyEmail))
	a.POST("/password-reset/request", httpx.Handle(m.h.requestPasswordReset))
	a.POST("/password-reset/confirm", httpx.Handle(m.h.resetPassword))

	me := r.Group("/users/me", m.RequireUser())
	me.GET("", httpx.Handle(m.h.me))
	me.PATCH("", httpx.Handle(m.h.rename))
	me.DELETE("", httpx.Handle(m.h.deleteAccount))
	me.PUT("/password", httpx.Handle(m.h.changePassword))
	me.GET("/sessions", httpx.Handle(m.h.sessions))
	me.DELETE("/sessions/:id", httpx.Handle(m.h.revokeSession))
}

// RequireUser returns middleware that authenticates the request's bearer
// token and puts the caller's httpx.Principal on the context, or answers
// 401 unauthorized.
func (m *Module) RequireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			httpx.WriteError(c, ErrUnauthorized)
			return
		}
		p, err := m.svc.Authenticate(c.Request.Context(), token)
		if err != nil {
			httpx.WriteError(c, err)
			return
		}
		httpx.SetPrincipal(c, p)
		c.Next()
	}
}
