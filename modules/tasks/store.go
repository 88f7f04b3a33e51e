package tasks

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
	"todo/ent/idempotencykey"
	"todo/ent/task"
)

// store is the module's only door to the database. The few statements Ent
// cannot express in one round trip (UPDATE … RETURNING, the idempotency
// upsert, the stats aggregate) are written once in SQL that PostgreSQL and
// SQLite both accept: $n placeholders, RETURNING, ON CONFLICT.
type store struct {
	db *ent.Client
}

// action is what a mutation decides to do with the row it locked.
type action uint8

const (
	actKeep action = iota
	actWrite
	actDelete
)

// mutateFunc decides, from the locked current row, what a mutation does.
type mutateFunc func(cur Task) (next Task, act action, err error)

func toTask(t *ent.Task) Task {
	out := Task{
		ID:          t.ID,
		UserID:      t.UserID,
		Title:       t.Title,
		Description: t.Description,
		Completed:   t.Completed,
		CreatedAt:   t.CreatedAt.UTC(),
		UpdatedAt:   t.UpdatedAt.UTC(),
	}
	if t.CompletedAt != nil {
		ct := t.CompletedAt.UTC()
		out.CompletedAt = &ct
	}
	return out
}

// selectTasks reads a user's tasks; the queries below add to its WHERE.
const selectTasks = `SELECT ` + taskColumns + ` FROM "tasks" WHERE "user_id" = $1`

const getSQL = selectTasks + ` AND "id" = $2`

func (s *store) get(ctx context.Context, userID string, id int64) (Task, error) {
	t, ok, err := s.queryTask(ctx, getSQL, userID, id)
	switch {
	case err != nil:
		return Task{}, fmt.Errorf("select task: %w", err)
	case !ok:
		return Task{}, ErrTaskNotFound
	}
	return t, nil
}

// listSQL is the query of one keyset page: the user's tasks of a status,
// newest first by the status's sort column and then by id (ids break ties
// between equal timestamps, so the order is total), after the position
// ($2, $3) when there is one, at most n rows. Each status matches one
// partial or full index whose key is (user_id, sort DESC, id DESC), so the
// page is read off the index in order and the row comparison lets the scan
// start at the cursor. The statement is written out rather than built by
// Ent, whose query builder and scanning were a fifth of a list's CPU.
func listSQL(st Status, after bool, n int) string {
	q, sortCol := selectTasks, `"created_at"`
	switch st {
	case StatusPending:
		// A literal NOT completed, not completed = $n: a generic plan of a
		// prepared statement can only use the partial index when its
		// predicate is spelled out.
		q += ` AND NOT "completed"`
	case StatusCompleted:
		q += ` AND "completed"`
		sortCol = `"completed_at"`
	}
	if after {
		q += ` AND (` + sortCol + `, "id") < ($2, $3)`
	}
	// A literal LIMIT, as Ent wrote it: the planner sees how few rows the
	// page needs even in a generic plan.
	return q + ` ORDER BY ` + sortCol + ` DESC, "id" DESC LIMIT ` + strconv.Itoa(n)
}

func (s *store) list(ctx context.Context, userID string, st Status, after *position, n int) ([]Task, error) {
	args := []any{userID}
	if after != nil {
		args = append(args, after.At, after.ID)
	}
	rows, err := s.db.QueryContext(ctx, listSQL(st, after != nil, n), args...)
	if err != nil {
		return nil, fmt.Errorf("select tasks: %w", err)
	}
	defer rows.Close()
	out := make([]Task, 0, n)
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select tasks: %w", err)
	}
	return out, nil
}

const statsSQL = `SELECT COUNT(*), COALESCE(SUM(CASE WHEN "completed" THEN 1 ELSE 0 END), 0) FROM "tasks" WHERE "user_id" = $1`

func (s *store) stats(ctx context.Context, userID string) (Stats, error) {
	rows, err := s.db.QueryContext(ctx, statsSQL, userID)
	if err != nil {
		return Stats{}, fmt.Errorf("count tasks: %w", err)
	}
	defer rows.Close()
	var st Stats
	if rows.Next() {
		if err := rows.Scan(&st.Total, &st.Completed); err != nil {
			return Stats{}, fmt.Errorf("scan task counts: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("count tasks: %w", err)
	}
	st.Pending = st.Total - st.Completed
	return st, nil
}

func (s *store) create(ctx context.Context, c *ent.Client, userID string, in CreateInput, now time.Time) (Task, error) {
	t, err := c.Task.Create().
		SetUserID(userID).
		SetTitle(in.Title).
		SetNillableDescription(in.Description).
		SetCreatedAt(now).
		SetUpdatedAt(now).
		Save(ctx)
	switch {
	case ent.IsConstraintError(err): // the only constraint a valid task can break: user_id's foreign key
		return Task{}, ErrAccountGone.Wrap(err)
	case err != nil:
		return Task{}, fmt.Errorf("insert task: %w", err)
	}
	return toTask(t), nil
}

const taskColumns = `"id", "user_id", "title", "description", "completed", "created_at", "updated_at", "completed_at"`

// toggleSQL flips a task in one statement, the row lock held by the UPDATE
// itself, so racing toggles serialise. Right-hand sides read the old row.
// The typed NULL lets PostgreSQL deduce one type for $3 in both places (a
// bare NULL would make the CASE text); SQLite casts NULL to NULL.
const toggleSQL = `UPDATE "tasks" SET "updated_at" = $3, "completed" = NOT "completed", ` +
	`"completed_at" = CASE WHEN "completed" THEN CAST(NULL AS TIMESTAMPTZ) ELSE $3 END ` +
	`WHERE "id" = $1 AND "user_id" = $2 RETURNING ` + taskColumns

func (s *store) toggle(ctx context.Context, userID string, id int64, now time.Time) (Task, error) {
	t, ok, err := s.queryTask(ctx, toggleSQL, id, userID, now)
	switch {
	case err != nil:
		return Task{}, fmt.Errorf("toggle task: %w", err)
	case !ok:
		return Task{}, ErrTaskNotFound
	}
	return t, nil
}

// queryTask runs a statement that returns at most one task; ok is false
// when it returned none.
func (s *store) queryTask(ctx context.Context, query string, args ...any) (t Task, ok bool, err error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Task{}, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return Task{}, false, rows.Err()
	}
	if t, err = scanTask(rows); err != nil {
		return Task{}, false, err
	}
	return t, true, rows.Close()
}

// patch applies a validated PATCH in one statement, UPDATE … RETURNING,
// the row lock held by the UPDATE itself; see patchSQL. ok is false when no
// row matched: the task does not exist, or it changed and now's clock has
// not passed its updated_at, which the caller resolves under a lock.
func (s *store) patch(ctx context.Context, userID string, id int64, in UpdateInput, now time.Time) (Task, bool, error) {
	query, args := patchSQL(in, id, userID, now)
	t, ok, err := s.queryTask(ctx, query, args...)
	if err != nil {
		return Task{}, false, fmt.Errorf("update task: %w", err)
	}
	return t, ok, nil
}

// patchSQL is the statement of a PATCH that sets the fields in sets and
// leaves the others alone, with the rules of applyUpdate spelled in SQL
// that PostgreSQL and SQLite both accept (IS DISTINCT FROM since SQLite
// 3.39; SET's right-hand sides read the old row in both):
//
//   - completing keeps an existing completed_at, else stamps $3 (now);
//     reopening clears it;
//   - updated_at becomes $3 only when some set column is distinct from its
//     new value, so a PATCH that changes nothing moves neither updated_at
//     nor the ETag;
//   - a change applies only when $3 is after the stored updated_at, so every
//     write gets a later updated_at and a new ETag: otherwise no row is
//     returned and the caller falls back to the locked path, which writes
//     updated_at + 1 µs (writeTime). On SQLite the comparison is of text,
//     which orders as time because every timestamp is written by the driver
//     in one UTC layout, as the keyset pages rely on too.
//
// Parameters: $1 id, $2 user_id, $3 now, then the new values. Every one
// meets a column, so PostgreSQL infers its type from that column.
func patchSQL(in UpdateInput, id int64, userID string, now time.Time) (string, []any) {
	args := []any{id, userID, now}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var set, changed []string
	assign := func(col, p string) {
		set = append(set, col+" = "+p)
		changed = append(changed, col+" IS DISTINCT FROM "+p)
	}
	if in.Title.Set {
		assign(`"title"`, param(in.Title.Value))
	}
	if in.Description.Set {
		var d any // NULL
		if !in.Description.Null {
			d = in.Description.Value
		}
		assign(`"description"`, param(d))
	}
	if in.Completed.Present() {
		assign(`"completed"`, param(in.Completed.Value))
		if in.Completed.Value {
			set = append(set, `"completed_at" = COALESCE("completed_at", $3)`)
		} else {
			set = append(set, `"completed_at" = NULL`)
		}
	}
	anyChange := strings.Join(changed, " OR ")
	query := `UPDATE "tasks" SET ` + strings.Join(set, ", ") +
		`, "updated_at" = CASE WHEN ` + anyChange + ` THEN $3 ELSE "updated_at" END` +
		` WHERE "id" = $1 AND "user_id" = $2 AND ("updated_at" < $3 OR NOT (` + anyChange + `))` +
		` RETURNING ` + taskColumns
	return query, args
}

func scanTask(rows *stdsql.Rows) (Task, error) {
	var (
		t           Task
		desc        stdsql.NullString
		completedAt stdsql.NullTime
	)
	if err := rows.Scan(&t.ID, &t.UserID, &t.Title, &desc, &t.Completed, &t.CreatedAt, &t.UpdatedAt, &completedAt); err != nil {
		return Task{}, fmt.Errorf("scan task: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	if desc.Valid {
		t.Description = &desc.String
	}
	if completedAt.Valid {
		ct := completedAt.Time.UTC()
		t.CompletedAt = &ct
	}
	return t, nil
}

func (s *store) delete(ctx context.Context, userID string, id int64) error {
	n, err := s.db.Task.Delete().Where(task.ID(id), task.UserID(userID)).Exec(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("delete task: %w", err)
	case n == 0:
		return ErrTaskNotFound
	}
	return nil
}

// lockRow makes the SELECT of a mutation lock its row on PostgreSQL. SQLite
// has no row locks and needs none: the DSN's _txlock=immediate makes every
// transaction take the database's write lock at BEGIN.
func lockRow(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// mutate runs fn on the task under its row lock and applies what fn decides
// in the same transaction, so that a check fn makes (If-Match) holds for
// the write. Round trips: BEGIN, SELECT … FOR UPDATE, the write if any, COMMIT.
func (s *store) mutate(ctx context.Context, userID string, id int64, fn mutateFunc) (Task, error) {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return Task{}, fmt.Errorf("begin: %w", err)
	}
	next, err := mutateTx(ctx, tx, userID, id, fn)
	if err != nil {
		_ = tx.Rollback()
		return Task{}, err
	}
	if err := tx.Commit(); err != nil {
		return Task{}, fmt.Errorf("commit: %w", err)
	}
	return next, nil
}

func mutateTx(ctx context.Context, tx *ent.Tx, userID string, id int64, fn mutateFunc) (Task, error) {
	q := tx.Task.Query().Where(task.ID(id), task.UserID(userID))
	q.Modify(lockRow)
	row, err := q.Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return Task{}, ErrTaskNotFound
	case err != nil:
		return Task{}, fmt.Errorf("lock task: %w", err)
	}
	cur := toTask(row)
	next, act, err := fn(cur)
	if err != nil {
		return Task{}, err
	}
	switch act {
	case actWrite:
		u := tx.Task.Update().Where(task.ID(id), task.UserID(userID)).
			SetTitle(next.Title).
			SetCompleted(next.Completed).
			SetUpdatedAt(next.UpdatedAt)
		if next.Description == nil {
			u.ClearDescription()
		} else {
			u.SetDescription(*next.Description)
		}
		if next.CompletedAt == nil {
			u.ClearCompletedAt()
		} else {
			u.SetCompletedAt(*next.CompletedAt)
		}
		if _, err := u.Save(ctx); err != nil {
			return Task{}, fmt.Errorf("update task: %w", err)
		}
	case actDelete:
		if err := tx.Task.DeleteOneID(id).Exec(ctx); err != nil {
			return Task{}, fmt.Errorf("delete task: %w", err)
		}
	}
	return next, nil
}

// keyRecord is the remembered first response to an Idempotency-Key.
type keyRecord struct {
	UserID      string
	Key         string
	RequestHash string
	StatusCode  int
	Body        []byte
	Location    string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// claimKeySQL records a key with its response unless a live record holds
// it; an expired record is replaced in place. It returns a row only when
// this request now owns the key. A concurrent first use of the same key
// makes it wait on the unique index until that transaction ends.
const claimKeySQL = `INSERT INTO "idempotency_keys" ("user_id", "key", "request_hash", "task_id", "status_code", "response_body", "location", "created_at", "expires_at") ` +
	`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ` +
	`ON CONFLICT ("user_id", "key") DO UPDATE SET "request_hash" = excluded."request_hash", "task_id" = excluded."task_id", ` +
	`"status_code" = excluded."status_code", "response_body" = excluded."response_body", "location" = excluded."location", ` +
	`"created_at" = excluded."created_at", "expires_at" = excluded."expires_at" ` +
	`WHERE "idempotency_keys"."expires_at" <= $8 RETURNING "id"`

// errKeyTaken reports that a live record holds the key.
var errKeyTaken = errors.New("idempotency key taken")

// createWithKey inserts a task and claims its key in one transaction:
// BEGIN, INSERT task, INSERT key, COMMIT. When the key is taken the task is
// rolled back and errKeyTaken returned. render makes the response to
// remember from the new task; wait bounds how long the claim may wait for
// another request holding the key (a timeout is ErrIdempotencyInProgress).
func (s *store) createWithKey(ctx context.Context, in CreateInput, rec keyRecord, wait time.Duration, render func(Task) ([]byte, string, error)) (Task, []byte, string, error) {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return Task{}, nil, "", fmt.Errorf("begin: %w", err)
	}
	t, body, loc, err := s.createWithKeyTx(ctx, tx, in, rec, wait, render)
	if err != nil {
		_ = tx.Rollback()
		return Task{}, nil, "", err
	}
	if err := tx.Commit(); err != nil {
		return Task{}, nil, "", fmt.Errorf("commit: %w", err)
	}
	return t, body, loc, nil
}

func (s *store) createWithKeyTx(ctx context.Context, tx *ent.Tx, in CreateInput, rec keyRecord, wait time.Duration, render func(Task) ([]byte, string, error)) (Task, []byte, string, error) {
	t, err := s.create(ctx, tx.Client(), rec.UserID, in, rec.CreatedAt)
	if err != nil {
		return Task{}, nil, "", err
	}
	body, loc, err := render(t)
	if err != nil {
		return Task{}, nil, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	rows, err := tx.QueryContext(wctx, claimKeySQL, rec.UserID, rec.Key, rec.RequestHash, t.ID,
		rec.StatusCode, string(body), loc, rec.CreatedAt, rec.ExpiresAt)
	if err != nil {
		if ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
			return Task{}, nil, "", ErrIdempotencyInProgress.Wrap(err)
		}
		return Task{}, nil, "", fmt.Errorf("claim idempotency key: %w", err)
	}
	defer rows.Close()
	owned := rows.Next()
	if err := rows.Err(); err != nil {
		return Task{}, nil, "", fmt.Errorf("claim idempotency key: %w", err)
	}
	if !owned {
		return Task{}, nil, "", errKeyTaken
	}
	if err := rows.Close(); err != nil {
		return Task{}, nil, "", fmt.Errorf("claim idempotency key: %w", err)
	}
	return t, body, loc, nil
}

// liveKey returns the unexpired record of a key, or ok false.
func (s *store) liveKey(ctx context.Context, userID, key string, now time.Time) (keyRecord, bool, error) {
	k, err := s.db.IdempotencyKey.Query().
		Where(idempotencykey.UserID(userID), idempotencykey.Key(key), idempotencykey.ExpiresAtGT(now)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return keyRecord{}, false, nil
	case err != nil:
		return keyRecord{}, false, fmt.Errorf("select idempotency key: %w", err)
	}
	return keyRecord{
		UserID: k.UserID, Key: k.Key, RequestHash: k.RequestHash, StatusCode: k.StatusCode,
		Body: []byte(k.ResponseBody), Location: k.Location, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
	}, true, nil
}

// purgeSQL deletes expired keys in bounded batches, so that a purge never
// holds locks for long.
const purgeSQL = `DELETE FROM "idempotency_keys" WHERE "id" IN (SELECT "id" FROM "idempotency_keys" WHERE "expires_at" <= $1 LIMIT 1000)`

func (s *store) purgeKeys(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, purgeSQL, now)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return n, nil
}
