package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"todo/platform/apperr"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
	"todo/platform/mail"
)

// maxPasswordBytes is bcrypt's limit: it ignores every byte past the 72nd,
// so a longer password is refused, never truncated.
const maxPasswordBytes = 72

// touchInterval is how often, at most, authenticating a request writes the
// session's last_used_at.
const touchInterval = time.Minute

// resetRequestFloor is how long a password reset request takes at least,
// so that its timing does not tell whether the email has an account: the
// work for one that has (a lookup and a transaction of two inserts) takes
// a few milliseconds here, far below it.
const resetRequestFloor = 150 * time.Millisecond

// maxHashWait is how long a request waits for a hashing slot before it is
// shed with 503.
const maxHashWait = 3 * time.Second

// errTokenReused marks a refresh that presented a spent token; its session
// has been revoked. The client sees ErrInvalidRefreshToken either way.
var errTokenReused = errors.New("spent refresh token presented again")

// Service holds the auth rules: password hashing and checking, sessions,
// token issue and rotation, and the login limits.
type Service struct {
	store  *store
	cfg    config.Auth
	now    func() time.Time
	log    *slog.Logger
	tokens *tokenMaker
	slots  *hashSlots
	// perIP counts every attempt at the endpoints that check or hash a
	// password, per client address; perEmail counts registrations per
	// email; perAccount the password checks of signed-in requests per
	// account; refreshes the rotations per session.
	perIP      *limiter
	perEmail   *limiter
	perAccount *limiter
	refreshes  *limiter
	// mails counts the verification mails an account asks for, and the
	// reset mails an email is sent, per hour; mailsTo the verification
	// mails an address is sent, whatever accounts ask for them: one more
	// than an account may ask for, register's.
	mails   *limiter
	mailsTo *limiter
	// accountFails counts failed password checks per account (by email),
	// requesterFails per requester (a client, and the session of a
	// signed-in request): an account with too many is locked, with
	// exponential backoff, against every requester that failed lately.
	accountFails   *failures
	requesterFails *failures
	// shared keeps the limits above in Redis when REDIS_URL is set (each
	// limit then has it); without, it only exports its metrics at zero.
	shared *sharedLimits
	touch  *touchThrottle
	// wakeMail nudges the mail worker once a transaction that queued mail
	// has committed.
	wakeMail func()
	// resetFloor is how long a password reset request takes at least,
	// whether or not its email has an account.
	resetFloor time.Duration
	// sessions caches positive session checks; nil (AUTH_SESSION_CACHE_TTL
	// 0) asks the database on every request.
	sessions *sessionCache
	// listener brings other instances' revocations on PostgreSQL; while it
	// is disconnected the session cache is bypassed. Nil on SQLite.
	listener *database.Listener
	// dummy is a hash at the configured cost that a login for an unknown
	// email is checked against, so that it takes as long as a wrong password.
	dummy []byte
	// externalHash is the hashed_password of the external issuer's
	// accounts; empty without AUTH_JWKS_URL.
	externalHash string
}

// NewService returns the auth Service. It computes the dummy hash, one
// bcrypt at the configured cost.
func NewService(ctx context.Context, d Deps) (*Service, error) {
	if err := checkConfig(d.Config); err != nil {
		return nil, err
	}
	if d.Dialect != dialect.Postgres && d.Dialect != dialect.SQLite {
		return nil, fmt.Errorf("auth: Deps.Dialect %q is neither %s nor %s", d.Dialect, dialect.Postgres, dialect.SQLite)
	}
	if d.Listener != nil && d.Dialect != dialect.Postgres {
		return nil, errors.New("auth: a database listener needs PostgreSQL")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wakeMail := d.WakeMail
	if wakeMail == nil {
		wakeMail = func() {}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("dummy password for unknown emails"), d.Config.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	var sessions *sessionCache
	if d.Config.SessionCacheTTL > 0 {
		sessions = newSessionCache(d.Config.SessionCacheTTL, maxCachedSessions)
	}
	var external *externalIssuer
	var extHash string
	if j := d.Config.JWKS; j.Enabled() {
		external = newExternalIssuer(j.Issuer, j.Audience, j.URL, d.Now, d.Log)
		external.keys.start()
		extHash = externalHash(j.Issuer)
	}
	shared := newSharedLimits(d.Redis, d.RedisConfig.KeyPrefix, d.RedisConfig.Timeout, d.Log)
	s := &Service{
		shared:         shared,
		store:          &store{db: d.DB, postgres: d.Dialect == dialect.Postgres},
		wakeMail:       wakeMail,
		resetFloor:     resetRequestFloor,
		mails:          newLimiter(d.Config.MailsPerHour, time.Hour),
		mailsTo:        newLimiter(d.Config.MailsPerHour+1, time.Hour),
		cfg:            d.Config,
		now:            d.Now,
		log:            d.Log,
		tokens:         newTokenMaker([]byte(d.Config.Secret), d.Config.Issuer, d.Config.Audience, d.Config.AccessTTL, d.Now, external),
		slots:          newHashSlots(d.Config.HashSlots, d.Config.HashQueue, maxHashWait),
		perIP:          newLimiter(d.Config.RatePerIP, time.Minute),
		perEmail:       newLimiter(d.Config.RatePerEmail, time.Minute),
		perAccount:     newLimiter(d.Config.RatePerAccount, time.Minute),
		refreshes:      newLimiter(d.Config.RefreshPerSession, time.Minute),
		accountFails:   newFailures(d.Config.FailuresPerAccount, time.Second, d.Config.FailureBackoffMax, failureMemory(d.Config), maxFailureKeys),
		requesterFails: newFailures(d.Config.FailuresPerAccount, time.Second, d.Config.FailureBackoffMax, failureMemory(d.Config), maxFailureKeys),
		touch:          newTouchThrottle(touchInterval),
		sessions:       sessions,
		listener:       d.Listener,
		dummy:          dummy,

		externalHash: extHash,
	}
	if d.Redis != nil {
		s.shareLimits()
	}
	if d.Listener != nil {
		d.Listener.Subscribe(revokedChannel, database.Subscription{Notify: s.revoked, Reset: s.forgetAll})
	}
	return s, nil
}

// shareLimits keeps every rate limit and failure record in Redis, each
// under a name of its own.
func (s *Service) shareLimits() {
	for name, l := range map[string]*limiter{
		"ip": s.perIP, "email": s.perEmail, "account": s.perAccount, "refresh": s.refreshes,
		"mail": s.mails, "mailto": s.mailsTo,
	} {
		l.name, l.shared = name, s.shared
	}
	s.accountFails.name, s.accountFails.shared = "fail-account", s.shared
	s.requesterFails.name, s.requesterFails.shared = "fail-requester", s.shared
}

func checkConfig(c config.Auth) error {
	switch {
	case len(c.Secret) < config.MinSecretLen:
		return fmt.Errorf("auth: the secret must be at least %d bytes", config.MinSecretLen)
	case c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost:
		return fmt.Errorf("auth: bcrypt cost %d is outside %d–%d", c.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	case c.AccessTTL <= 0 || c.RefreshTTL <= 0:
		return errors.New("auth: token lifetimes must be positive")
	case c.RatePerIP <= 0 || c.RatePerEmail <= 0 || c.RatePerAccount <= 0 || c.RefreshPerSession <= 0:
		return errors.New("auth: rate limits must be positive")
	case c.FailuresPerAccount < 0 || c.FailureBackoffMax <= 0:
		return errors.New("auth: the failure budget must not be negative and its backoff must be positive")
	case c.MaxSessions <= 0:
		return errors.New("auth: the session cap must be positive")
	case c.VerifyTTL <= 0 || c.ResetTTL <= 0 || c.MailsPerHour <= 0:
		return errors.New("auth: token lifetimes and the mail limit must be positive")
	case c.AppBaseURL == "":
		return errors.New("auth: APP_BASE_URL must be set")
	case c.Issuer == "" || c.Audience == "":
		return errors.New("auth: issuer and audience must be set")
	case c.SessionCacheTTL < 0 || c.SessionCacheTTL > config.MaxSessionCacheTTL:
		return fmt.Errorf("auth: the session cache TTL %v is outside 0–%v", c.SessionCacheTTL, config.MaxSessionCacheTTL)
	case c.JWKS.Enabled() && (c.JWKS.Issuer == "" || c.JWKS.Audience == "" || c.JWKS.Issuer == c.Issuer):
		return errors.New("auth: an external issuer needs an issuer and an audience, and an issuer name other than the service's")
	}
	return nil
}

// clock is now as the database stores it.
func (s *Service) clock() time.Time { return dbTime(s.now()) }

// RegisterInput is a validated registration and where it came from.
type RegisterInput struct {
	Email     string // trimmed and lower-cased
	Name      string // trimmed
	Password  string
	ClientIP  string
	UserAgent string
}

// LoginInput is a validated login and where it came from.
type LoginInput struct {
	Email     string // trimmed and lower-cased
	Password  string
	ClientIP  string
	UserAgent string
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, in RegisterInput) (TokenPair, error) {
	now := s.now()
	in.ClientIP = clientKey(in.ClientIP)
	if err := allow(s.perIP, in.ClientIP, now); err != nil {
		return TokenPair{}, err
	}
	if err := allow(s.perEmail, in.Email, now); err != nil {
		return TokenPair{}, err
	}
	if mail.CheckAddress(in.Email) != nil { // before any bcrypt work
		return TokenPair{}, errUnmailable
	}
	var hash []byte
	err := s.withSlot(ctx, addrKey(in.ClientIP), func() error {
		var err error
		hash, err = bcrypt.GenerateFromPassword([]byte(in.Password), s.cfg.BcryptCost)
		return err
	})
	if err != nil {
		return TokenPair{}, fmt.Errorf("hash password: %w", err)
	}
	refresh, ns, err := s.newSession(in.UserAgent)
	if err != nil {
		return TokenPair{}, err
	}
	// The address's share of verification mails is counted only once the
	// account exists: a registration refused (the email is taken) costs
	// its owner nothing. Past the share the account is made without the
	// mail; it can ask for one later.
	mailKey := verifyToKey(in.Email)
	var verify mailing
	if !s.mailsTo.full(mailKey, now) {
		if verify, err = s.verificationMailing(in.Email); err != nil {
			return TokenPair{}, err
		}
	}
	u, sess, err := s.store.createUser(ctx, in.Email, in.Name, string(hash), ns, verify)
	if err != nil {
		return TokenPair{}, err
	}
	if verify.hash != "" {
		_, _ = s.mailsTo.allow(mailKey, now)
		s.wakeMail()
	} else {
		s.log.InfoContext(ctx, "registered without a verification mail: the address had its hourly share", "user_id", u.ID)
	}
	return s.pair(u, sess.ID, refresh)
}

// Login checks an email and password and opens a session. An unknown email
// and a wrong password cost the same bcrypt work and fail alike. Only
// failures count against the email: its owner, from an address that has
// not failed lately, gets through whatever others try.
func (s *Service) Login(ctx context.Context, in LoginInput) (TokenPair, error) {
	now := s.now()
	in.ClientIP = clientKey(in.ClientIP)
	if err := allow(s.perIP, in.ClientIP, now); err != nil {
		return TokenPair{}, err
	}
	if err := s.checkFailures(in.Email, now, in.ClientIP); err != nil {
		return TokenPair{}, err
	}
	var cred credentials
	// The slot is taken before the lookup, so that a shed request costs no
	// database round trip. The lock is checked again in the slot, and a
	// failure recorded before the slot is released: guesses sent together
	// all passed the first check before any of them failed, and the next
	// waiter gets the slot as soon as it is released. (The check uses the
	// request's start time: a failure recorded since locks until after it,
	// and counts as recent.)
	err := s.withSlot(ctx, addrKey(in.ClientIP), func() error {
		if err := s.checkFailures(in.Email, now, in.ClientIP); err != nil {
			return err
		}
		var err error
		cred, err = s.checkCredentials(ctx, in.Email, in.Password)
		if errors.Is(err, ErrInvalidCredentials) {
			s.recordFailure(in.Email, now, in.ClientIP)
		}
		return err
	})
	if err != nil {
		return TokenPair{}, err
	}
	refresh, ns, err := s.newSession(in.UserAgent)
	if err != nil {
		return TokenPair{}, err
	}
	sess, evicted, err := s.store.createSession(ctx, cred.ID, cred.Hash, ns)
	for _, id := range evicted {
		s.forgetSession(id)
	}
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(cred.User, sess.ID, refresh)
}

// checkCredentials returns the active user whose email and password these
// are, upgrading its hash when its cost is below the configured one. The
// caller holds a hashing slot.
func (s *Service) checkCredentials(ctx context.Context, email, password string) (credentials, error) {
	cred, found, err := s.store.credentialsByEmail(ctx, email)
	if err != nil {
		return credentials{}, err
	}
	// An external account has no password here: it fails like an unknown
	// email, after the same work. So does an account whose hash bcrypt
	// cannot read (adopted from a system that used another scheme): a
	// password reset gives it one.
	found = found && !isExternalHash(cred.Hash) && readableHash(cred.Hash)
	hash := []byte(cred.Hash)
	if !found {
		hash = s.dummy
	}
	ok, err := checkPassword(hash, password)
	switch {
	case err != nil:
		return credentials{}, err
	case !found || !ok:
		return credentials{}, ErrInvalidCredentials
	case !cred.IsActive:
		return credentials{}, ErrAccountDisabled
	}
	cred.Hash, err = s.upgradeHash(ctx, cred, password)
	return cred, err
}

// upgradeHash re-hashes a password stored at a lower cost than configured;
// the caller holds a hashing slot and has just checked the password. It
// returns the hash now stored.
func (s *Service) upgradeHash(ctx context.Context, cred credentials, password string) (string, error) {
	cost, err := bcrypt.Cost([]byte(cred.Hash))
	if err != nil || cost >= s.cfg.BcryptCost {
		return cred.Hash, nil
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("re-hash password: %w", err)
	}
	return string(hash), s.store.replaceHash(ctx, cred.ID, cred.Hash, string(hash))
}

// readableHash reports whether hash is a bcrypt hash bcrypt can compare.
func readableHash(hash string) bool {
	_, err := bcrypt.Cost([]byte(hash))
	return err == nil && len(hash) == 60
}

// checkPassword reports whether password matches hash. A password longer
// than bcrypt reads never matches: bcrypt would compare only its first 72
// bytes. The work is done either way, so the time says nothing.
func checkPassword(hash []byte, password string) (bool, error) {
	long := len(password) > maxPasswordBytes
	if long {
		password = password[:maxPasswordBytes]
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	switch {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("compare password: %w", err)
	}
	return !long, nil
}

// Refresh spends a refresh token and returns a new pair in its session.
// A spent token presented again revokes the session. A session may refresh
// AUTH_REFRESH_PER_SESSION times a minute.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	now := s.clock()
	claimed, ok := s.tokens.maybeRefresh(refreshToken)
	if !ok { // made up: no query, let alone a write transaction
		return TokenPair{}, ErrInvalidRefreshToken
	}
	var next string
	u, sess, err := s.store.rotate(ctx, hashToken(refreshToken), claimed, now, func(sessionID string) (string, error) {
		if err := allow(s.refreshes, sessionID, now); err != nil {
			return "", err
		}
		token, hash, err := s.tokens.newRefresh(sessionID)
		next = token
		return hash, err
	})
	if errors.Is(err, errTokenReused) {
		s.forgetSession(sess.ID)
		s.log.WarnContext(ctx, "refresh token reused; session revoked", "session_id", sess.ID)
	}
	if err != nil {
		return TokenPair{}, err
	}
	s.touch.mark(sess.ID, now)
	return s.pair(u, sess.ID, next)
}

// Logout ends the session of a refresh token, spent or not. An unknown
// token is not an error: there is nothing left to end.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	claimed, ok := s.tokens.maybeRefresh(refreshToken)
	if !ok {
		return nil
	}
	sessionID, err := s.store.revokeSessionOfToken(ctx, hashToken(refreshToken), claimed, s.clock())
	if sessionID != "" {
		s.forgetSession(sessionID)
	}
	return err
}

// Authenticate verifies an access token and that its session is live and
// its user active, and returns the caller. It writes the session's
// last_used_at at most once a minute. With AUTH_SESSION_CACHE_TTL set, a
// session found live less than that long ago is not asked about again.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (httpx.Principal, error) {
	claims, external, err := s.tokens.verify(ctx, accessToken)
	if err != nil {
		return httpx.Principal{}, err
	}
	if external {
		return s.authenticateExternal(ctx, &claims)
	}
	userID, sessionID := claims.Subject, claims.SessionID
	now := s.clock()
	live, err := s.sessionLive(ctx, userID, sessionID, now)
	switch {
	case err != nil:
		return httpx.Principal{}, err
	case !live:
		return httpx.Principal{}, ErrUnauthorized
	}
	if s.touch.due(sessionID, now) {
		// last_used_at is informative: failing to write it fails no request.
		if err := s.store.touchSession(ctx, sessionID, now); err != nil {
			s.log.WarnContext(ctx, "touch session", "session_id", sessionID, "err", err.Error())
		}
	}
	return httpx.Principal{UserID: userID, SessionID: sessionID}, nil
}

// sessionLive is store.sessionLive behind the session cache, when there is
// one: a fresh positive answer for this session and user skips the query,
// and a live session found by the query is remembered.
func (s *Service) sessionLive(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	if s.sessions == nil || (s.listener != nil && !s.listener.Connected()) {
		// Without the listener another instance's revocation would go
		// unseen: the database is asked, and nothing is remembered.
		return s.store.sessionLive(ctx, userID, sessionID, now)
	}
	if s.sessions.live(sessionID, userID, now) {
		return true, nil
	}
	gen := s.sessions.generation()
	expiresAt, live, err := s.store.sessionLiveUntil(ctx, userID, sessionID, now)
	if err != nil || !live {
		return false, err
	}
	s.sessions.put(sessionID, userID, expiresAt, now, gen)
	return true, nil
}

// forgetSession drops sessionID from the session cache, if there is one.
// Every revocation calls it after its write and before it answers, so that
// the session's next request in this process asks the database.
func (s *Service) forgetSession(sessionID string) {
	if s.sessions != nil {
		s.sessions.invalidate(sessionID)
	}
}

// forgetUser drops every session of userID from the session cache, if
// there is one.
func (s *Service) forgetUser(userID string) {
	if s.sessions != nil {
		s.sessions.invalidateUser(userID)
	}
}

// forgetAll empties the session cache, if there is one: the listener lost
// its connection, or has it back, and notifications may have been missed.
func (s *Service) forgetAll() {
	if s.sessions != nil {
		s.sessions.clear()
	}
}

// revoked forgets the sessions a revocation announced on revokedChannel
// ends, whichever instance made it: "u:<user id>" is every session of the
// user, "s:<id>,<id>…" the sessions named. Anything else empties the
// cache.
func (s *Service) revoked(payload string) {
	if s.sessions == nil {
		return
	}
	switch {
	case strings.HasPrefix(payload, "u:"):
		s.sessions.invalidateUser(payload[2:])
	case strings.HasPrefix(payload, "s:"):
		for id := range strings.SplitSeq(payload[2:], ",") {
			s.sessions.invalidate(id)
		}
	default:
		s.log.Warn("unknown revocation notification; the session cache is emptied", "payload_bytes", len(payload))
		s.sessions.clear()
	}
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, userID string) (User, error) {
	cred, err := s.store.credentialsByID(ctx, userID)
	return cred.User, err
}

// Rename sets the caller's name.
func (s *Service) Rename(ctx context.Context, userID, name string) (User, error) {
	return s.store.rename(ctx, userID, name, s.clock())
}

// ChangePassword checks the current password, stores the new one and
// revokes every session of the user but the caller's. The write happens
// only if the caller's session is still live and the password is still the
// one that was checked, so a racing revocation or password change wins.
func (s *Service) ChangePassword(ctx context.Context, p httpx.Principal, clientIP, current, next string) error {
	var nextHash []byte
	checked, err := s.checkPasswordOf(ctx, p, clientIP, current, func() error {
		var err error
		nextHash, err = bcrypt.GenerateFromPassword([]byte(next), s.cfg.BcryptCost)
		return err
	})
	if err != nil {
		return err
	}
	err = s.store.changePassword(ctx, p.UserID, p.SessionID, checked, string(nextHash), s.clock())
	// Forgotten whatever the outcome (a failed commit may have committed);
	// the caller's own session is forgotten too and simply re-checked.
	s.forgetUser(p.UserID)
	return err
}

// DeleteAccount checks the password and deletes the caller's account with
// its sessions and tasks, under the same conditions as ChangePassword.
func (s *Service) DeleteAccount(ctx context.Context, p httpx.Principal, clientIP, password string) error {
	checked, err := s.checkPasswordOf(ctx, p, clientIP, password, nil)
	if err != nil {
		return err
	}
	err = s.store.deleteUser(ctx, p.UserID, p.SessionID, checked, s.clock())
	s.forgetUser(p.UserID)
	return err
}

// checkPasswordOf checks password against the signed-in caller's current
// hash and returns that hash, for the write to require it unchanged. It is
// limited per client address and per account, refused while the account
// is locked by failures if the client or the caller's session failed
// lately (a stolen token tried from a new address each time is still
// locked), and run in a hashing slot of the account's, where then, when
// the password is right, runs too (hashing a new password).
func (s *Service) checkPasswordOf(ctx context.Context, p httpx.Principal, clientIP, password string, then func() error) (string, error) {
	now := s.now()
	clientIP = clientKey(clientIP)
	if err := allow(s.perIP, clientIP, now); err != nil {
		return "", err
	}
	if err := allow(s.perAccount, p.UserID, now); err != nil {
		return "", err
	}
	cred, err := s.store.credentialsByID(ctx, p.UserID)
	if err != nil {
		return "", err
	}
	requesters := []string{clientIP}
	if p.SessionID != "" { // an external principal has none (and no password here)
		requesters = append(requesters, sessionKey(p.SessionID))
	}
	if err := s.checkFailures(cred.Email, now, requesters...); err != nil {
		return "", err
	}
	err = s.withSlot(ctx, accountKey(p.UserID), func() error {
		if err := s.checkFailures(cred.Email, now, requesters...); err != nil {
			return err // locked while this request waited (see Login)
		}
		ok, err := checkPassword([]byte(cred.Hash), password)
		switch {
		case err != nil:
			return err
		case !ok:
			s.recordFailure(cred.Email, now, requesters...) // before the slot goes to the next (see Login)
			return ErrWrongPassword
		case then != nil:
			return then()
		}
		return nil
	})
	return cred.Hash, err
}

// Sessions returns the caller's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]Session, error) {
	return s.store.listSessions(ctx, userID, s.clock())
}

// RevokeSession ends one of the caller's live sessions; any other id is
// ErrSessionNotFound.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	// Session ids are UUIDs the service made; anything else (invalid UTF-8
	// or NUL would fail PostgreSQL's text input) is no session at all.
	if uuid.Validate(sessionID) != nil {
		return ErrSessionNotFound
	}
	ok, err := s.store.revokeSession(ctx, userID, sessionID, s.clock())
	if ok || err != nil {
		s.forgetSession(sessionID)
	}
	switch {
	case err != nil:
		return err
	case !ok:
		return ErrSessionNotFound
	}
	return nil
}

// allow counts an attempt by key against l; over the limit is
// ErrRateLimited with the wait.
func allow(l *limiter, key string, now time.Time) error {
	if ok, wait := l.allow(key, now); !ok {
		return apperr.ErrRateLimited.WithRetryAfter(retrySeconds(wait))
	}
	return nil
}

// checkFailures refuses a password check for an account locked by its
// failures, unless none of the requesters (the client, and the session of
// a signed-in request) has failed lately: the account's owner, from an
// address of its own, is never locked out by what others try.
func (s *Service) checkFailures(email string, now time.Time, requesters ...string) error {
	wait := s.accountFails.lockedFor(email, now)
	if wait <= 0 {
		return nil
	}
	for _, r := range requesters {
		if s.requesterFails.recent(r, now) {
			return ErrTooManyFailures.WithRetryAfter(retrySeconds(wait))
		}
	}
	return nil
}

// recordFailure counts a failed password check against the account and
// each requester.
func (s *Service) recordFailure(email string, now time.Time, requesters ...string) {
	s.accountFails.fail(email, now)
	for _, r := range requesters {
		s.requesterFails.fail(r, now)
	}
}

// maxFailureKeys bounds each failure table: some 100 bytes an entry.
const maxFailureKeys = 200_000

// failureMemory is how long a failure is remembered after it and its lock:
// as long as the longest backoff, and at least a quarter of an hour. An
// address counts as having failed lately for as long after its failure.
func failureMemory(c config.Auth) time.Duration { return max(c.FailureBackoffMax, 15*time.Minute) }

// addrKey and accountKey name the principals that share the hashing slots:
// a client (clientKey) before sign-in, an account after.
func addrKey(clientIP string) string  { return "addr:" + clientIP }
func accountKey(userID string) string { return "user:" + userID }

// sessionKey names a session among the requesters that failed lately; no
// client key (an address or a /64) looks like it.
func sessionKey(sessionID string) string { return "session:" + sessionID }

// withSlot runs fn, the bcrypt work of a request, in a hashing slot of
// principal key.
func (s *Service) withSlot(ctx context.Context, key string, fn func() error) error {
	if err := s.slots.acquire(ctx, key); err != nil {
		return err
	}
	defer s.slots.release(key)
	return fn()
}

// newSession makes a session id, its first refresh token and the session
// they open, expiring RefreshTTL from now whatever rotations follow.
func (s *Service) newSession(userAgent string) (string, newSession, error) {
	id := uuid.NewString()
	token, hash, err := s.tokens.newRefresh(id)
	if err != nil {
		return "", newSession{}, err
	}
	now := s.clock()
	return token, newSession{
		ID:          id,
		Now:         now,
		ExpiresAt:   now.Add(s.cfg.RefreshTTL),
		UserAgent:   cleanUserAgent(userAgent),
		RefreshHash: hash,
		MaxSessions: s.cfg.MaxSessions,
	}, nil
}

// SetActive enables or disables the account with email, for operators.
// Disabling ends every session of the account at once, in this process's
// session cache too; enabling it again revives none of them (its owner
// logs in anew).
func (s *Service) SetActive(ctx context.Context, email string, active bool) (User, error) {
	u, err := s.store.setActive(ctx, normalizeEmail(email), active, s.clock())
	if u.ID != "" {
		s.forgetUser(u.ID)
	}
	return u, err
}

// purgeMaxBatches bounds one purge: at most this many batches of each
// kind; what remains waits for the next run.
const purgeMaxBatches = 100

// PurgeSessions deletes the sessions that ended (revoked or expired), with
// their refresh tokens, in batches, and returns how many it deleted.
func (s *Service) PurgeSessions(ctx context.Context) (int64, error) {
	before := s.clock()
	var total int64
	for range purgeMaxBatches {
		n, err := s.store.purgeSessions(ctx, before)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// PurgeTokens deletes the verification and reset tokens that expired, in
// batches, and returns how many it deleted.
func (s *Service) PurgeTokens(ctx context.Context) (int64, error) {
	before := s.clock()
	var total int64
	for range purgeMaxBatches {
		n, err := s.store.purgeTokens(ctx, before)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
	return total, nil
}

// pair signs an access token for the session and assembles the pair.
func (s *Service) pair(u User, sessionID, refresh string) (TokenPair, error) {
	access, err := s.tokens.access(u.ID, sessionID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{User: u, AccessToken: access, ExpiresIn: s.cfg.AccessTTL, RefreshToken: refresh}, nil
}
