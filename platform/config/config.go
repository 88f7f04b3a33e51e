// Package config loads the service's settings: the embedded defaults of
// configs/defaults.env, overridden by environment variables of the same name.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"todo/configs"
)

// Config is every setting of the service.
type Config struct {
	Env      string // development | production
	HTTP     HTTP
	Database Database
	Auth     Auth
	Tasks    Tasks
	Mail     Mail
	Redis    Redis
	Log      Log
}

// HTTP configures the listener and the server's limits.
type HTTP struct {
	Addr      string
	DebugAddr string // pprof listener; empty: none
	// MetricsAddr is where /metrics is served, apart from the API; empty
	// serves none. Beyond loopback it needs MetricsToken.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken      string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	CORSOrigins       []string
	TrustedProxies    []netip.Prefix
}

// Database configures the connection and its pool.
type Database struct {
	URL string // empty: the embedded SQLite file
	// ListenURL is the connection that LISTENs for other instances'
	// notifications (DATABASE_LISTEN_URL), URL when unset; empty on SQLite.
	ListenURL       string
	DataDir         string
	MinConns        int32
	MaxConns        int32
	AcquireTimeout  time.Duration
	MaxConnLifetime time.Duration
	AutoMigrate     bool
	DevURL          string // the empty PostgreSQL server migrate diff replays into
}

// Embedded reports whether the service runs on the embedded SQLite file.
func (d Database) Embedded() bool {
	return d.URL == "" || strings.HasPrefix(d.URL, "sqlite:") || strings.HasPrefix(d.URL, "file:")
}

// Auth configures passwords, tokens and the login limits.
type Auth struct {
	Secret       string
	BcryptCost   int
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	Issuer       string
	Audience     string
	HashSlots    int
	HashQueue    int
	RatePerIP    int
	RatePerEmail int
	// RatePerAccount bounds the password checks of signed-in requests
	// (password change, account deletion) per account, a minute.
	RatePerAccount int
	// FailuresPerAccount failed password checks are free; each further one
	// locks the account, against addresses that failed lately, for twice as
	// long as the one before, from a second up to FailureBackoffMax.
	FailuresPerAccount int
	FailureBackoffMax  time.Duration
	// RefreshPerSession bounds the refreshes of one session, a minute.
	RefreshPerSession int
	// MaxSessions is how many live sessions a user keeps; a login beyond
	// revokes the oldest.
	MaxSessions int
	// AppBaseURL is where the links in mails point (APP_BASE_URL).
	AppBaseURL string
	// VerifyTTL and ResetTTL are how long an email verification and a
	// password reset token stay usable.
	VerifyTTL time.Duration
	ResetTTL  time.Duration
	// MailsPerHour bounds the verification mails one account may ask for,
	// and the reset mails one email may be sent, in an hour.
	MailsPerHour int
	// SessionCacheTTL is how long a session found live may be trusted
	// without asking the database again; 0 asks on every request.
	// Revocations made through the service take effect at once in its
	// instance and, on PostgreSQL, reach the others by NOTIFY; changes
	// made by SQL behind the service's back take up to this long.
	SessionCacheTTL time.Duration
	// JWKS names the external issuer whose tokens are accepted beside the
	// service's own; its URL is empty when there is none.
	JWKS JWKS
}

// JWKS configures an external token issuer that publishes its public keys
// as a JSON Web Key Set (Better Auth's jwt plugin, Neon Auth, any OIDC
// provider): AUTH_JWKS_URL, AUTH_JWKS_ISSUER, AUTH_JWKS_AUDIENCE.
type JWKS struct {
	URL      string // empty: no external issuer
	Issuer   string // the iss its tokens must carry
	Audience string // a value their aud must hold
}

// Enabled reports whether an external issuer is configured.
func (j JWKS) Enabled() bool { return j.URL != "" }

// Tasks configures the tasks module.
type Tasks struct {
	IdempotencyTTL time.Duration
	// TombstoneTTL is how long deletions are kept for the change feed, and
	// how long a sync token stays valid.
	TombstoneTTL time.Duration
}

// Mail configures the delivery of the service's mail (platform/mail).
type Mail struct {
	// SMTPURL is smtp://[user:pass@]host[:port] (STARTTLS when the server
	// offers it, required when there are credentials and the host is not
	// loopback) or smtps://… (TLS from the first byte). Empty: each mail is
	// written to the log instead, the embedded default for development.
	SMTPURL string
	// From is the sender, an address with an optional display name.
	From string
	// CAFile names a PEM file of certificates trusted beside the system's
	// roots for the SMTP server's certificate (a private CA); empty: the
	// system's roots alone.
	CAFile string
	// Timeout bounds connecting (with TLS and AUTH) and then each mail.
	Timeout time.Duration
	// PollInterval is how often the outbox is read for mail that is due
	// (retries, and mail whose worker died); new mail is sent at once.
	PollInterval time.Duration
	// GiveUpAfter is how long a mail is retried after it was queued.
	GiveUpAfter time.Duration
}

// Redis configures the Redis server that the instances share their rate
// limits and login backoff through (REDIS_URL). Without a URL each instance
// keeps its own, in memory.
type Redis struct {
	URL string // redis://[user:pass@]host[:port][/db] or rediss://…; empty: none
	// Timeout bounds each call to Redis; past it the instance uses its own
	// limits for that request (and for a second), so a slow Redis costs a
	// request at most this long.
	Timeout time.Duration
	// KeyPrefix begins every key the service writes, so that several
	// services (or tests) can share one Redis database.
	KeyPrefix string
}

// Enabled reports whether a Redis URL is configured.
func (r Redis) Enabled() bool { return r.URL != "" }

// Log configures the structured logger.
type Log struct {
	Level  string // debug | info | warn | error
	Format string // json | text
}

// MinSecretLen is the shortest AUTH_SECRET accepted, in bytes.
const MinSecretLen = 32

// MaxJWKSIssuerLen is the longest AUTH_JWKS_ISSUER accepted, in bytes: the
// auth module records it, with a short prefix, in each external account's
// 255-character hashed_password column.
const MaxJWKSIssuerLen = 200

// MaxSessionCacheTTL is the longest AUTH_SESSION_CACHE_TTL accepted: the
// longest a revocation made elsewhere may take to reach this instance.
const MaxSessionCacheTTL = time.Minute

// Load reads the defaults and overrides them with getenv. The first invalid
// setting is an error naming it and what is wrong, in one line.
func Load(getenv func(string) string) (Config, error) {
	defaults, err := parseEnvFile(configs.Defaults)
	if err != nil {
		return Config{}, fmt.Errorf("configs/defaults.env: %w", err)
	}
	r := reader{defaults: defaults, getenv: getenv}
	c := Config{
		Env: r.oneOf("APP_ENV", "development", "production"),
		HTTP: HTTP{
			Addr:              r.addr("HTTP_ADDR"),
			DebugAddr:         r.debugAddr("DEBUG_ADDR"),
			MetricsAddr:       r.optionalAddr("METRICS_ADDR"),
			MetricsToken:      r.str("METRICS_TOKEN"),
			ReadHeaderTimeout: r.duration("HTTP_READ_HEADER_TIMEOUT"),
			ReadTimeout:       r.duration("HTTP_READ_TIMEOUT"),
			WriteTimeout:      r.duration("HTTP_WRITE_TIMEOUT"),
			IdleTimeout:       r.duration("HTTP_IDLE_TIMEOUT"),
			ShutdownTimeout:   r.duration("HTTP_SHUTDOWN_TIMEOUT"),
			CORSOrigins:       r.origins("HTTP_CORS_ORIGINS"),
			TrustedProxies:    r.prefixes("HTTP_TRUSTED_PROXIES"),
		},
		Database: Database{
			URL:             r.databaseURL("DATABASE_URL"),
			ListenURL:       r.databaseURL("DATABASE_LISTEN_URL"),
			DataDir:         r.nonEmpty("DATA_DIR"),
			MinConns:        int32(r.intRange("DB_MIN_CONNS", 0, 1000)), //nolint:gosec // G115: intRange bounds it to 0–1000
			MaxConns:        int32(r.intRange("DB_MAX_CONNS", 1, 1000)), //nolint:gosec // G115: intRange bounds it to 1–1000
			AcquireTimeout:  r.duration("DB_ACQUIRE_TIMEOUT"),
			MaxConnLifetime: r.duration("DB_MAX_CONN_LIFETIME"),
			AutoMigrate:     r.boolean("DB_AUTO_MIGRATE"),
			DevURL:          r.databaseURL("MIGRATE_DEV_URL"),
		},
		Auth: Auth{
			Secret:             r.str("AUTH_SECRET"),
			BcryptCost:         r.intRange("AUTH_BCRYPT_COST", 4, 31),
			AccessTTL:          r.duration("AUTH_ACCESS_TTL"),
			RefreshTTL:         r.duration("AUTH_REFRESH_TTL"),
			Issuer:             r.nonEmpty("AUTH_ISSUER"),
			Audience:           r.nonEmpty("AUTH_AUDIENCE"),
			HashSlots:          r.intRange("AUTH_HASH_SLOTS", 0, 1024),
			HashQueue:          r.intRange("AUTH_HASH_QUEUE", 0, 100000),
			RatePerIP:          r.intRange("AUTH_RATE_PER_IP", 1, 1<<30),
			RatePerEmail:       r.intRange("AUTH_RATE_PER_EMAIL", 1, 1<<30),
			RatePerAccount:     r.intRange("AUTH_RATE_PER_ACCOUNT", 1, 1<<30),
			SessionCacheTTL:    r.durationUpTo("AUTH_SESSION_CACHE_TTL", MaxSessionCacheTTL),
			FailuresPerAccount: r.intRange("AUTH_FAILURES_PER_ACCOUNT", 0, 1<<30),
			FailureBackoffMax:  r.duration("AUTH_FAILURE_BACKOFF_MAX"),
			RefreshPerSession:  r.intRange("AUTH_REFRESH_PER_SESSION", 1, 1<<30),
			MaxSessions:        r.intRange("AUTH_MAX_SESSIONS", 1, 1_000_000),
			JWKS:               r.jwks(),
			AppBaseURL:         r.baseURL("APP_BASE_URL"),
			VerifyTTL:          r.duration("AUTH_VERIFY_TTL"),
			ResetTTL:           r.duration("AUTH_RESET_TTL"),
			MailsPerHour:       r.intRange("AUTH_MAILS_PER_HOUR", 1, 1_000_000),
		},
		Tasks: Tasks{
			IdempotencyTTL: r.duration("TASKS_IDEMPOTENCY_TTL"),
			TombstoneTTL:   r.duration("TASKS_TOMBSTONE_TTL"),
		},
		Mail: Mail{
			SMTPURL:      r.smtpURL("MAIL_SMTP_URL"),
			From:         r.mailAddress("MAIL_FROM"),
			CAFile:       strings.TrimSpace(r.str("MAIL_SMTP_CA_FILE")),
			Timeout:      r.durationIn("MAIL_SMTP_TIMEOUT", time.Second, 5*time.Minute),
			PollInterval: r.durationIn("MAIL_POLL_INTERVAL", 100*time.Millisecond, time.Hour),
			GiveUpAfter:  r.durationIn("MAIL_GIVE_UP_AFTER", time.Minute, 30*24*time.Hour),
		},
		Redis: Redis{
			URL:       r.redisURL("REDIS_URL"),
			Timeout:   r.durationIn("REDIS_TIMEOUT", time.Millisecond, 10*time.Second),
			KeyPrefix: r.str("REDIS_KEY_PREFIX"),
		},
		Log: Log{
			Level:  r.oneOf("LOG_LEVEL", "debug", "info", "warn", "error"),
			Format: r.oneOf("LOG_FORMAT", "json", "text"),
		},
	}
	if r.err != nil {
		return Config{}, r.err
	}
	switch {
	case c.Database.Embedded() && c.Database.ListenURL != "":
		return Config{}, errors.New("DATABASE_LISTEN_URL: only with a PostgreSQL DATABASE_URL (the embedded database has one process to tell)")
	case c.Database.ListenURL != "" && !strings.HasPrefix(c.Database.ListenURL, "postgres"):
		return Config{}, errors.New("DATABASE_LISTEN_URL: must be a postgres:// URL")
	case !c.Database.Embedded() && c.Database.ListenURL == "":
		c.Database.ListenURL = c.Database.URL
	}
	if c.Database.MinConns > c.Database.MaxConns {
		return Config{}, fmt.Errorf("DB_MIN_CONNS: %d is more than DB_MAX_CONNS (%d)", c.Database.MinConns, c.Database.MaxConns)
	}
	if c.Auth.HashSlots == 0 {
		// Leave a core to everything else: with every core hashing, other
		// requests wait for the scheduler (measured: GET /users/me p99 under
		// a login flood fell from 167 ms to 61 ms with one slot on 2 cores).
		c.Auth.HashSlots = max(runtime.NumCPU()-1, 1)
	}
	if c.HTTP.MetricsAddr != "" && c.HTTP.MetricsToken == "" && !isLoopback(c.HTTP.MetricsAddr) {
		return Config{}, fmt.Errorf("METRICS_ADDR: %q is reachable beyond this machine; set METRICS_TOKEN too (or use a loopback address)", c.HTTP.MetricsAddr)
	}
	if c.Auth.Secret != "" && len(c.Auth.Secret) < MinSecretLen {
		return Config{}, fmt.Errorf("AUTH_SECRET: must be at least %d bytes, got %d", MinSecretLen, len(c.Auth.Secret))
	}
	if c.Auth.JWKS.Enabled() && c.Auth.JWKS.Issuer == c.Auth.Issuer {
		return Config{}, fmt.Errorf("AUTH_JWKS_ISSUER: %q is also AUTH_ISSUER; the external issuer needs a name of its own", c.Auth.JWKS.Issuer)
	}
	return c, nil
}

// jwks reads the external issuer's three settings: all empty, or a URL with
// both an issuer and an audience. A URL alone would accept tokens meant for
// any service of that issuer; an issuer or audience alone is a setting that
// does nothing, so both are refused.
func (r *reader) jwks() JWKS {
	j := JWKS{
		URL:      strings.TrimSpace(r.str("AUTH_JWKS_URL")),
		Issuer:   strings.TrimSpace(r.str("AUTH_JWKS_ISSUER")),
		Audience: strings.TrimSpace(r.str("AUTH_JWKS_AUDIENCE")),
	}
	if j.URL == "" {
		if j.Issuer != "" || j.Audience != "" {
			r.fail("AUTH_JWKS_URL", "must be set when AUTH_JWKS_ISSUER or AUTH_JWKS_AUDIENCE is")
		}
		return j
	}
	u, err := url.Parse(j.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		r.fail("AUTH_JWKS_URL", "%q is not an http(s) URL such as https://auth.example.com/api/auth/jwks", j.URL)
	case u.User != nil:
		r.fail("AUTH_JWKS_URL", "must not carry credentials")
	case j.Issuer == "":
		r.fail("AUTH_JWKS_ISSUER", "must be set with AUTH_JWKS_URL (the iss of the issuer's tokens)")
	case len(j.Issuer) > MaxJWKSIssuerLen:
		r.fail("AUTH_JWKS_ISSUER", "must be at most %d bytes, got %d", MaxJWKSIssuerLen, len(j.Issuer))
	case j.Audience == "":
		r.fail("AUTH_JWKS_AUDIENCE", "must be set with AUTH_JWKS_URL (the aud the issuer's tokens carry for this service)")
	}
	return j
}

// CheckServe reports what serving needs beyond Load: AUTH_SECRET in
// production and with DATABASE_URL (only the embedded default generates
// one), and MAIL_SMTP_URL in production (the log is no place for tokens).
func (c Config) CheckServe() error {
	if c.Auth.Secret == "" && (c.Env == "production" || !c.Database.Embedded()) {
		return errors.New("AUTH_SECRET: must be set (at least 32 random bytes) in production and with DATABASE_URL; it is generated only for the embedded default")
	}
	if c.Mail.SMTPURL == "" && c.Env == "production" {
		return errors.New("MAIL_SMTP_URL: must be set in production; without it mails, and the tokens in them, are written to the log")
	}
	return nil
}

type reader struct {
	defaults map[string]string
	getenv   func(string) string
	err      error
}

func (r *reader) str(name string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return r.defaults[name]
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: "+format, append([]any{name}, args...)...)
	}
}

func (r *reader) nonEmpty(name string) string {
	v := strings.TrimSpace(r.str(name))
	if v == "" {
		r.fail(name, "must not be empty")
	}
	return v
}

func (r *reader) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(r.str(name)))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return ""
}

func (r *reader) duration(name string) time.Duration {
	v := r.str(name)
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		r.fail(name, "%q is not a duration such as 30s or 15m", v)
	case d <= 0:
		r.fail(name, "%q must be positive", v)
	}
	return d
}

// durationUpTo reads a duration that may be zero (off) but neither negative
// nor above hi.
func (r *reader) durationUpTo(name string, hi time.Duration) time.Duration {
	v := r.str(name)
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		r.fail(name, "%q is not a duration such as 30s or 15m", v)
	case d < 0:
		r.fail(name, "%q must not be negative", v)
	case d > hi:
		r.fail(name, "%q must be at most %s", v, shortDuration(hi))
	}
	return d
}

// shortDuration formats d without its zero trailing units: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationIn reads a duration between lo and hi.
func (r *reader) durationIn(name string, lo, hi time.Duration) time.Duration {
	v := r.str(name)
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		r.fail(name, "%q is not a duration such as 30s or 15m", v)
	case d < lo || d > hi:
		r.fail(name, "%q is outside %s–%s", v, shortDuration(lo), shortDuration(hi))
	}
	return d
}

func (r *reader) intRange(name string, lo, hi int) int {
	v := r.str(name)
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		r.fail(name, "%q is not a whole number", v)
	case n < lo || n > hi:
		r.fail(name, "%d is outside %d–%d", n, lo, hi)
	}
	return n
}

func (r *reader) boolean(name string) bool {
	v := r.str(name)
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.fail(name, "%q is not true or false", v)
	}
	return b
}

func (r *reader) addr(name string) string {
	v := strings.TrimSpace(r.str(name))
	if _, port, err := net.SplitHostPort(v); err != nil {
		r.fail(name, "%q is not host:port", v)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.fail(name, "%q has no valid port", v)
	}
	return v
}

// optionalAddr reads a host:port, or "off" for none. (An empty variable
// cannot say none: it leaves the default in place.)
func (r *reader) optionalAddr(name string) string {
	if v := strings.TrimSpace(r.str(name)); v == "" || strings.EqualFold(v, "off") {
		return ""
	}
	return r.addr(name)
}

// isLoopback reports whether host:port names a loopback host.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// debugAddr accepts empty or a loopback host:port: profiles must never be
// reachable from outside the machine.
func (r *reader) debugAddr(name string) string {
	v := strings.TrimSpace(r.str(name))
	if v == "" {
		return ""
	}
	if !isLoopback(v) {
		r.fail(name, "%q must be a loopback host:port such as 127.0.0.1:6060", v)
		return ""
	}
	return v
}

func (r *reader) databaseURL(name string) string {
	v := strings.TrimSpace(r.str(name))
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		r.fail(name, "not a URL: %v", err)
		return ""
	}
	switch u.Scheme {
	case "postgres", "postgresql", "sqlite", "file":
	default:
		r.fail(name, "scheme %q is not postgres://, postgresql://, sqlite:// or file:", u.Scheme)
	}
	return v
}

// smtpURL reads an smtp:// or smtps:// URL with a host, an optional port
// and optional credentials, and nothing else; empty is allowed (no SMTP).
// redisURL reads a redis:// or rediss:// URL; empty is none.
func (r *reader) redisURL(name string) string {
	v := strings.TrimSpace(r.str(name))
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		r.fail(name, "is not a URL such as redis://127.0.0.1:6379/0 (or rediss:// for TLS)")
		return ""
	}
	return v
}

func (r *reader) smtpURL(name string) string {
	v := strings.TrimSpace(r.str(name))
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		// url.Parse quotes the URL, password included: name the setting only.
		r.fail(name, "not a URL such as smtp://user:pass@mail.example.com:587")
		return ""
	}
	switch {
	case u.Scheme != "smtp" && u.Scheme != "smtps":
		r.fail(name, "scheme %q is not smtp:// or smtps://", u.Scheme)
	case u.Hostname() == "":
		r.fail(name, "names no host")
	case u.Port() != "" && !validPort(u.Port()):
		r.fail(name, "port %q is not 1–65535", u.Port())
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		r.fail(name, "has a path, query or fragment; want smtp[s]://[user:pass@]host[:port]")
	case u.User != nil && u.User.Username() == "":
		r.fail(name, "has credentials without a user name")
	}
	return v
}

func validPort(s string) bool {
	p, err := strconv.Atoi(s)
	return err == nil && p >= 1 && p <= 65535
}

// mailAddress reads one mail address, with an optional display name.
func (r *reader) mailAddress(name string) string {
	v := strings.TrimSpace(r.str(name))
	if strings.ContainsAny(v, "\r\n") {
		r.fail(name, "must be one line")
		return ""
	}
	if _, err := mail.ParseAddress(v); err != nil {
		r.fail(name, "%q is not a mail address such as todo <no-reply@example.com>", v)
	}
	return v
}

// baseURL reads an http(s) URL without query or fragment, and returns it
// without a trailing slash, ready for paths to be appended.
func (r *reader) baseURL(name string) string {
	v := strings.TrimSpace(r.str(name))
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		r.fail(name, "%q is not a base URL such as https://todo.example.com", v)
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) origins(name string) []string {
	var out []string
	for _, o := range splitList(r.str(name)) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			r.fail(name, "%q is not an origin such as https://app.example.com", o)
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range splitList(r.str(name)) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				r.fail(name, "%q is not a CIDR such as 10.0.0.0/8 or an address", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parseEnvFile(text string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want NAME=value", n)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}
