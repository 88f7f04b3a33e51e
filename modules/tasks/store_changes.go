package tasks

import (
	"cmp"
	"context"
	stdsql "database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"todo/ent"
	"todo/ent/task"
	"todo/platform/database"
)

// The change feed, and why it never skips a change.
//
// Change numbers. Every write to a user's tasks takes the next number from
// the user's counter row (task_counters.seq) in its transaction, before it
// writes (store.write), and that row stays locked until the transaction
// ends. So a user's writes commit one at a time, in the order of their
// numbers, and a snapshot that shows change N shows every change before
// N: while change N+1 is being written no other write of the user is in
// flight, and N+2 cannot be handed out before N+1 commits (or rolls back,
// leaving a gap nobody waits for). On SQLite every write transaction holds
// the database's write lock from BEGIN, which orders them the same way.
// A task carries the number of its last write (tasks.change_seq; null for
// a task not written since the feed was added), a deleted task its
// tombstone's (task_tombstones.change_seq). Task ids are never handed out
// again, so a task is either live or a tombstone, never both, and appears
// at most once in any read, in its state as of that read.
//
// Incremental sync. A token with number S owes the client every change
// after S. A page reads, in one statement (one snapshot, on both
// databases), the tasks and the tombstones numbered after S, in number
// order, and the counter row. If the page is cut at the limit, the next
// token owes what follows the last change sent; every change up to it was
// visible to the page (above), so none is skipped. If it is not cut, the
// page saw every change up to the counter's number C at that snapshot, and
// the next token is C. A later write has a number above C.
//
// Full sync. The first page reads the counter's number F and the newest
// tasks in the same snapshot; the following pages list the rest in the
// same keyset order as GET /tasks and carry F. A task is sent by the
// listing unless it changed or was deleted during it; either way its
// change is numbered after F. Once the listing is done the token owes
// every change after F, so what the listing missed, or sent in an older
// state, is sent then (has_more says so when the counter has moved past F).
// Tombstones up to F are never needed: those tasks were gone before the
// first page.
//
// Purges. Tombstones are deleted after the retention window; the purge
// first raises the counter's purged_seq to the highest number it deletes,
// in the same transaction. A token that owes changes after S < purged_seq
// may miss a deletion, and is answered 410, as is a token older than the
// window and one whose number is above the counter's (a restored database).
// The 410 for a purged tombstone does not rely on clocks; the one for age
// is the contract's rule for clients.
//
// Accounts. A user deleted and created again with the same id (an external
// account's id is its issuer's sub) starts its change numbers again from 0,
// so a token of the old account would, once the new numbers pass it, skip
// the new account's first changes and keep the old one's tasks. A token
// carries the user's created_at as the feed statement read it, and a page
// whose user row has another one answers 410.

// feedState is the user's counter row as a feed page saw it; zero when the
// user has none yet (no write since the change feed was added).
type feedState struct {
	seq    int64 // the last change number handed out
	purged int64 // the highest change number of a purged tombstone
	// account is the user's created_at in µs; 0 when there is no such
	// user. A user deleted and created again with the same id has a new
	// one, and change numbers that start again from 0.
	account int64
}

// feedKind tells the rows of a feed statement apart.
const (
	kindCounter = 0
	kindTask    = 1
	kindDeleted = 2
)

// counterRowSQL is the feed statement's counter row, in the columns of a
// task row: purged_seq where the id goes, the user's created_at where the
// task's goes, seq where the change number goes. It is read from the
// user's row, so that a user without a counter row (0, 0) still has one.
var counterRowSQL = func() string {
	cols := make([]string, len(taskFields))
	for i, f := range taskFields {
		switch f.column {
		case task.FieldID:
			cols[i] = `COALESCE("c"."purged_seq", 0)`
		case task.FieldCreatedAt:
			cols[i] = `"u"."created_at"`
		default:
			cols[i] = "NULL"
		}
	}
	return `SELECT 0, ` + strings.Join(cols, ", ") + `, COALESCE("c"."seq", 0) ` +
		`FROM "users" AS "u" LEFT JOIN "task_counters" AS "c" ON "c"."user_id" = "u"."id" WHERE "u"."id" = $1`
}()

// tombstoneRowSQL is a tombstone in the columns of a task row: its id, its
// deletion time where updated_at goes and its change number.
var tombstoneRowSQL = func() string {
	cols := make([]string, len(taskFields))
	for i, f := range taskFields {
		switch f.column {
		case task.FieldID:
			cols[i] = `"d"."id"`
		case task.FieldUpdatedAt:
			cols[i] = `"d"."deleted_at"`
		default:
			cols[i] = "NULL"
		}
	}
	return `SELECT 2, ` + strings.Join(cols, ", ") + `, "d"."change_seq"`
}()

// fullPageSQL is a page of a full sync: the user's tasks newest first, as
// GET /tasks lists them (same index, same keyset after ($2, $3)), at most
// n, and the counter row. The tasks come first so that SQLite takes the
// result's column types from them.
func fullPageSQL(after bool, n int) string {
	return `SELECT 1, "t".*, CAST(NULL AS BIGINT) FROM (` + listSQL(StatusAll, after, n) + `) AS "t" UNION ALL ` + counterRowSQL
}

// changesSQL is a page of an incremental sync: the tasks and the tombstones
// whose change number is after $2, each in change order and at most n (the
// page is the first n of the two merged), and the counter row.
func changesSQL(n int) string {
	limit := strconv.Itoa(n)
	return `SELECT 1, "t".* FROM (SELECT ` + taskColumns + `, "change_seq" FROM "tasks" ` +
		`WHERE "user_id" = $1 AND "change_seq" > $2 ORDER BY "change_seq" LIMIT ` + limit + `) AS "t" ` +
		`UNION ALL ` + tombstoneRowSQL + ` FROM ` +
		`(SELECT "id", "deleted_at", "change_seq" FROM "task_tombstones" ` +
		`WHERE "user_id" = $1 AND "change_seq" > $2 ORDER BY "change_seq" LIMIT ` + limit + `) AS "d" ` +
		`UNION ALL ` + counterRowSQL
}

// feedRow is one row of a feed statement.
type feedRow struct {
	kind int
	task Task  // kindTask
	seq  int64 // kindTask (incremental) and kindDeleted: the change number
	// kindDeleted: the task's id is task.ID, the deletion time task.UpdatedAt.
}

// fullPage reads a page of at most n of the user's tasks after a listing
// position, newest first.
func (s *store) fullPage(ctx context.Context, userID string, after *position, n int) ([]Task, feedState, error) {
	args := []any{userID}
	if after != nil {
		args = append(args, after.At, after.ID)
	}
	rows, st, err := s.feed(ctx, true, fullPageSQL(after != nil, n), args...)
	if err != nil {
		return nil, feedState{}, err
	}
	tasks := make([]Task, 0, len(rows))
	for _, r := range rows {
		tasks = append(tasks, r.task)
	}
	return tasks, st, nil
}

// changesAfter reads the changes after change number seq: at most n tasks
// and at most n tombstones, merged in change order.
func (s *store) changesAfter(ctx context.Context, userID string, seq int64, n int) ([]feedRow, feedState, error) {
	return s.feed(ctx, false, changesSQL(n), userID, seq)
}

// feed runs a feed statement and returns its task and tombstone rows in
// the order of the page: newest first for a full sync (which reads no
// tombstones), change order for an incremental one. Each branch of the
// statement is ordered, but a UNION ALL promises no order of its own.
func (s *store) feed(ctx context.Context, full bool, query string, args ...any) ([]feedRow, feedState, error) {
	rows, err := s.direct(ctx, query, args...)
	if err != nil {
		return nil, feedState{}, fmt.Errorf("select changes: %w", err)
	}
	defer rows.Close()
	var (
		out []feedRow
		st  feedState
	)
	sc := newFeedScanner()
	for rows.Next() {
		r, err := sc.scan(rows)
		if err != nil {
			return nil, feedState{}, err
		}
		if r.kind == kindCounter {
			st = feedState{seq: r.seq, purged: r.task.ID, account: r.task.CreatedAt.UnixMicro()}
			continue
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, feedState{}, fmt.Errorf("select changes: %w", err)
	}
	if full {
		slices.SortFunc(out, func(a, b feedRow) int {
			if c := b.task.CreatedAt.Compare(a.task.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(b.task.ID, a.task.ID)
		})
	} else {
		slices.SortFunc(out, func(a, b feedRow) int { return cmp.Compare(a.seq, b.seq) })
	}
	return out, st, nil
}

// feedScanner scans the rows of a feed statement: the kind, a task's
// columns (NULL where a counter or tombstone row has nothing), the change
// number.
type feedScanner struct {
	kind int
	seq  stdsql.NullInt64
	sc   *taskScanner
}

func newFeedScanner() *feedScanner {
	f := &feedScanner{}
	f.sc = newTaskScanner([]any{&f.kind}, &f.seq)
	return f
}

func (f *feedScanner) scan(rows scanner) (feedRow, error) {
	t, err := f.sc.scan(rows)
	if err != nil {
		return feedRow{}, fmt.Errorf("scan change: %w", err)
	}
	return feedRow{kind: f.kind, task: t, seq: f.seq.Int64}, nil
}

// purgeUserSQL finds the user with the oldest tombstone deleted before $1.
const purgeUserSQL = `SELECT "user_id" FROM "task_tombstones" WHERE "deleted_at" < $1 ORDER BY "deleted_at" LIMIT 1`

// purgeSeqSQL is the change number up to which a purge deletes a user's
// expired tombstones: that of the last of the first 1,000 of them, which
// bounds the rows one purge transaction deletes.
const purgeSeqSQL = `SELECT MAX("change_seq") FROM (SELECT "change_seq" FROM "task_tombstones" ` +
	`WHERE "user_id" = $1 AND "deleted_at" < $2 ORDER BY "change_seq" LIMIT 1000) AS "p"`

// purgeDeleteSQL deletes them.
const purgeDeleteSQL = `DELETE FROM "task_tombstones" WHERE "user_id" = $1 AND "change_seq" <= $2 AND "deleted_at" < $3`

// newPurgedSQL writes the statement that raises user $1's purged_seq to $2
// under the counter row's lock, taken as writes take it (newCounterSQL).
func newPurgedSQL(dia string) string {
	lock := ""
	if dia == dialect.Postgres {
		lock = lockUserSQL
	}
	return `UPDATE "task_counters" SET "purged_seq" = CASE WHEN "purged_seq" < $2 THEN $2 ELSE "purged_seq" END ` +
		`WHERE "user_id" = $1` + lock + ` RETURNING "purged_seq"`
}

// purgeTombstones deletes the tombstones deleted before cutoff, oldest
// first, at most 1,000 of one user's per transaction and at most
// maxUsers transactions, and returns how many it deleted. Each
// transaction first raises the user's purged_seq to the highest change
// number it deletes, under the counter row's lock (taken, on PostgreSQL,
// after the user's row's, as writes take them): a sync
// token from before that number may have missed a deletion, and the feed
// answers it 410. Deleting fewer than all expired tombstones is no loss:
// they are kept at least the retention window, not at most.
func (s *store) purgeTombstones(ctx context.Context, cutoff time.Time, maxUsers int) (int64, error) {
	var total int64
	for range maxUsers {
		var userID string
		found, err := queryRow(ctx, s.direct, purgeUserSQL, []any{cutoff}, &userID)
		switch {
		case err != nil:
			return total, fmt.Errorf("find expired tombstones: %w", err)
		case !found:
			return total, nil
		}
		var upTo stdsql.NullInt64
		if _, err := queryRow(ctx, s.direct, purgeSeqSQL, []any{userID, cutoff}, &upTo); err != nil {
			return total, fmt.Errorf("find expired tombstones: %w", err)
		}
		if !upTo.Valid {
			continue // purged meanwhile by another process
		}
		n, err := s.purgeUser(ctx, userID, upTo.Int64, cutoff)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (s *store) purgeUser(ctx context.Context, userID string, upTo int64, cutoff time.Time) (int64, error) {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	n, err := purgeUserTx(ctx, tx, s.counters.purged, userID, upTo, cutoff)
	if err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

func purgeUserTx(ctx context.Context, tx *ent.Tx, purgedSQL, userID string, upTo int64, cutoff time.Time) (int64, error) {
	var purged int64
	found, err := queryRow(ctx, inTx(tx), purgedSQL, []any{userID, upTo}, &purged)
	switch {
	case err != nil:
		return 0, fmt.Errorf("raise purged_seq: %w", err)
	case !found: // the user is being deleted, tombstones and all
		return 0, nil
	}
	n, err := database.ExecCount(ctx, tx, purgeDeleteSQL, userID, upTo, cutoff)
	if err != nil {
		return 0, fmt.Errorf("purge tombstones: %w", err)
	}
	return n, nil
}

// queryRow runs a statement that returns at most one row and scans it into
// dest; found is false when it returned none.
func queryRow(ctx context.Context, q database.QueryFunc, query string, args []any, dest ...any) (found bool, err error) {
	rows, err := q(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, rows.Close()
}
