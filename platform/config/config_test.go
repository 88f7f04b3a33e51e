package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no environment: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTP.Addr, "127.0.0.1:8080"},
		{"AUTH_BCRYPT_COST", c.Auth.BcryptCost, 12},
		{"DB_MIN_CONNS", c.Database.MinConns, int32(10)},
		{"DB_MAX_CONNS", c.Database.MaxConns, int32(30)},
		{"DB_ACQUIRE_TIMEOUT", c.Database.AcquireTimeout, 30 * time.Second},
		{"DB_MAX_CONN_LIFETIME", c.Database.MaxConnLifetime, time.Hour},
		{"AUTH_ACCESS_TTL", c.Auth.AccessTTL, 15 * time.Minute},
		{"AUTH_REFRESH_TTL", c.Auth.RefreshTTL, 30 * 24 * time.Hour},
		{"AUTH_RATE_PER_IP", c.Auth.RatePerIP, 60},
		{"AUTH_RATE_PER_EMAIL", c.Auth.RatePerEmail, 20},
		{"AUTH_SESSION_CACHE_TTL", c.Auth.SessionCacheTTL, 30 * time.Second},
		{"DATABASE_LISTEN_URL", c.Database.ListenURL, ""},
		{"TASKS_IDEMPOTENCY_TTL", c.Tasks.IdempotencyTTL, 24 * time.Hour},
		{"TASKS_TOMBSTONE_TTL", c.Tasks.TombstoneTTL, 720 * time.Hour},
		{"LOG_FORMAT", c.Log.Format, "json"},
		{"embedded", c.Database.Embedded(), true},
		{"MAIL_SMTP_URL", c.Mail.SMTPURL, ""},
		{"MAIL_FROM", c.Mail.From, "todo <no-reply@localhost>"},
		{"MAIL_SMTP_TIMEOUT", c.Mail.Timeout, 15 * time.Second},
		{"MAIL_POLL_INTERVAL", c.Mail.PollInterval, 5 * time.Second},
		{"MAIL_GIVE_UP_AFTER", c.Mail.GiveUpAfter, 72 * time.Hour},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if err := c.CheckServe(); err != nil {
		t.Errorf("CheckServe on the embedded default: %v", err)
	}
}

// TestLoadListenURL: the listener connects to DATABASE_URL unless
// DATABASE_LISTEN_URL names another endpoint (a pooler's direct host).
func TestLoadListenURL(t *testing.T) {
	const pooled, direct = "postgres://u@ep-x-pooler.example/todo", "postgres://u@ep-x.example/todo"
	c, err := Load(env(map[string]string{"DATABASE_URL": pooled}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.ListenURL != pooled {
		t.Errorf("default DATABASE_LISTEN_URL: got %q, want DATABASE_URL", c.Database.ListenURL)
	}
	c, err = Load(env(map[string]string{"DATABASE_URL": pooled, "DATABASE_LISTEN_URL": direct}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.ListenURL != direct || c.Database.URL != pooled {
		t.Errorf("DATABASE_LISTEN_URL: got listen %q, url %q", c.Database.ListenURL, c.Database.URL)
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := Load(env(map[string]string{
		"HTTP_ADDR":              "0.0.0.0:9000",
		"DATABASE_URL":           "postgres://u@db:5432/todo?sslmode=require",
		"AUTH_SECRET":            strings.Repeat("s", 32),
		"AUTH_BCRYPT_COST":       "10",
		"LOG_LEVEL":              "DEBUG",
		"HTTP_CORS_ORIGINS":      "https://app.example.com, http://localhost:3000/",
		"HTTP_TRUSTED_PROXIES":   "10.0.0.0/8,192.168.1.7",
		"AUTH_SESSION_CACHE_TTL": "15s",
		"TASKS_TOMBSTONE_TTL":    "48h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "0.0.0.0:9000" || c.Auth.BcryptCost != 10 || c.Log.Level != "debug" || c.Database.Embedded() {
		t.Errorf("overrides not applied: %+v", c)
	}
	if c.Tasks.TombstoneTTL != 48*time.Hour {
		t.Errorf("TASKS_TOMBSTONE_TTL: got %v, want 48h", c.Tasks.TombstoneTTL)
	}
	if c.Auth.SessionCacheTTL != 15*time.Second {
		t.Errorf("AUTH_SESSION_CACHE_TTL: got %v, want 15s", c.Auth.SessionCacheTTL)
	}
	if got := strings.Join(c.HTTP.CORSOrigins, " "); got != "https://app.example.com http://localhost:3000" {
		t.Errorf("CORS origins: got %q", got)
	}
	if len(c.HTTP.TrustedProxies) != 2 || c.HTTP.TrustedProxies[1].String() != "192.168.1.7/32" {
		t.Errorf("trusted proxies: got %v", c.HTTP.TrustedProxies)
	}
	if err := c.CheckServe(); err != nil {
		t.Errorf("CheckServe with a secret: %v", err)
	}
}

func TestLoadInvalid(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string // the error must start with the setting's name and say this
	}{
		{"addr/no-port", map[string]string{"HTTP_ADDR": "localhost"}, `HTTP_ADDR: "localhost" is not host:port`},
		{"addr/bad-port", map[string]string{"HTTP_ADDR": "localhost:99999"}, `HTTP_ADDR: "localhost:99999" has no valid port`},
		{"bcrypt/not-number", map[string]string{"AUTH_BCRYPT_COST": "high"}, `AUTH_BCRYPT_COST: "high" is not a whole number`},
		{"bcrypt/too-high", map[string]string{"AUTH_BCRYPT_COST": "32"}, `AUTH_BCRYPT_COST: 32 is outside 4–31`},
		{"bcrypt/too-low", map[string]string{"AUTH_BCRYPT_COST": "3"}, `AUTH_BCRYPT_COST: 3 is outside 4–31`},
		{"log-level", map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{"log-format", map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT: "xml" is not one of json, text`},
		{"duration/garbage", map[string]string{"HTTP_READ_TIMEOUT": "soon"}, `HTTP_READ_TIMEOUT: "soon" is not a duration`},
		{"duration/negative", map[string]string{"DB_ACQUIRE_TIMEOUT": "-1s"}, `DB_ACQUIRE_TIMEOUT: "-1s" must be positive`},
		{"database-url/scheme", map[string]string{"DATABASE_URL": "mysql://x"}, `DATABASE_URL: scheme "mysql" is not`},
		{"listen-url/scheme", map[string]string{"DATABASE_URL": "postgres://u@db/todo", "DATABASE_LISTEN_URL": "mysql://x"}, `DATABASE_LISTEN_URL: scheme "mysql" is not`},
		{"listen-url/sqlite", map[string]string{"DATABASE_URL": "postgres://u@db/todo", "DATABASE_LISTEN_URL": "sqlite:///tmp/x.db"}, `DATABASE_LISTEN_URL: must be a postgres:// URL`},
		{"listen-url/embedded", map[string]string{"DATABASE_LISTEN_URL": "postgres://u@db/todo"}, `DATABASE_LISTEN_URL: only with a PostgreSQL DATABASE_URL`},
		{"pool/min-over-max", map[string]string{"DB_MIN_CONNS": "40"}, `DB_MIN_CONNS: 40 is more than DB_MAX_CONNS (30)`},
		{"pool/max-zero", map[string]string{"DB_MAX_CONNS": "0"}, `DB_MAX_CONNS: 0 is outside 1–1000`},
		{"auto-migrate", map[string]string{"DB_AUTO_MIGRATE": "sometimes"}, `DB_AUTO_MIGRATE: "sometimes" is not true or false`},
		{"secret/short", map[string]string{"AUTH_SECRET": "short"}, `AUTH_SECRET: must be at least 32 bytes, got 5`},
		{"cors/not-origin", map[string]string{"HTTP_CORS_ORIGINS": "app.example.com"}, `HTTP_CORS_ORIGINS: "app.example.com" is not an origin`},
		{"proxies/not-cidr", map[string]string{"HTTP_TRUSTED_PROXIES": "10.0.0.0/99"}, `HTTP_TRUSTED_PROXIES: "10.0.0.0/99" is not a CIDR`},
		{"env", map[string]string{"APP_ENV": "staging"}, `APP_ENV: "staging" is not one of development, production`},
		{"rate/zero", map[string]string{"AUTH_RATE_PER_IP": "0"}, `AUTH_RATE_PER_IP: 0 is outside`},
		{"session-cache/too-long", map[string]string{"AUTH_SESSION_CACHE_TTL": "5m"}, `AUTH_SESSION_CACHE_TTL: "5m" must be at most 1m`},
		{"session-cache/just-over", map[string]string{"AUTH_SESSION_CACHE_TTL": "60001ms"}, `AUTH_SESSION_CACHE_TTL: "60001ms" must be at most 1m`},
		{"session-cache/negative", map[string]string{"AUTH_SESSION_CACHE_TTL": "-1s"}, `AUTH_SESSION_CACHE_TTL: "-1s" must not be negative`},
		{"session-cache/garbage", map[string]string{"AUTH_SESSION_CACHE_TTL": "briefly"}, `AUTH_SESSION_CACHE_TTL: "briefly" is not a duration`},
		{"tombstone-ttl/zero", map[string]string{"TASKS_TOMBSTONE_TTL": "0s"}, `TASKS_TOMBSTONE_TTL: "0s" must be positive`},
		{"session-cache/no-unit", map[string]string{"AUTH_SESSION_CACHE_TTL": "30"}, `AUTH_SESSION_CACHE_TTL: "30" is not a duration`},
		{"jwks/url-alone", map[string]string{"AUTH_JWKS_URL": "https://auth.example.com/api/auth/jwks"}, `AUTH_JWKS_ISSUER: must be set with AUTH_JWKS_URL`},
		{"jwks/no-audience", map[string]string{"AUTH_JWKS_URL": "https://auth.example.com/api/auth/jwks", "AUTH_JWKS_ISSUER": "https://auth.example.com"}, `AUTH_JWKS_AUDIENCE: must be set with AUTH_JWKS_URL`},
		{"jwks/no-issuer", map[string]string{"AUTH_JWKS_URL": "https://auth.example.com/api/auth/jwks", "AUTH_JWKS_AUDIENCE": "todo-api"}, `AUTH_JWKS_ISSUER: must be set with AUTH_JWKS_URL`},
		{"jwks/issuer-without-url", map[string]string{"AUTH_JWKS_ISSUER": "https://auth.example.com"}, `AUTH_JWKS_URL: must be set when AUTH_JWKS_ISSUER or AUTH_JWKS_AUDIENCE is`},
		{"jwks/audience-without-url", map[string]string{"AUTH_JWKS_AUDIENCE": "todo-api"}, `AUTH_JWKS_URL: must be set when`},
		{"jwks/scheme", map[string]string{"AUTH_JWKS_URL": "ftp://auth.example.com/jwks", "AUTH_JWKS_ISSUER": "i", "AUTH_JWKS_AUDIENCE": "a"}, `AUTH_JWKS_URL: "ftp://auth.example.com/jwks" is not an http(s) URL`},
		{"jwks/no-host", map[string]string{"AUTH_JWKS_URL": "https:///jwks", "AUTH_JWKS_ISSUER": "i", "AUTH_JWKS_AUDIENCE": "a"}, `AUTH_JWKS_URL: "https:///jwks" is not an http(s) URL`},
		{"jwks/credentials", map[string]string{"AUTH_JWKS_URL": "https://u:p@auth.example.com/jwks", "AUTH_JWKS_ISSUER": "i", "AUTH_JWKS_AUDIENCE": "a"}, `AUTH_JWKS_URL: must not carry credentials`},
		{"jwks/issuer-too-long", map[string]string{"AUTH_JWKS_URL": "https://auth.example.com/jwks", "AUTH_JWKS_ISSUER": strings.Repeat("i", MaxJWKSIssuerLen+1), "AUTH_JWKS_AUDIENCE": "a"}, `AUTH_JWKS_ISSUER: must be at most 200 bytes, got 201`},
		{"jwks/issuer-is-ours", map[string]string{"AUTH_JWKS_URL": "https://auth.example.com/jwks", "AUTH_JWKS_ISSUER": "todo", "AUTH_JWKS_AUDIENCE": "a"}, `AUTH_JWKS_ISSUER: "todo" is also AUTH_ISSUER`},
		{"smtp/scheme", map[string]string{"MAIL_SMTP_URL": "http://mail.example.com"}, `MAIL_SMTP_URL: scheme "http" is not smtp:// or smtps://`},
		{"smtp/no-host", map[string]string{"MAIL_SMTP_URL": "smtp://:587"}, `MAIL_SMTP_URL: names no host`},
		{"redis/scheme", map[string]string{"REDIS_URL": "http://127.0.0.1:6379"}, `REDIS_URL: is not a URL such as redis://`},
		{"redis/no-host", map[string]string{"REDIS_URL": "redis://"}, `REDIS_URL: is not a URL such as redis://`},
		{"redis/timeout-zero", map[string]string{"REDIS_TIMEOUT": "0s"}, `REDIS_TIMEOUT:`},
		{"smtp/bad-port", map[string]string{"MAIL_SMTP_URL": "smtp://mail.example.com:0"}, `MAIL_SMTP_URL: port "0" is not 1–65535`},
		{"smtp/path", map[string]string{"MAIL_SMTP_URL": "smtp://mail.example.com/x"}, `MAIL_SMTP_URL: has a path, query or fragment`},
		{"smtp/query", map[string]string{"MAIL_SMTP_URL": "smtp://mail.example.com?tls=no"}, `MAIL_SMTP_URL: has a path, query or fragment`},
		{"smtp/no-user", map[string]string{"MAIL_SMTP_URL": "smtp://:pw@mail.example.com"}, `MAIL_SMTP_URL: has credentials without a user name`},
		{"smtp/unparsable-keeps-password-out", map[string]string{"MAIL_SMTP_URL": "smtp://u:p%zz@mail.example.com"}, `MAIL_SMTP_URL: not a URL such as`},
		{"from/not-address", map[string]string{"MAIL_FROM": "todo"}, `MAIL_FROM: "todo" is not a mail address`},
		{"from/two-lines", map[string]string{"MAIL_FROM": "a@example.com\r\nBcc: b@example.com"}, `MAIL_FROM: must be one line`},
		{"mail-timeout/zero", map[string]string{"MAIL_SMTP_TIMEOUT": "0s"}, `MAIL_SMTP_TIMEOUT: "0s" is outside 1s–5m`},
		{"mail-poll/garbage", map[string]string{"MAIL_POLL_INTERVAL": "often"}, `MAIL_POLL_INTERVAL: "often" is not a duration`},
		{"mail-give-up/too-long", map[string]string{"MAIL_GIVE_UP_AFTER": "1000h"}, `MAIL_GIVE_UP_AFTER: "1000h" is outside 1m–720h`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			if err == nil {
				t.Fatalf("Load accepted %v", tc.env)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %q, want it to start with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestLoadMail(t *testing.T) {
	c, err := Load(env(map[string]string{
		"MAIL_SMTP_URL":     "smtps://user:p%40ss@mail.example.com:465",
		"MAIL_FROM":         "Todo App <todo@example.com>",
		"MAIL_SMTP_CA_FILE": " /etc/ssl/private-ca.pem ",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mail.SMTPURL != "smtps://user:p%40ss@mail.example.com:465" || c.Mail.From != "Todo App <todo@example.com>" || c.Mail.CAFile != "/etc/ssl/private-ca.pem" {
		t.Errorf("got %+v", c.Mail)
	}
	_, err = Load(env(map[string]string{"MAIL_SMTP_URL": "smtp://u:hunter2@mail.example.com/%zz"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a bad URL's error must not quote its password: %v", err)
	}
	c, err = Load(env(map[string]string{"APP_ENV": "production", "AUTH_SECRET": strings.Repeat("s", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckServe(); err == nil || !strings.HasPrefix(err.Error(), "MAIL_SMTP_URL: must be set in production") {
		t.Errorf("production without MAIL_SMTP_URL: %v", err)
	}
	c.Mail.SMTPURL = "smtp://mail.example.com"
	if err := c.CheckServe(); err != nil {
		t.Errorf("production with MAIL_SMTP_URL: %v", err)
	}
}

func TestCheckServeNeedsSecret(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"production": {"APP_ENV": "production"},
		"postgres":   {"DATABASE_URL": "postgres://u@localhost/todo"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(env(e))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckServe()
			if err == nil || !strings.HasPrefix(err.Error(), "AUTH_SECRET: must be set") {
				t.Errorf("got %v, want AUTH_SECRET: must be set", err)
			}
		})
	}
}

func TestSessionCacheTTLAccepted(t *testing.T) {
	for v, want := range map[string]time.Duration{"0s": 0, "0": 0, "250ms": 250 * time.Millisecond, "1m": time.Minute, "60s": time.Minute} {
		c, err := Load(env(map[string]string{"AUTH_SESSION_CACHE_TTL": v}))
		if err != nil {
			t.Errorf("AUTH_SESSION_CACHE_TTL=%s: %v", v, err)
			continue
		}
		if c.Auth.SessionCacheTTL != want {
			t.Errorf("AUTH_SESSION_CACHE_TTL=%s: got %v, want %v", v, c.Auth.SessionCacheTTL, want)
		}
	}
}

func TestJWKSAccepted(t *testing.T) {
	c, err := Load(env(map[string]string{
		"AUTH_JWKS_URL":      " http://127.0.0.1:3000/api/auth/jwks ",
		"AUTH_JWKS_ISSUER":   "http://127.0.0.1:3000",
		"AUTH_JWKS_AUDIENCE": "http://127.0.0.1:3000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := JWKS{URL: "http://127.0.0.1:3000/api/auth/jwks", Issuer: "http://127.0.0.1:3000", Audience: "http://127.0.0.1:3000"}
	if c.Auth.JWKS != want || !c.Auth.JWKS.Enabled() {
		t.Errorf("got %+v, want %+v", c.Auth.JWKS, want)
	}
	if d, err := Load(env(nil)); err != nil || d.Auth.JWKS.Enabled() {
		t.Errorf("default: %+v, %v; want no external issuer", d.Auth.JWKS, err)
	}
}

func TestLoadRedis(t *testing.T) {
	d, err := Load(env(nil))
	if err != nil || d.Redis.Enabled() || d.Redis.Timeout != 100*time.Millisecond || d.Redis.KeyPrefix != "todo:" {
		t.Fatalf("default: %+v, %v; want no Redis, a 100ms timeout and the todo: prefix", d.Redis, err)
	}
	c, err := Load(env(map[string]string{"REDIS_URL": "rediss://user:secret@redis.example.com:6380/2", "REDIS_TIMEOUT": "250ms", "REDIS_KEY_PREFIX": "staging:"}))
	if err != nil || !c.Redis.Enabled() || c.Redis.Timeout != 250*time.Millisecond || c.Redis.KeyPrefix != "staging:" {
		t.Fatalf("set: %+v, %v", c.Redis, err)
	}
	_, err = Load(env(map[string]string{"REDIS_URL": "redis://user:secret@[::1"}))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad URL's error must not quote its password: %v", err)
	}
}
