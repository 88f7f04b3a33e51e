package auth

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"todo/ent"
	"todo/ent/accounttoken"
	"todo/ent/externaldeletion"
	"todo/ent/predicate"
	"todo/ent/refreshtoken"
	"todo/ent/session"
	"todo/ent/user"
	"todo/platform/database"
	"todo/platform/mail"
)

// store is the auth module's only door to the database; Ent types and
// errors stop here.
type store struct {
	db *ent.Client
	// postgres tells other instances of each revocation (notifyRevoked);
	// SQLite has no other instance to tell.
	postgres bool
}

// revokedChannel is the PostgreSQL channel that revocations are announced
// on, for every instance to forget the sessions they end (Service.revoked).
const revokedChannel = "todo_sessions_revoked"

// maxNotifiedSessions is how many session ids one notification names at
// most; beyond, it names their user (PostgreSQL caps a payload at 8000
// bytes, and a UUID takes 37 with its comma).
const maxNotifiedSessions = 100

// userRevoked and sessionsRevoked are the payloads of revokedChannel: every
// session of a user, or the sessions named.
func userRevoked(userID string) string { return "u:" + userID }

func sessionsRevoked(userID string, ids ...string) string {
	if len(ids) > maxNotifiedSessions {
		return userRevoked(userID)
	}
	return "s:" + strings.Join(ids, ",")
}

// notifyRevoked announces a revocation in tx, on PostgreSQL: the
// notification is delivered, to every listening instance, if and when tx
// commits.
func (s *store) notifyRevoked(ctx context.Context, tx *ent.Tx, payload string) error {
	if !s.postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", revokedChannel, payload); err != nil {
		return fmt.Errorf("notify revocation: %w", err)
	}
	return nil
}

// newSession is a session to open together with its first refresh token.
type newSession struct {
	ID          string // the session's id, which its refresh tokens name
	Now         time.Time
	ExpiresAt   time.Time
	UserAgent   string
	RefreshHash string
	MaxSessions int // live sessions a user may keep; the oldest beyond are revoked
}

// credentials is a user with the password hash, for the service only.
type credentials struct {
	User
	Hash string
}

func toUser(u *ent.User) User {
	return User{
		ID:            u.ID,
		Email:         u.Email,
		Name:          u.Name,
		IsActive:      u.IsActive,
		EmailVerified: u.EmailVerified,
		CreatedAt:     u.CreatedAt,
		UpdatedAt:     u.UpdatedAt,
	}
}

func toSession(s *ent.Session) Session {
	return Session{
		ID:         s.ID,
		UserID:     s.UserID,
		CreatedAt:  s.CreatedAt,
		LastUsedAt: s.LastUsedAt,
		ExpiresAt:  s.ExpiresAt,
		UserAgent:  s.UserAgent,
	}
}

// withTx runs fn in a transaction, committing when it returns nil and
// rolling back otherwise. commitOnErr lets fn keep writes (a revocation)
// while still failing the request.
func (s *store) withTx(ctx context.Context, fn func(tx *ent.Tx) (commitOnErr bool, err error)) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	keep, err := fn(tx)
	if err != nil && !keep {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if cerr := tx.Commit(); cerr != nil {
		return fmt.Errorf("commit: %w", cerr)
	}
	return err
}

// createUser inserts a user with its first session and refresh token, and
// the token and mail that verify its email (unless verify is the zero
// mailing), in one transaction. The unique
// index on email decides between racing registrations: the losers get
// ErrEmailTaken.
func (s *store) createUser(ctx context.Context, email, name, hash string, ns newSession, verify mailing) (User, Session, error) {
	var u User
	var sess Session
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		eu, err := tx.User.Create().
			SetEmail(email).
			SetName(name).
			SetHashedPassword(hash).
			SetCreatedAt(ns.Now).
			SetUpdatedAt(ns.Now).
			Save(ctx)
		switch {
		case ent.IsConstraintError(err): // email is the only unique key on users
			return false, ErrEmailTaken.Wrap(err)
		case err != nil:
			return false, fmt.Errorf("insert user: %w", err)
		}
		u = toUser(eu)
		if sess, err = openSession(ctx, tx, u.ID, ns); err != nil {
			return false, err
		}
		if verify.hash == "" { // no mail this time
			return false, nil
		}
		return false, s.writeMailing(ctx, tx, u.ID, verify)
	})
	return u, sess, err
}

// createSession opens a session for userID with its first refresh token,
// only if the user's password hash is still hash, the one the login just
// checked, and the user is still active: a password changed since is
// ErrInvalidCredentials, an account disabled since ErrAccountDisabled (a
// session opened after the disabling revoked the others would live again
// when the account is enabled). The user's
// row is locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
// serialises writers) so that a password change waits for the session and
// then revokes it with the others, and so that concurrent logins of one
// user count its sessions one after the other.
func (s *store) createSession(ctx context.Context, userID, hash string, ns newSession) (Session, []string, error) {
	var (
		sess    Session
		evicted []string
	)
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		var rows []struct {
			Active bool `json:"is_active"`
		}
		err := tx.User.Query().
			Where(user.ID(userID), user.HashedPassword(hash)).
			Select(user.FieldIsActive).
			Modify(lockForUpdate).
			Scan(ctx, &rows)
		switch {
		case err != nil:
			return false, fmt.Errorf("lock user: %w", err)
		case len(rows) == 0:
			return false, ErrInvalidCredentials
		case !rows[0].Active:
			return false, ErrAccountDisabled
		}
		if sess, err = openSession(ctx, tx, userID, ns); err != nil {
			return false, err
		}
		evicted, err = evictOldSessions(ctx, tx, userID, ns.Now, ns.MaxSessions)
		if err != nil || len(evicted) == 0 {
			return false, err
		}
		return false, s.notifyRevoked(ctx, tx, sessionsRevoked(userID, evicted...))
	})
	return sess, evicted, err
}

// evictOldSessions revokes userID's live sessions beyond the newest max
// (newest by created_at, then id) and returns their ids. The caller holds
// the user's row lock.
func evictOldSessions(ctx context.Context, tx *ent.Tx, userID string, now time.Time, maxSessions int) ([]string, error) {
	if maxSessions <= 0 {
		return nil, nil
	}
	ids, err := tx.Session.Query().
		Where(session.UserID(userID), session.RevokedAtIsNil(), session.ExpiresAtGT(now)).
		Order(ent.Desc(session.FieldCreatedAt), ent.Desc(session.FieldID)).
		Offset(maxSessions).
		Limit(evictBatch).
		IDs(ctx)
	if err != nil || len(ids) == 0 {
		return nil, wrapErr("select sessions over the cap", err)
	}
	if err := tx.Session.Update().Where(session.IDIn(ids...)).SetRevokedAt(now).Exec(ctx); err != nil {
		return nil, fmt.Errorf("revoke sessions over the cap: %w", err)
	}
	return ids, nil
}

// evictBatch bounds the sessions one login revokes for the cap: one more
// than it adds is enough to keep the cap; more only helps after the cap was
// lowered.
const evictBatch = 1000

// lockForUpdate makes a SELECT lock its rows against every other writer on
// PostgreSQL — FOR NO KEY UPDATE, which still lets rows that reference them
// be inserted meanwhile (a foreign-key check takes FOR KEY SHARE); the
// tasks module's writes lock the user's row the same way, so a login and
// the user's task writes take turns for a few milliseconds. SQLite has no
// row locks and needs none (_txlock=immediate serialises writing
// transactions).
func lockForUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.For(sql.LockNoKeyUpdate)
	}
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func openSession(ctx context.Context, tx *ent.Tx, userID string, ns newSession) (Session, error) {
	es, err := tx.Session.Create().
		SetID(ns.ID).
		SetUserID(userID).
		SetCreatedAt(ns.Now).
		SetLastUsedAt(ns.Now).
		SetExpiresAt(ns.ExpiresAt).
		SetUserAgent(ns.UserAgent).
		Save(ctx)
	if err != nil {
		return Session{}, fmt.Errorf("insert session: %w", err)
	}
	if err := tx.RefreshToken.Create().
		SetID(ns.RefreshHash).
		SetSessionID(es.ID).
		SetCreatedAt(ns.Now).
		Exec(ctx); err != nil {
		return Session{}, fmt.Errorf("insert refresh token: %w", err)
	}
	return toSession(es), nil
}

// credentialsByEmail returns the user with email and its password hash;
// found is false when there is none.
func (s *store) credentialsByEmail(ctx context.Context, email string) (c credentials, found bool, err error) {
	u, err := s.db.User.Query().Where(user.Email(email)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return credentials{}, false, nil
	case err != nil:
		return credentials{}, false, fmt.Errorf("select user by email: %w", err)
	}
	return credentials{User: toUser(u), Hash: u.HashedPassword}, true, nil
}

// credentialsByID returns the user with id and its password hash. A user
// that is gone is ErrUnauthorized: its token has just stopped working.
func (s *store) credentialsByID(ctx context.Context, id string) (credentials, error) {
	u, err := s.db.User.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return credentials{}, ErrUnauthorized
	case err != nil:
		return credentials{}, fmt.Errorf("select user: %w", err)
	}
	return credentials{User: toUser(u), Hash: u.HashedPassword}, nil
}

// replaceHash stores newHash for userID only if its hash is still oldHash,
// so that re-hashing at login never overwrites a password changed meanwhile.
func (s *store) replaceHash(ctx context.Context, userID, oldHash, newHash string) error {
	// updated_at is left alone: the account did not change, only its hash's cost.
	_, err := s.db.User.Update().
		Where(user.ID(userID), user.HashedPassword(oldHash)).
		SetHashedPassword(newHash).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("update password hash: %w", err)
	}
	return nil
}

// sessionLive reports whether the session exists, belongs to userID, is
// neither revoked nor expired, and its user exists and is active: one
// indexed query, the whole cost of authenticating a request.
func (s *store) sessionLive(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	ok, err := s.db.Session.Query().
		Where(livePredicates(userID, sessionID, now)...).
		Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("check session: %w", err)
	}
	return ok, nil
}

// sessionLiveUntil is sessionLive that also returns the session's expiry,
// for the session cache; still one query.
func (s *store) sessionLiveUntil(ctx context.Context, userID, sessionID string, now time.Time) (expiresAt time.Time, live bool, err error) {
	es, err := s.db.Session.Query().
		Where(livePredicates(userID, sessionID, now)...).
		Select(session.FieldExpiresAt).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("check session: %w", err)
	}
	return es.ExpiresAt, true, nil
}

// livePredicates select the session if it is live: see sessionLive.
func livePredicates(userID, sessionID string, now time.Time) []predicate.Session {
	return []predicate.Session{
		session.ID(sessionID),
		session.UserID(userID),
		session.RevokedAtIsNil(),
		session.ExpiresAtGT(now),
		session.HasUserWith(user.IsActive(true)),
	}
}

// touchSession sets a session's last_used_at.
func (s *store) touchSession(ctx context.Context, sessionID string, now time.Time) error {
	err := s.db.Session.Update().Where(session.ID(sessionID)).SetLastUsedAt(now).Exec(ctx)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// rotate spends the refresh token stored under oldHash and stores the one
// issue makes for its session; claimed is the session a genuine token of the service names
// (empty for tokens of the older, opaque form). A spent token of the current
// form is deleted, not kept: the DELETE decides between racing refreshes,
// and a genuine token that is no longer stored is a spent one; one of the
// older form is marked spent instead (spend). The loser of a race, like any
// presentation of a spent token, revokes the whole session and gets
// ErrInvalidRefreshToken. issue is called inside the transaction, before
// any write, once the session is known to be live: it may refuse (a rate
// limit), else it returns the hash of the session's next token.
func (s *store) rotate(ctx context.Context, oldHash, claimed string, now time.Time, issue func(sessionID string) (newHash string, err error)) (User, Session, error) {
	if claimed == "" {
		// A token of the older form, or one made up in its shape: only one
		// that is stored is worth a write transaction (SQLite's one write
		// lock, for anyone who can post a string).
		found, err := s.db.RefreshToken.Query().Where(refreshtoken.ID(oldHash)).Exist(ctx)
		switch {
		case err != nil:
			return User{}, Session{}, fmt.Errorf("select refresh token: %w", err)
		case !found:
			return User{}, Session{}, ErrInvalidRefreshToken
		}
	}
	var u User
	var sess Session
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		rt, err := tx.RefreshToken.Query().Where(refreshtoken.ID(oldHash)).Only(ctx)
		switch {
		case ent.IsNotFound(err) && claimed != "":
			sess = Session{ID: claimed}
			return s.revokeReused(ctx, tx, claimed, now)
		case ent.IsNotFound(err):
			return false, ErrInvalidRefreshToken
		case err != nil:
			return false, fmt.Errorf("select refresh token: %w", err)
		}
		// One query for the session and its user, so that neither can be
		// missing from the answer when the account is deleted meanwhile.
		es, err := tx.Session.Query().Where(session.ID(rt.SessionID)).WithUser().Only(ctx)
		switch {
		case ent.IsNotFound(err): // deleted with its user meanwhile
			return false, ErrInvalidRefreshToken
		case err != nil:
			return false, fmt.Errorf("select session: %w", err)
		}
		if rt.SpentAt != nil { // a token of the older form, kept when spent
			sess = toSession(es)
			return s.revokeReused(ctx, tx, es.ID, now)
		}
		eu := es.Edges.User
		if eu == nil || es.RevokedAt != nil || !es.ExpiresAt.After(now) || !eu.IsActive {
			return false, ErrInvalidRefreshToken
		}
		newHash, err := issue(es.ID)
		if err != nil {
			return false, err
		}
		// The session's row is locked before its refresh token's, in the
		// order deleting the user takes them (user, sessions, then their
		// refresh tokens); the other order deadlocked with it on PostgreSQL.
		n, err := tx.Session.Update().
			Where(session.ID(es.ID), session.RevokedAtIsNil()).
			SetLastUsedAt(now).
			Save(ctx)
		switch {
		case err != nil:
			return false, fmt.Errorf("touch session: %w", err)
		case n == 0: // revoked, or deleted with its user, meanwhile
			return false, ErrInvalidRefreshToken
		}
		n, err = spend(ctx, tx, oldHash, claimed, now)
		switch {
		case err != nil:
			return false, fmt.Errorf("spend refresh token: %w", err)
		case n == 0: // a racing refresh spent it first
			sess = toSession(es)
			return s.revokeReused(ctx, tx, es.ID, now)
		}
		if err := tx.RefreshToken.Create().SetID(newHash).SetSessionID(es.ID).SetCreatedAt(now).Exec(ctx); err != nil {
			return false, fmt.Errorf("insert refresh token: %w", err)
		}
		es.LastUsedAt = now
		u, sess = toUser(eu), toSession(es)
		return false, nil
	})
	return u, sess, err
}

// spend spends the refresh token stored under hash and reports whether it
// did (0: a racing refresh spent it first). A token of the current form
// (claimed names its session) is deleted: its MAC tells a reuse without
// the row. One of the older, opaque form names nothing, so only its row can
// tell a reuse: it is kept, marked spent, until its session is purged.
func spend(ctx context.Context, tx *ent.Tx, hash, claimed string, now time.Time) (int, error) {
	if claimed != "" {
		return tx.RefreshToken.Delete().Where(refreshtoken.ID(hash)).Exec(ctx)
	}
	return tx.RefreshToken.Update().
		Where(refreshtoken.ID(hash), refreshtoken.SpentAtIsNil()).
		SetSpentAt(now).
		Save(ctx)
}

// revokeReused ends a session whose spent refresh token was presented
// again; the revocation is committed although the request fails. A session
// already ended (revoked, or gone with its user) is left alone: nothing is
// announced, so replaying a spent token sends no notification to every
// instance, and it is no reuse to report.
func (s *store) revokeReused(ctx context.Context, tx *ent.Tx, sessionID string, now time.Time) (bool, error) {
	n, err := tx.Session.Update().
		Where(session.ID(sessionID), session.RevokedAtIsNil()).
		SetRevokedAt(now).
		Save(ctx)
	switch {
	case err != nil:
		return false, fmt.Errorf("revoke reused session: %w", err)
	case n == 0:
		return false, ErrInvalidRefreshToken
	}
	if err := s.notifyRevoked(ctx, tx, sessionsRevoked("", sessionID)); err != nil {
		return false, err
	}
	return true, ErrInvalidRefreshToken.Wrap(errTokenReused)
}

// revokeSessionOfToken ends the session of the refresh token stored under
// hash, or of claimed (the session a genuine token names, spent or not),
// and returns its id; empty when there is none.
func (s *store) revokeSessionOfToken(ctx context.Context, hash, claimed string, now time.Time) (string, error) {
	sessionID := claimed
	if sessionID == "" {
		id, err := s.db.RefreshToken.Query().
			Where(refreshtoken.ID(hash)).
			Select(refreshtoken.FieldSessionID).
			String(ctx)
		switch {
		case ent.IsNotFound(err):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("select session of refresh token: %w", err)
		}
		sessionID = id
	}
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		n, err := tx.Session.Update().
			Where(session.ID(sessionID), session.RevokedAtIsNil()).
			SetRevokedAt(now).
			Save(ctx)
		if err != nil || n == 0 {
			return false, wrapErr("revoke session by refresh token", err)
		}
		return false, s.notifyRevoked(ctx, tx, sessionsRevoked("", sessionID))
	})
	return sessionID, err
}

// revokeSession ends one live session of userID; false when there is none.
func (s *store) revokeSession(ctx context.Context, userID, sessionID string, now time.Time) (bool, error) {
	var n int
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		var err error
		n, err = tx.Session.Update().
			Where(
				session.ID(sessionID),
				session.UserID(userID),
				session.RevokedAtIsNil(),
				session.ExpiresAtGT(now),
			).
			SetRevokedAt(now).
			Save(ctx)
		if err != nil || n == 0 {
			return false, wrapErr("revoke session", err)
		}
		return false, s.notifyRevoked(ctx, tx, sessionsRevoked(userID, sessionID))
	})
	return n > 0 && err == nil, err
}

// listSessions returns userID's live sessions, newest first.
func (s *store) listSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	es, err := s.db.Session.Query().
		Where(session.UserID(userID), session.RevokedAtIsNil(), session.ExpiresAtGT(now)).
		Order(ent.Desc(session.FieldCreatedAt), ent.Desc(session.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]Session, len(es))
	for i, e := range es {
		out[i] = toSession(e)
	}
	return out, nil
}

// rename sets userID's name.
func (s *store) rename(ctx context.Context, userID, name string, now time.Time) (User, error) {
	u, err := s.db.User.UpdateOneID(userID).SetName(name).SetUpdatedAt(now).Save(ctx)
	switch {
	case ent.IsNotFound(err):
		return User{}, ErrUnauthorized
	case err != nil:
		return User{}, fmt.Errorf("update name: %w", err)
	}
	return toUser(u), nil
}

// lockCheckedUser locks userID's row for the rest of tx and checks the
// request may still act for it: the session it came with is live (or it
// came with none), and the password hash is still checkedHash, the one the
// request's password was checked against. A revoked session is
// ErrUnauthorized, a hash changed since is ErrWrongPassword: the password
// that was checked is no longer the account's.
func lockCheckedUser(ctx context.Context, tx *ent.Tx, userID, sessionID, checkedHash string, now time.Time) error {
	hashes, err := tx.User.Query().
		Where(user.ID(userID)).
		Select(user.FieldHashedPassword).
		Modify(lockForUpdate).
		Strings(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("lock user: %w", err)
	case len(hashes) == 0:
		return ErrUnauthorized
	}
	if sessionID != "" {
		// The session's row is locked too (user, then session: the order
		// of the cascade), so that a revocation racing this transaction
		// waits for it rather than being overtaken.
		n, err := tx.Session.Update().
			Where(livePredicates(userID, sessionID, now)...).
			SetLastUsedAt(now).
			Save(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("lock session: %w", err)
		case n == 0:
			return ErrUnauthorized
		}
	}
	if hashes[0] != checkedHash {
		return ErrWrongPassword
	}
	return nil
}

// changePassword stores newHash for userID, spends its reset tokens and
// revokes every other live session of the user, in one transaction, if the caller's session is
// still live and the hash is still checkedHash (lockCheckedUser).
func (s *store) changePassword(ctx context.Context, userID, keepSessionID, checkedHash, newHash string, now time.Time) error {
	return s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		if err := lockCheckedUser(ctx, tx, userID, keepSessionID, checkedHash, now); err != nil {
			return false, err
		}
		if err := tx.User.UpdateOneID(userID).SetHashedPassword(newHash).SetUpdatedAt(now).Exec(ctx); err != nil {
			return false, fmt.Errorf("update password: %w", err)
		}
		// A reset link mailed before must not undo the change.
		if err := spendTokens(ctx, tx, userID, accounttoken.PurposeResetPassword, now); err != nil {
			return false, err
		}
		err := tx.Session.Update().
			Where(session.UserID(userID), session.IDNEQ(keepSessionID), session.RevokedAtIsNil()).
			SetRevokedAt(now).
			Exec(ctx)
		if err != nil {
			return false, fmt.Errorf("revoke other sessions: %w", err)
		}
		return false, s.notifyRevoked(ctx, tx, userRevoked(userID))
	})
}

// deleteUser deletes userID, if the caller's session is still live and the
// hash is still checkedHash (lockCheckedUser); its sessions, refresh tokens
// and tasks go with it through the foreign keys' ON DELETE CASCADE.
func (s *store) deleteUser(ctx context.Context, userID, sessionID, checkedHash string, now time.Time) error {
	return s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		if err := lockCheckedUser(ctx, tx, userID, sessionID, checkedHash, now); err != nil {
			return false, err
		}
		err := tx.User.DeleteOneID(userID).Exec(ctx)
		switch {
		case ent.IsNotFound(err):
			return false, ErrUnauthorized
		case err != nil:
			return false, fmt.Errorf("delete user: %w", err)
		}
		return false, s.notifyRevoked(ctx, tx, userRevoked(userID))
	})
}

// purgeBatch bounds the rows one purge statement deletes, so that a purge
// never holds locks for long.
const purgeBatch = 1000

// purgeSessionsSQL deletes up to purgeBatch ended sessions — revoked, or
// expired — before $1; their refresh tokens go with them (ON DELETE
// CASCADE). Nothing needs them: a token of a session that is gone is
// refused as it would be while the session stayed revoked or expired.
var purgeSessionsSQL = [...]string{
	`DELETE FROM "sessions" WHERE "id" IN (SELECT "id" FROM "sessions" WHERE "revoked_at" <= $1 LIMIT ` + strconv.Itoa(purgeBatch) + `)`,
	`DELETE FROM "sessions" WHERE "id" IN (SELECT "id" FROM "sessions" WHERE "expires_at" <= $1 LIMIT ` + strconv.Itoa(purgeBatch) + `)`,
}

// purgeSessions deletes one batch of the sessions that ended before
// before, and returns how many.
func (s *store) purgeSessions(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range purgeSessionsSQL {
		n, err := database.ExecCount(ctx, s.db, q, before)
		if err != nil {
			return total, fmt.Errorf("purge sessions: %w", err)
		}
		total += n
	}
	return total, nil
}

// purgeTokensSQL deletes up to purgeBatch verification and reset tokens
// that expired before $1, spent or not: none of them can be used again.
var purgeTokensSQL = `DELETE FROM "account_tokens" WHERE "id" IN (SELECT "id" FROM "account_tokens" WHERE "expires_at" <= $1 LIMIT ` + strconv.Itoa(purgeBatch) + `)`

// purgeTokens deletes one batch of the tokens that expired before before,
// and returns how many.
func (s *store) purgeTokens(ctx context.Context, before time.Time) (int64, error) {
	n, err := database.ExecCount(ctx, s.db, purgeTokensSQL, before)
	if err != nil {
		return 0, fmt.Errorf("purge account tokens: %w", err)
	}
	return n, nil
}

// setActive sets the is_active of the user with email and returns it.
// Disabling revokes every session of the user in the same transaction, and
// enabling a disabled account spends its reset tokens, so that enabling
// revives neither a session nor a reset link from before.
func (s *store) setActive(ctx context.Context, email string, active bool, now time.Time) (User, error) {
	var u User
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		eu, err := tx.User.Query().Where(user.Email(email)).Modify(lockForUpdate).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			return false, ErrUserNotFound
		case err != nil:
			return false, fmt.Errorf("select user: %w", err)
		}
		if !active {
			err := tx.Session.Update().
				Where(session.UserID(eu.ID), session.RevokedAtIsNil()).
				SetRevokedAt(now).
				Exec(ctx)
			if err != nil {
				return false, fmt.Errorf("revoke sessions: %w", err)
			}
			if err := s.notifyRevoked(ctx, tx, userRevoked(eu.ID)); err != nil {
				return false, err
			}
			// An external account has no sessions here: its issuer's
			// tokens are cut off the way a deletion cuts them off, so that
			// enabling the account again revives none issued before.
			if isExternalHash(eu.HashedPassword) {
				if err := recordExternalCutoff(ctx, tx, eu.ID, now); err != nil {
					return false, err
				}
			}
		}
		if active && !eu.IsActive {
			// Nor may a reset link mailed before the disabling open the
			// account now (while it was disabled, confirming one was a
			// 403 account_disabled, and no reset mail was sent).
			if err := spendTokens(ctx, tx, eu.ID, accounttoken.PurposeResetPassword, now); err != nil {
				return false, err
			}
		}
		if eu.IsActive != active {
			if eu, err = tx.User.UpdateOne(eu).SetIsActive(active).SetUpdatedAt(now).Save(ctx); err != nil {
				return false, fmt.Errorf("update user: %w", err)
			}
		}
		u = toUser(eu)
		return false, nil
	})
	return u, err
}

// externalAccount is an account as the external-token path reads it: the
// user, its password hash (an external account's says which issuer owns
// it), and when an account of the same id was last deleted, if ever.
type externalAccount struct {
	User
	Hash      string
	DeletedAt *time.Time
}

// externalAccountSQL reads an account and the deletion recorded for its id
// in one indexed query; both dialects accept it.
const externalAccountSQL = `SELECT u.email, u.name, u.is_active, u.email_verified, u.hashed_password, u.created_at, u.updated_at, d.deleted_at
FROM users u LEFT JOIN external_deletions d ON d.id = u.id
WHERE u.id = $1`

// externalAccount returns the account with id; found is false when there is
// none.
func (s *store) externalAccount(ctx context.Context, id string) (a externalAccount, found bool, err error) {
	rows, err := s.db.QueryContext(ctx, externalAccountSQL, id)
	if err != nil {
		return externalAccount{}, false, fmt.Errorf("select external account: %w", err)
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		return externalAccount{}, false, rows.Err()
	}
	var deleted stdsql.NullTime
	a.ID = id
	if err := rows.Scan(&a.Email, &a.Name, &a.IsActive, &a.EmailVerified, &a.Hash, &a.CreatedAt, &a.UpdatedAt, &deleted); err != nil {
		return externalAccount{}, false, fmt.Errorf("scan external account: %w", err)
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if deleted.Valid {
		t := deleted.Time.UTC()
		a.DeletedAt = &t
	}
	return a, true, rows.Close()
}

// emailOwner returns the id of the account with email, if any: a read, so
// that an external token whose email is taken is refused without a write.
func (s *store) emailOwner(ctx context.Context, email string) (id string, found bool, err error) {
	id, err = s.db.User.Query().Where(user.Email(email)).OnlyID(ctx)
	switch {
	case ent.IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("select user by email: %w", err)
	}
	return id, true, nil
}

// externalDeletedAt returns when the external account id was last deleted;
// nil if never.
func (s *store) externalDeletedAt(ctx context.Context, id string) (*time.Time, error) {
	del, err := s.db.ExternalDeletion.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("select external deletion: %w", err)
	}
	t := del.DeletedAt.UTC()
	return &t, nil
}

// newExternalUser is the users row of an external identity seen for the
// first time, and the iat of the token that introduced it.
type newExternalUser struct {
	ID            string
	Email         string
	Name          string
	EmailVerified bool
	Hash          string
	IssuedAt      time.Time
	Now           time.Time
}

// createExternalUser inserts the account of an external identity, unless
// its id was deleted after the token was issued (issuedBefore:
// ErrUnauthorized). A
// racing insert of the same id is no error: the row it made is returned,
// with created false. An email held by another account is ErrEmailTaken.
func (s *store) createExternalUser(ctx context.Context, nu newExternalUser) (a externalAccount, created bool, err error) {
	var conflict error
	err = s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		del, err := tx.ExternalDeletion.Get(ctx, nu.ID)
		switch {
		case ent.IsNotFound(err):
		case err != nil:
			return false, fmt.Errorf("select external deletion: %w", err)
		case issuedBefore(nu.IssuedAt, del.DeletedAt):
			return false, ErrUnauthorized.WithDetail("the account was deleted after this token was issued")
		default:
			t := del.DeletedAt.UTC()
			a.DeletedAt = &t
		}
		eu, err := tx.User.Create().
			SetID(nu.ID).
			SetEmail(nu.Email).
			SetName(nu.Name).
			SetHashedPassword(nu.Hash).
			SetEmailVerified(nu.EmailVerified).
			SetCreatedAt(nu.Now).
			SetUpdatedAt(nu.Now).
			Save(ctx)
		switch {
		case ent.IsConstraintError(err): // the id (a racing first request) or the email
			conflict = err
			return false, err
		case err != nil:
			return false, fmt.Errorf("insert external user: %w", err)
		}
		a.User, a.Hash = toUser(eu), eu.HashedPassword
		return false, nil
	})
	if conflict == nil {
		return a, err == nil, err
	}
	// The transaction is rolled back; on PostgreSQL it could not go on.
	a, found, err := s.externalAccount(ctx, nu.ID)
	switch {
	case err != nil:
		return externalAccount{}, false, err
	case !found:
		return externalAccount{}, false, ErrEmailTaken.WithDetail("the token's email belongs to another account").Wrap(conflict)
	}
	return a, false, nil
}

// updateExternalUser writes the changed columns of the external account id
// owned by hash; an email held by another account is ErrEmailTaken.
func (s *store) updateExternalUser(ctx context.Context, id, hash string, ch userChanges, now time.Time) error {
	u := s.db.User.Update().Where(user.ID(id), user.HashedPassword(hash)).SetUpdatedAt(now)
	if ch.Email != nil {
		u.SetEmail(*ch.Email)
	}
	if ch.Name != nil {
		u.SetName(*ch.Name)
	}
	if ch.EmailVerified != nil {
		u.SetEmailVerified(*ch.EmailVerified)
	}
	_, err := u.Save(ctx)
	switch {
	case ent.IsConstraintError(err): // email is the only unique key an update can break
		return ErrEmailTaken.WithDetail("the token's email belongs to another account").Wrap(err)
	case err != nil:
		return fmt.Errorf("update external user: %w", err)
	}
	return nil
}

// deleteExternalUser deletes the external account id owned by hash (its
// tasks go with it through ON DELETE CASCADE) and records the deletion, in
// one transaction.
func (s *store) deleteExternalUser(ctx context.Context, id, hash string, now time.Time) error {
	return s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		n, err := tx.User.Delete().Where(user.ID(id), user.HashedPassword(hash)).Exec(ctx)
		switch {
		case err != nil:
			return false, fmt.Errorf("delete external user: %w", err)
		case n == 0:
			return false, ErrUnauthorized
		}
		return false, recordExternalCutoff(ctx, tx, id, now)
	})
}

// writeMailing stores m's token for userID and queues its mail, in tx.
func (s *store) writeMailing(ctx context.Context, tx *ent.Tx, userID string, m mailing) error {
	err := tx.AccountToken.Create().
		SetUserID(userID).
		SetPurpose(m.purpose).
		SetHash(m.hash).
		SetEmail(m.email).
		SetCreatedAt(m.now).
		SetExpiresAt(m.expiresAt).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert %s token: %w", m.purpose, err)
	}
	if err := mail.Enqueue(ctx, tx, m.mail); err != nil {
		return fmt.Errorf("queue %s mail: %w", m.purpose, err)
	}
	return nil
}

// mailToken stores m's token for userID and queues its mail, in one
// transaction: the mail is sent if and only if the token exists. A user
// deleted meanwhile is ErrUnauthorized.
func (s *store) mailToken(ctx context.Context, userID string, m mailing) error {
	return s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		err := s.writeMailing(ctx, tx, userID, m)
		if ent.IsConstraintError(err) { // the user's foreign key: deleted meanwhile
			return false, ErrUnauthorized.Wrap(err)
		}
		return false, err
	})
}

// usableToken returns the user of the unspent, unexpired token of purpose
// stored under hash; anything else is ErrInvalidToken.
func (s *store) usableToken(ctx context.Context, hash string, purpose accounttoken.Purpose, now time.Time) (string, error) {
	t, err := s.db.AccountToken.Query().
		Where(accounttoken.Hash(hash), accounttoken.PurposeEQ(purpose), accounttoken.UsedAtIsNil(), accounttoken.ExpiresAtGT(now)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return "", ErrInvalidToken
	case err != nil:
		return "", fmt.Errorf("select %s token: %w", purpose, err)
	}
	return t.UserID, nil
}

// lockToken locks userID's row, then its usable token of purpose stored
// under hash — in the order deleting the user takes them — and returns
// both. A token spent, expired or of another user meanwhile is
// ErrInvalidToken.
func lockToken(ctx context.Context, tx *ent.Tx, userID, hash string, purpose accounttoken.Purpose, now time.Time) (*ent.User, *ent.AccountToken, error) {
	eu, err := tx.User.Query().Where(user.ID(userID)).Modify(lockForUpdate).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil, ErrInvalidToken
	case err != nil:
		return nil, nil, fmt.Errorf("lock user: %w", err)
	}
	t, err := tx.AccountToken.Query().
		Where(accounttoken.Hash(hash), accounttoken.UserID(userID), accounttoken.PurposeEQ(purpose),
			accounttoken.UsedAtIsNil(), accounttoken.ExpiresAtGT(now)).
		Modify(lockForUpdate).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil, ErrInvalidToken
	case err != nil:
		return nil, nil, fmt.Errorf("lock %s token: %w", purpose, err)
	}
	return eu, t, nil
}

// spendTokens marks every unspent token of purpose of userID used.
func spendTokens(ctx context.Context, tx *ent.Tx, userID string, purpose accounttoken.Purpose, now time.Time) error {
	err := tx.AccountToken.Update().
		Where(accounttoken.UserID(userID), accounttoken.PurposeEQ(purpose), accounttoken.UsedAtIsNil()).
		SetUsedAt(now).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("spend %s tokens: %w", purpose, err)
	}
	return nil
}

// verifyEmail spends the verification token stored under hash, with every
// other of userID, and marks the user's email verified — if the token was
// mailed to the email the account still has.
func (s *store) verifyEmail(ctx context.Context, userID, hash string, now time.Time) (User, error) {
	var u User
	err := s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		eu, t, err := lockToken(ctx, tx, userID, hash, accounttoken.PurposeVerifyEmail, now)
		switch {
		case err != nil:
			return false, err
		case t.Email != eu.Email:
			return false, ErrInvalidToken
		}
		if err := spendTokens(ctx, tx, userID, accounttoken.PurposeVerifyEmail, now); err != nil {
			return false, err
		}
		if !eu.EmailVerified {
			if eu, err = tx.User.UpdateOne(eu).SetEmailVerified(true).SetUpdatedAt(now).Save(ctx); err != nil {
				return false, fmt.Errorf("verify email: %w", err)
			}
		}
		u = toUser(eu)
		return false, nil
	})
	return u, err
}

// resetPassword spends the reset token stored under hash, with every other
// of userID, stores newHash, marks the email verified when the token went
// to it, and revokes every session of the user, in one transaction. A
// disabled account is ErrAccountDisabled.
func (s *store) resetPassword(ctx context.Context, userID, hash, newHash string, now time.Time) error {
	return s.withTx(ctx, func(tx *ent.Tx) (bool, error) {
		eu, t, err := lockToken(ctx, tx, userID, hash, accounttoken.PurposeResetPassword, now)
		switch {
		case err != nil:
			return false, err
		case !eu.IsActive:
			return false, ErrAccountDisabled
		}
		if err := spendTokens(ctx, tx, userID, accounttoken.PurposeResetPassword, now); err != nil {
			return false, err
		}
		upd := tx.User.UpdateOne(eu).SetHashedPassword(newHash).SetUpdatedAt(now)
		if t.Email == eu.Email {
			upd.SetEmailVerified(true)
		}
		if err := upd.Exec(ctx); err != nil {
			return false, fmt.Errorf("update password: %w", err)
		}
		err = tx.Session.Update().
			Where(session.UserID(userID), session.RevokedAtIsNil()).
			SetRevokedAt(now).
			Exec(ctx)
		if err != nil {
			return false, fmt.Errorf("revoke sessions: %w", err)
		}
		return false, s.notifyRevoked(ctx, tx, userRevoked(userID))
	})
}

// recordExternalCutoff records, in tx, that no token the external issuer
// signed for id before now may act for its account: it was deleted, or
// disabled. (The table is named for the first; the check is the same.)
func recordExternalCutoff(ctx context.Context, tx *ent.Tx, id string, now time.Time) error {
	err := tx.ExternalDeletion.Create().
		SetID(id).
		SetDeletedAt(now).
		OnConflictColumns(externaldeletion.FieldID).
		UpdateDeletedAt().
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record external cut-off: %w", err)
	}
	return nil
}
