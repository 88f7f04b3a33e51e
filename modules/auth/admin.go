package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	entdialect "entgo.io/ent/dialect"

	"todo/ent"
	"todo/ent/user"
)

// Admin is what operators do to accounts from the command line (`todo
// users …`), straight on the database, without the HTTP surface.
type Admin struct {
	store *store
	now   func() time.Time
}

// NewAdmin returns the operators' account commands on db, of dialect
// (dialect.Postgres or dialect.SQLite). On PostgreSQL their revocations are
// announced to every running instance, as the service's own are.
func NewAdmin(db *ent.Client, dialect string, now func() time.Time) *Admin {
	return &Admin{store: &store{db: db, postgres: dialect == entdialect.Postgres}, now: now}
}

// adminPage is how many users Users reads at a time.
const adminPage = 500

// Users calls fn with every account, oldest first, reading them a page at a
// time so that a large table is never held in memory.
func (a *Admin) Users(ctx context.Context, fn func(User) error) error {
	after := ""
	for {
		q := a.store.db.User.Query().Order(ent.Asc(user.FieldID)).Limit(adminPage)
		if after != "" {
			q.Where(user.IDGT(after))
		}
		page, err := q.All(ctx)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range page {
			if err := fn(toUser(u)); err != nil {
				return err
			}
		}
		if len(page) < adminPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// SetActive enables or disables the account with email. Disabling revokes
// every session of the account in the same transaction, so enabling it
// again revives none: its owner logs in anew.
func (a *Admin) SetActive(ctx context.Context, email string, active bool) (User, error) {
	return a.store.setActive(ctx, normalizeEmail(email), active, dbTime(a.now()))
}

// Delete deletes the account with email, with its sessions and tasks. An
// external account's deletion is recorded, so that no token its issuer
// signed before brings it back.
func (a *Admin) Delete(ctx context.Context, email string) (User, error) {
	u, err := a.store.db.User.Query().Where(user.Email(normalizeEmail(email))).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return User{}, ErrUserNotFound
	case err != nil:
		return User{}, fmt.Errorf("select user: %w", err)
	}
	if isExternalHash(u.HashedPassword) {
		err = a.store.deleteExternalUser(ctx, u.ID, u.HashedPassword, dbTime(a.now()))
	} else {
		err = a.store.withTx(ctx, func(tx *ent.Tx) (bool, error) {
			if err := tx.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
				return false, err
			}
			return false, a.store.notifyRevoked(ctx, tx, userRevoked(u.ID))
		})
	}
	switch {
	case ent.IsNotFound(err), errors.Is(err, ErrUnauthorized): // deleted meanwhile
		return User{}, ErrUserNotFound
	case err != nil:
		return User{}, fmt.Errorf("delete user: %w", err)
	}
	return toUser(u), nil
}
