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
	"entgo.io/ent/dialect/sql/sqlgraph"

	"todo/ent"
	"todo/ent/idempotencykey"
	"todo/ent/task"
	"todo/platform/database"
)

// store is the module's only door to the database. The few statements Ent
// cannot express in one round trip (UPDATE … RETURNING, the idempotency
// upsert, the stats aggregate) are written once in SQL that PostgreSQL and
// SQLite both accept: $n placeholders, RETURNING, ON CONFLICT.
//
// Every write to a user's tasks is a transaction that first takes the
// user's next change number from their task_counters row (bump), holding
// that row's lock to commit: a user's writes are serialised, so their
// change numbers commit in order, which the change feed relies on (see
// store_changes.go). The same row counts the user's tasks for stats.
type store struct {
	db *ent.Client
	// direct runs the statements outside transactions: reads and the
	// one-statement writes.
	direct   database.QueryFunc
	counters counterSQL
	gate     *userGate // a user's writes queue here, not in connections
	// oneStatement: the common writes run as one statement each
	// (PostgreSQL; see createOneSQL).
	oneStatement bool
}

func newStore(db *ent.Client, dia string, direct database.QueryFunc) *store {
	if direct == nil {
		direct = database.Via(db)
	}
	return &store{db: db, direct: direct, counters: newCounterSQL(dia), gate: newUserGate(), oneStatement: dia == dialect.Postgres}
}

// inTx runs statements in tx.
func inTx(tx *ent.Tx) database.QueryFunc { return database.Via(tx) }

// action is what a mutation decides to do with the row it read.
type action uint8

const (
	actKeep action = iota
	actWrite
	actDelete
)

// mutateFunc decides, from the current row, what a mutation does.
type mutateFunc func(cur Task) (next Task, act action, err error)

// selectTasks reads a user's tasks; the queries below add to its WHERE.
var selectTasks = `SELECT ` + taskColumns + ` FROM "tasks" WHERE "user_id" = $1`

var getSQL = selectTasks + ` AND "id" = $2`

func (s *store) get(ctx context.Context, userID string, id int64) (Task, error) {
	t, ok, err := queryTask(ctx, s.direct, getSQL, userID, id)
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
	rows, err := s.direct(ctx, listSQL(st, after != nil, n), args...)
	if err != nil {
		return nil, fmt.Errorf("select tasks: %w", err)
	}
	defer rows.Close()
	out := make([]Task, 0, n)
	sc := newTaskScanner(nil)
	for rows.Next() {
		t, err := sc.scan(rows)
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

// statsSQL reads the user's counts from their counter row. A user whose
// row does not exist yet (no write since the change feed was added) is
// counted instead, in the same statement: the NOT EXISTS is evaluated once,
// so with a row the aggregate reads no task and yields a (0, 0) that the
// first column tells apart.
const statsSQL = `SELECT 0, "total", "completed" FROM "task_counters" WHERE "user_id" = $1 ` +
	`UNION ALL SELECT 1, COUNT(*), COALESCE(SUM(CASE WHEN "completed" THEN 1 ELSE 0 END), 0) FROM "tasks" ` +
	`WHERE "user_id" = $1 AND NOT EXISTS (SELECT 1 FROM "task_counters" WHERE "user_id" = $1)`

func (s *store) stats(ctx context.Context, userID string) (Stats, error) {
	rows, err := s.direct(ctx, statsSQL, userID)
	if err != nil {
		return Stats{}, fmt.Errorf("count tasks: %w", err)
	}
	defer rows.Close()
	var st Stats
	source := -1 // 0: the counter row, 1: the count
	for rows.Next() {
		var src int
		var c Stats
		if err := rows.Scan(&src, &c.Total, &c.Completed); err != nil {
			return Stats{}, fmt.Errorf("scan task counts: %w", err)
		}
		if source < 0 || src < source {
			st, source = c, src
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("count tasks: %w", err)
	}
	st.Pending = st.Total - st.Completed
	return st, nil
}

// counterSQL are the statements on a user's task_counters row that differ
// between the dialects.
type counterSQL struct {
	bump, bumpTask, purged string
}

// newCounterSQL writes the counter statements for a dialect.
//
// bump takes the user's next change number and moves their counts: $2 is
// added to total and $3 to completed. bumpTask is bump for a write to task
// $5 whose effect on completed depends on the task's state: it adds $3 if
// the task is completed and $4 if not, as the statement itself reads the
// task, and returns what it read (null: not found).
//
// On PostgreSQL both first lock the user's row (lockUserSQL), then the
// counter's row. SQLite needs no row locks: every transaction holds the
// write lock from BEGIN (_txlock=immediate), so there the task read is
// always current.
func newCounterSQL(dia string) counterSQL {
	lock := ""
	if dia == dialect.Postgres {
		lock = lockUserSQL
	}
	const set = `UPDATE "task_counters" SET "seq" = "seq" + 1, "total" = "total" + $2, `
	const where = ` WHERE "user_id" = $1`
	const task = `FROM "tasks" WHERE "id" = $5 AND "user_id" = $1`
	return counterSQL{
		bump: set + `"completed" = "completed" + $3` + where + lock + ` RETURNING "seq"`,
		bumpTask: set + `"completed" = "completed" + COALESCE((SELECT CASE WHEN "completed" THEN CAST($3 AS BIGINT) ELSE CAST($4 AS BIGINT) END ` +
			task + `), 0)` + where + lock + ` RETURNING "seq", (SELECT "completed" ` + task + `)`,
		purged: newPurgedSQL(dia),
	}
}

// lockUserSQL makes a statement on a user's counter row first take a FOR
// NO KEY UPDATE lock on the user's row (PostgreSQL only). Deleting the user
// locks that row first and then, through the cascades, the user's tasks,
// counter and tombstones, in an order of its own: a write that held any of
// those while it waited for the user's row could deadlock with it. Taking
// the user's row first makes the two queue instead. The mode is exclusive
// among the user's task writes (it conflicts with itself, with FOR SHARE and
// FOR UPDATE, not with the KEY SHARE of a foreign key check): a shared mode
// would let a stream of writes that overlap hold the row without a gap and
// starve the deletion, while exclusive waiters queue in turn.
const lockUserSQL = ` AND EXISTS (SELECT 1 FROM "users" WHERE "id" = $1 FOR NO KEY UPDATE)`

// lockUser is lockUserSQL for the user id in parameter param.
func lockUser(param string) string { return strings.ReplaceAll(lockUserSQL, "$1", param) }

// One statement per write (PostgreSQL). The common writes, a create, a
// PATCH of fields other than completed, a toggle and a delete, all without
// If-Match, need no decision between their statements: on PostgreSQL each
// runs as one statement whose first part, a CTE, takes the user's row lock,
// then the counter row, and yields the change number, and whose next part
// is the write, which takes its change number from that CTE and so runs
// only once it has its locks (a create and a PATCH bump the counter there,
// bumpCTE; a toggle and a delete, whose counts depend on what they find,
// move it after the write, nextSeqCTE). A statement is its own transaction:
// the locks are held to its commit, as in write's transaction, and the
// change feed's ordering holds the same way. One round trip instead of
// four or five (BEGIN, the bump, the write and a tombstone, COMMIT).
//
// When the statement returns no row, nothing was written, or (a PATCH whose
// task changed under it) only a change number was taken, a gap the feed
// allows; the caller then takes write's path, which creates a missing
// counter row, tells a missing user or task apart and resolves a PATCH that
// changes nothing. SQLite keeps write's transaction: its writers hold the
// database's lock from BEGIN, and a round trip there is a function call.

// bumpCTE is the bump of a one-statement write for the user in parameter
// userParam, moving total by total (a literal).
func bumpCTE(userParam, total, also string) string {
	return `WITH "c" AS (UPDATE "task_counters" SET "seq" = "seq" + 1, "total" = "total" + ` + total +
		` WHERE "user_id" = ` + userParam + also + lockUser(userParam) + ` RETURNING "seq") `
}

// createOneSQL inserts a task with the next change number: $1 is the user
// id for the bump, then the parameters of insertSQL but the change number.
var createOneSQL = func() string {
	cols, params := insertColumns(2)
	return bumpCTE("$1", "1", "") + `INSERT INTO "tasks" (` + cols + `, "` + task.FieldChangeSeq + `") SELECT ` + params +
		`, "c"."seq" FROM "c" RETURNING ` + taskColumns
}()

// adjustSQL corrects a user's counts within a write that holds the row.
const adjustSQL = `UPDATE "task_counters" SET "total" = "total" + $2, "completed" = "completed" + $3 WHERE "user_id" = $1`

// initCounterSQL creates a user's counter row from their tasks: for a new
// user, for one whose tasks predate the change feed, and for one whose row
// was lost. Its number is the highest change number left, the tombstones'
// included, so that none is handed out twice; purged_seq is set to it too,
// as a lost row's purges are unknown: a sync token from before it is
// answered 410 (a user with no change yet has 0 for both, and no token
// is refused). It inserts nothing when the row exists or the user does not.
const initCounterSQL = `INSERT INTO "task_counters" ("user_id", "seq", "total", "completed", "purged_seq") ` +
	`SELECT "u"."id", ` + lastChangeSQL + `, COUNT("t"."id"), COALESCE(SUM(CASE WHEN "t"."completed" THEN 1 ELSE 0 END), 0), ` + lastChangeSQL + ` ` +
	`FROM "users" AS "u" LEFT JOIN "tasks" AS "t" ON "t"."user_id" = "u"."id" WHERE "u"."id" = $1 GROUP BY "u"."id" ` +
	`ON CONFLICT ("user_id") DO NOTHING`

// lastChangeSQL is user $1's highest change number in tasks and
// tombstones, 0 when there is none.
const lastChangeSQL = `COALESCE((SELECT MAX("n") FROM (SELECT "change_seq" AS "n" FROM "tasks" WHERE "user_id" = $1 ` +
	`UNION ALL SELECT "change_seq" FROM "task_tombstones" WHERE "user_id" = $1) AS "c"), 0)`

// bump is how a write moves the user's counter: it always takes the next
// change number; total moves by total; completed by ifCompleted or
// ifPending, depending on whether task taskID is completed when the bump
// reads it (by neither when taskID is 0 or the task is not found).
type bump struct {
	total                  int64
	taskID                 int64
	ifCompleted, ifPending int64
}

// change is what a write knows once it holds the user's counter row.
type change struct {
	seq int64 // the write's change number
	// was is the completion state of the bump's task as the bump read it
	// (nil: not asked, or not found), and applied what the bump added to
	// completed because of it. On PostgreSQL the read comes from the
	// bump's snapshot, which may predate a write the bump waited for, so a
	// write must check it against what it finds under the lock.
	was     *bool
	applied int64
}

// errUserGone reports a write for a user who no longer exists.
var errUserGone = errors.New("user gone")

// write runs one write to a user's tasks in a transaction that starts with
// the bump, so that fn holds the user's counter row and its change number.
// fn returns whether to commit; false rolls everything back, the bump
// included, and is no error. A user without a counter row gets one, and
// the write is retried; errUserGone means the user does not exist.
// Round trips: BEGIN, the bump, fn's, COMMIT. The user's other writes in
// this process wait at the gate meanwhile, holding no connection.
func (s *store) write(ctx context.Context, userID string, b bump, fn func(tx *ent.Tx, c change) (bool, error)) error {
	leave, err := s.gate.enter(ctx, userID)
	if err != nil {
		return fmt.Errorf("wait for the user's earlier writes: %w", err)
	}
	defer leave()
	for first := true; ; first = false {
		tx, err := s.db.Tx(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		c, ok, err := s.bump(ctx, tx, userID, b)
		commit := false
		if err == nil && ok {
			commit, err = fn(tx, c)
		}
		if err == nil && commit {
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			return nil
		}
		_ = tx.Rollback()
		if err != nil || ok {
			return err
		}
		if !first {
			return errUserGone
		}
		if err := s.initCounter(ctx, userID); err != nil {
			return err
		}
	}
}

// writeOne runs a one-statement write (see "One statement per write") at
// the user's turn of the gate.
func (s *store) writeOne(ctx context.Context, userID string, run func() (Task, bool, error)) (Task, bool, error) {
	leave, err := s.gate.enter(ctx, userID)
	if err != nil {
		return Task{}, false, fmt.Errorf("wait for the user's earlier writes: %w", err)
	}
	defer leave()
	return run()
}

// bump runs the counter statement of b; ok is false when the user has no
// counter row (or, on PostgreSQL, no longer exists).
func (s *store) bump(ctx context.Context, tx *ent.Tx, userID string, b bump) (c change, ok bool, err error) {
	var rows *stdsql.Rows
	if b.taskID == 0 {
		rows, err = tx.QueryContext(ctx, s.counters.bump, userID, b.total, int64(0))
	} else {
		rows, err = tx.QueryContext(ctx, s.counters.bumpTask, userID, b.total, b.ifCompleted, b.ifPending, b.taskID)
	}
	if err != nil {
		return change{}, false, fmt.Errorf("bump task counter: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return change{}, false, rows.Err()
	}
	var was stdsql.NullBool
	dest := []any{&c.seq}
	if b.taskID != 0 {
		dest = append(dest, &was)
	}
	if err := rows.Scan(dest...); err != nil {
		return change{}, false, fmt.Errorf("scan task counter: %w", err)
	}
	if was.Valid {
		c.was, c.applied = &was.Bool, b.ifPending
		if was.Bool {
			c.applied = b.ifCompleted
		}
	}
	return c, true, rows.Close()
}

// adjust moves the user's counts within a write; nothing when both are 0.
func (s *store) adjust(ctx context.Context, tx *ent.Tx, userID string, total, completed int64) error {
	if total == 0 && completed == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, adjustSQL, userID, total, completed); err != nil {
		return fmt.Errorf("adjust task counter: %w", err)
	}
	return nil
}

// initCounter creates the user's counter row if the user exists and has
// none, in a statement of its own.
func (s *store) initCounter(ctx context.Context, userID string) error {
	_, err := s.db.ExecContext(ctx, initCounterSQL, userID)
	switch {
	case sqlgraph.IsForeignKeyConstraintError(err): // the user was deleted meanwhile
		return errUserGone
	case err != nil:
		return fmt.Errorf("create task counter: %w", err)
	}
	return nil
}

// delta is +1, -1 or 0: how completed moves from was to is.
func delta(was, is bool) int64 {
	switch {
	case is && !was:
		return 1
	case was && !is:
		return -1
	}
	return 0
}

// A toggle and a delete change the counts by the task's state as they find
// it under the locks, which only the write itself tells (its RETURNING).
// Their statements therefore take the change number in a first CTE, "s",
// that locks the user's row and then the counter row (FOR UPDATE, which
// reads the row's latest version) and returns the next number; the write
// takes it from "s"; and a last CTE, "c", sets the counter's number and
// moves its counts by what the write returned. PostgreSQL runs "s" before
// the write and the write before "c", as each reads the one before it, and
// "c" updates the row "s" locked. Parameters: $1 id, $2 user_id, $3 now.
var nextSeqCTE = `WITH "s" AS (SELECT "seq" + 1 AS "seq" FROM "task_counters" WHERE "user_id" = $2` +
	lockUser("$2") + ` FOR UPDATE), `

// toggleOneSQL flips a task in one statement (PostgreSQL), as toggleSQL.
var toggleOneSQL = nextSeqCTE +
	`"t" AS (UPDATE "tasks" SET "updated_at" = $3, "completed" = NOT "completed", ` +
	`"completed_at" = CASE WHEN "completed" THEN CAST(NULL AS TIMESTAMPTZ) ELSE $3 END, "change_seq" = "s"."seq" ` +
	`FROM "s" WHERE "id" = $1 AND "user_id" = $2 AND "updated_at" < $3 RETURNING ` + taskColumns + `), ` +
	`"c" AS (UPDATE "task_counters" SET "seq" = "s"."seq", "completed" = "task_counters"."completed" + CASE WHEN "t"."completed" THEN 1 ELSE -1 END ` +
	`FROM "s", "t" WHERE "task_counters"."user_id" = $2) ` +
	`SELECT ` + taskColumns + ` FROM "t"`

// deleteOneSQL deletes a task and writes its tombstone in one statement
// (PostgreSQL), as deleteSQL and tombstoneSQL; it returns whether the task
// was completed.
var deleteOneSQL = nextSeqCTE +
	`"d" AS (DELETE FROM "tasks" USING "s" WHERE "tasks"."id" = $1 AND "tasks"."user_id" = $2 ` +
	`RETURNING "tasks"."id", "tasks"."completed", "s"."seq"), ` +
	`"b" AS (INSERT INTO "task_tombstones" ("id", "user_id", "change_seq", "deleted_at") SELECT "d"."id", $2, "d"."seq", $3 FROM "d"), ` +
	`"c" AS (UPDATE "task_counters" SET "seq" = "d"."seq", "total" = "task_counters"."total" - 1, ` +
	`"completed" = "task_counters"."completed" - CASE WHEN "d"."completed" THEN 1 ELSE 0 END ` +
	`FROM "d" WHERE "task_counters"."user_id" = $2) ` +
	`SELECT "completed" FROM "d"`

func (s *store) create(ctx context.Context, userID string, in CreateInput, now time.Time) (Task, error) {
	if s.oneStatement {
		t, ok, err := s.writeOne(ctx, userID, func() (Task, bool, error) {
			t := in.task(userID, now)
			args := append([]any{userID}, insertArgs(&t, 0)...)
			return queryTask(ctx, s.direct, createOneSQL, args[:len(args)-1]...)
		})
		switch {
		case sqlgraph.IsForeignKeyConstraintError(err): // the user was deleted after their token was checked
			return Task{}, ErrAccountGone.Wrap(err)
		case err != nil:
			return Task{}, fmt.Errorf("insert task: %w", err)
		case ok:
			return t, nil
		}
	}
	var t Task
	err := s.write(ctx, userID, bump{total: 1}, func(tx *ent.Tx, c change) (bool, error) {
		var err error
		t, err = insertTask(ctx, tx, userID, in, now, c.seq)
		return err == nil, err
	})
	if errors.Is(err, errUserGone) {
		return Task{}, ErrAccountGone.Wrap(err)
	}
	return t, err
}

func insertTask(ctx context.Context, tx *ent.Tx, userID string, in CreateInput, now time.Time, seq int64) (Task, error) {
	t := in.task(userID, now)
	t, ok, err := queryTask(ctx, inTx(tx), insertSQL, insertArgs(&t, seq)...)
	switch {
	case sqlgraph.IsForeignKeyConstraintError(err): // the user was deleted after their token was checked
		return Task{}, ErrAccountGone.Wrap(err)
	case err != nil:
		return Task{}, fmt.Errorf("insert task: %w", err)
	case !ok:
		return Task{}, errors.New("insert task: no row returned")
	}
	return t, nil
}

// toggleSQL flips a task, its row locked by the UPDATE itself. Right-hand
// sides read the old row. The typed NULL lets PostgreSQL deduce one type for
// $3 in both places (a bare NULL would make the CASE text); SQLite casts
// NULL to NULL. $4 is the write's change number. Only a task whose
// updated_at is before $3 is flipped (as patchSQL), so that updated_at never
// goes back and two toggles never give back an earlier ETag; otherwise no
// row, and the caller takes the locked path (writeTime).
var toggleSQL = `UPDATE "tasks" SET "updated_at" = $3, "completed" = NOT "completed", ` +
	`"completed_at" = CASE WHEN "completed" THEN CAST(NULL AS TIMESTAMPTZ) ELSE $3 END, "change_seq" = $4 ` +
	`WHERE "id" = $1 AND "user_id" = $2 AND "updated_at" < $3 RETURNING ` + taskColumns

// toggle flips a task: BEGIN, the bump (which also reads the task's state
// and counts the flip by it), the UPDATE, COMMIT; a fifth statement corrects
// the count in the rare case the bump read a state older than the one the
// UPDATE flipped. On PostgreSQL it is one statement (toggleOneSQL). ok is
// false when no row matched: the task does not exist, the user has no
// counter row yet, or now's clock has not passed the task's updated_at
// (both statements flip only a task older than now, so that every write
// gets a later updated_at and a new ETag); the caller then takes the locked
// path (mutate), which resolves each.
func (s *store) toggle(ctx context.Context, userID string, id int64, now time.Time) (Task, bool, error) {
	if s.oneStatement {
		t, ok, err := s.writeOne(ctx, userID, func() (Task, bool, error) { return queryTask(ctx, s.direct, toggleOneSQL, id, userID, now) })
		if err != nil {
			return Task{}, false, fmt.Errorf("toggle task: %w", err)
		}
		return t, ok, nil
	}
	var t Task
	var ok bool
	err := s.write(ctx, userID, bump{taskID: id, ifCompleted: -1, ifPending: 1}, func(tx *ent.Tx, c change) (bool, error) {
		var err error
		t, ok, err = queryTask(ctx, inTx(tx), toggleSQL, id, userID, now, c.seq)
		switch {
		case err != nil:
			return false, fmt.Errorf("toggle task: %w", err)
		case !ok:
			return false, nil
		}
		return true, s.adjust(ctx, tx, userID, 0, delta(!t.Completed, t.Completed)-c.applied)
	})
	if errors.Is(err, errUserGone) {
		return Task{}, false, ErrTaskNotFound
	}
	return t, ok, err
}

// queryTask runs a statement that returns at most one task (and, with
// seq, its change number after it); ok is false when it returned none.
func queryTask(ctx context.Context, q database.QueryFunc, query string, args ...any) (t Task, ok bool, err error) {
	t, _, ok, err = queryTaskSeq(ctx, q, false, query, args...)
	return t, ok, err
}

func queryTaskSeq(ctx context.Context, q database.QueryFunc, withSeq bool, query string, args ...any) (t Task, seq stdsql.NullInt64, ok bool, err error) {
	rows, err := q(ctx, query, args...)
	if err != nil {
		return Task{}, seq, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return Task{}, seq, false, rows.Err()
	}
	var extra []any
	if withSeq {
		extra = append(extra, &seq)
	}
	if t, err = newTaskScanner(nil, extra...).scan(rows); err != nil {
		return Task{}, seq, false, err
	}
	return t, seq, true, rows.Close()
}

// patch applies a validated PATCH: BEGIN, the bump, the UPDATE … RETURNING
// of patchSQL, COMMIT, or ROLLBACK when the PATCH changed nothing. ok is
// false when no row matched: the task does not exist, or it changed and
// now's clock has not passed its updated_at, or (a PATCH of completed) the
// task is no longer in the state the bump counted it by; the caller then
// takes the locked path, which resolves each.
func (s *store) patch(ctx context.Context, userID string, id int64, in UpdateInput, now time.Time) (Task, bool, error) {
	b := bump{}
	if in.Completed.Present() {
		b.taskID = id
		if in.Completed.Value {
			b.ifPending = 1
		} else {
			b.ifCompleted = -1
		}
	}
	if s.oneStatement && !in.Completed.Present() {
		query, args := patchOneSQL(in, id, userID, now)
		t, ok, err := s.writeOne(ctx, userID, func() (Task, bool, error) { return queryTask(ctx, s.direct, query, args...) })
		if err != nil {
			return Task{}, false, fmt.Errorf("update task: %w", err)
		}
		if ok {
			return t, true, nil
		}
	}
	var t Task
	var ok bool
	err := s.write(ctx, userID, b, func(tx *ent.Tx, c change) (bool, error) {
		if in.Completed.Present() && c.was == nil {
			return false, nil // the bump did not see the task: the locked path decides
		}
		query, args := patchSQL(in, id, userID, now, c.seq, c.was)
		var seq stdsql.NullInt64
		var err error
		t, seq, ok, err = queryTaskSeq(ctx, inTx(tx), true, query, args...)
		if err != nil {
			return false, fmt.Errorf("update task: %w", err)
		}
		return ok && seq.Int64 == c.seq, nil
	})
	if errors.Is(err, errUserGone) {
		return Task{}, false, nil
	}
	return t, ok, err
}

// patchSQL is the statement of a PATCH that sets the fields in sets and
// leaves the others alone, with the rules of applyUpdate spelled in SQL
// that PostgreSQL and SQLite both accept (IS DISTINCT FROM since SQLite
// 3.39; SET's right-hand sides read the old row in both):
//
//   - completing keeps an existing completed_at, else stamps $3 (now);
//     reopening clears it;
//   - updated_at becomes $3 and change_seq $4 only when some set column is
//     distinct from its new value, so a PATCH that changes nothing moves
//     neither updated_at nor the ETag, and is no change to sync;
//   - a change applies only when $3 is after the stored updated_at, so every
//     write gets a later updated_at and a new ETag: otherwise no row is
//     returned and the caller falls back to the locked path, which writes
//     updated_at + 1 µs (writeTime). On SQLite the comparison is of text,
//     which orders as time because every timestamp is written by the driver
//     in one UTC layout, as the keyset pages rely on too;
//   - when was is not nil, the row must still be in that completion state
//     (the state the bump counted the PATCH by).
//
// Parameters: $1 id, $2 user_id, $3 now, $4 the change number, then the new
// values. Every one meets a column, so PostgreSQL infers its type from it.
func patchSQL(in UpdateInput, id int64, userID string, now time.Time, seq int64, was *bool) (string, []any) {
	p := newPatchParts(in, id, userID, now, seq)
	where := ` WHERE "id" = $1 AND "user_id" = $2 AND ("updated_at" < $3 OR NOT (` + p.anyChange + `))`
	if was != nil {
		where += ` AND "completed" = ` + p.param(*was)
	}
	query := `UPDATE "tasks" SET ` + p.set +
		`, "updated_at" = CASE WHEN ` + p.anyChange + ` THEN $3 ELSE "updated_at" END` +
		`, "change_seq" = CASE WHEN ` + p.anyChange + ` THEN $4 ELSE "change_seq" END` +
		where + ` RETURNING ` + taskColumns + `, "change_seq"`
	return query, p.args
}

// patchOneSQL is the one-statement PATCH of fields other than completed
// (PostgreSQL): the bump, taken only when the task exists, is older than $3
// and differs in a set field (as the statement's snapshot shows it), then
// the UPDATE under the same conditions (as the row is once locked) with the
// bump's change number. Parameters: $1 id, $2 user_id, $3 now, then the new
// values. No row: see "One statement per write".
func patchOneSQL(in UpdateInput, id int64, userID string, now time.Time) (string, []any) {
	p := newPatchParts(in, id, userID, now, -1)
	where := ` WHERE "id" = $1 AND "user_id" = $2 AND "updated_at" < $3 AND (` + p.anyChange + `)`
	query := bumpCTE("$2", "0", ` AND EXISTS (SELECT 1 FROM "tasks"`+where+`)`) +
		`UPDATE "tasks" SET ` + p.set + `, "updated_at" = $3, "change_seq" = "c"."seq" FROM "c"` +
		where + ` RETURNING ` + taskColumns
	return query, p.args
}

// patchParts are the pieces of a PATCH statement: the parameters ($1 id,
// $2 user_id, $3 now, $4 the change number unless seq < 0, then the new
// values), the SET list of the named fields, and the condition that some
// named field differs from its new value.
type patchParts struct {
	args           []any
	set, anyChange string
}

func newPatchParts(in UpdateInput, id int64, userID string, now time.Time, seq int64) *patchParts {
	p := &patchParts{args: []any{id, userID, now}}
	if seq >= 0 {
		p.args = append(p.args, seq)
	}
	var set, changed []string
	assign := func(col, param string) {
		set = append(set, col+" = "+param)
		changed = append(changed, col+" IS DISTINCT FROM "+param)
	}
	for _, f := range patchable {
		if !f.own && f.named(&in) {
			assign(`"`+f.name+`"`, p.param(f.value(&in)))
		}
	}
	if in.Completed.Present() {
		assign(`"completed"`, p.param(in.Completed.Value))
		if in.Completed.Value {
			set = append(set, `"completed_at" = COALESCE("completed_at", $3)`)
		} else {
			set = append(set, `"completed_at" = NULL`)
		}
	}
	p.set, p.anyChange = strings.Join(set, ", "), strings.Join(changed, " OR ")
	return p
}

// param adds a parameter and returns its placeholder.
func (p *patchParts) param(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// delete removes a task and records its tombstone: BEGIN, the bump (which
// counts the task by its state as it reads it), DELETE … RETURNING, INSERT
// the tombstone, COMMIT; a sixth statement corrects the count in the rare
// case the bump read an older state than the one deleted.
func (s *store) delete(ctx context.Context, userID string, id int64, now time.Time) error {
	if s.oneStatement {
		_, ok, err := s.writeOne(ctx, userID, func() (Task, bool, error) {
			var completed bool
			found, err := queryRow(ctx, s.direct, deleteOneSQL, []any{id, userID, now}, &completed)
			return Task{}, found, err
		})
		switch {
		case err != nil:
			return fmt.Errorf("delete task: %w", err)
		case ok:
			return nil
		}
	}
	err := s.write(ctx, userID, bump{total: -1, taskID: id, ifCompleted: -1}, func(tx *ent.Tx, c change) (bool, error) {
		completed, err := deleteTask(ctx, tx, userID, id, c.seq, now)
		if err != nil {
			return false, err
		}
		return true, s.adjust(ctx, tx, userID, 0, delta(completed, false)-c.applied)
	})
	if errors.Is(err, errUserGone) {
		return ErrTaskNotFound
	}
	return err
}

const (
	deleteSQL    = `DELETE FROM "tasks" WHERE "id" = $1 AND "user_id" = $2 RETURNING "completed"`
	tombstoneSQL = `INSERT INTO "task_tombstones" ("id", "user_id", "change_seq", "deleted_at") VALUES ($1, $2, $3, $4)`
)

// deleteTask deletes a task and writes its tombstone with the write's
// change number; it returns whether the task was completed, or
// ErrTaskNotFound.
func deleteTask(ctx context.Context, tx *ent.Tx, userID string, id, seq int64, now time.Time) (bool, error) {
	rows, err := tx.QueryContext(ctx, deleteSQL, id, userID)
	if err != nil {
		return false, fmt.Errorf("delete task: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("delete task: %w", err)
		}
		return false, ErrTaskNotFound
	}
	var completed bool
	if err := rows.Scan(&completed); err != nil {
		return false, fmt.Errorf("delete task: %w", err)
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("delete task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, tombstoneSQL, id, userID, seq, now); err != nil {
		return false, fmt.Errorf("insert tombstone: %w", err)
	}
	return completed, nil
}

// mutate runs fn on the task and applies what fn decides in the same
// transaction, so that a check fn makes (If-Match) holds for the write: the
// bump's lock on the user's counter row keeps every other write to the
// user's tasks out until COMMIT, so the task read under it is current and
// stays so. Round trips: BEGIN, the bump, SELECT, the write and its
// tombstone if any, the count correction if completion changed, COMMIT;
// or ROLLBACK when fn writes nothing. now stamps a tombstone.
func (s *store) mutate(ctx context.Context, userID string, id int64, now time.Time, fn mutateFunc) (Task, error) {
	var next Task
	err := s.write(ctx, userID, bump{}, func(tx *ent.Tx, c change) (bool, error) {
		cur, ok, err := queryTask(ctx, inTx(tx), getSQL, userID, id)
		switch {
		case err != nil:
			return false, fmt.Errorf("select task: %w", err)
		case !ok:
			return false, ErrTaskNotFound
		}
		var act action
		if next, act, err = fn(cur); err != nil {
			return false, err
		}
		switch act {
		case actWrite:
			if err := updateTask(ctx, tx, next, c.seq); err != nil {
				return false, err
			}
			return true, s.adjust(ctx, tx, userID, 0, delta(cur.Completed, next.Completed))
		case actDelete:
			if _, err := deleteTask(ctx, tx, userID, id, c.seq, now); err != nil {
				return false, err
			}
			return true, s.adjust(ctx, tx, userID, -1, delta(cur.Completed, false))
		}
		return false, nil
	})
	if errors.Is(err, errUserGone) {
		return Task{}, ErrTaskNotFound
	}
	return next, err
}

func updateTask(ctx context.Context, tx *ent.Tx, next Task, seq int64) error {
	if _, err := tx.ExecContext(ctx, updateSQL, updateArgs(&next, seq)...); err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	return nil
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

// createWithKey inserts a task and claims its key in one write: BEGIN, the
// bump, INSERT task, INSERT key, COMMIT. When the key is taken the task is
// rolled back and errKeyTaken returned. render makes the response to
// remember from the new task; wait bounds how long the claim may wait for
// another request holding the key (a timeout is ErrIdempotencyInProgress).
func (s *store) createWithKey(ctx context.Context, in CreateInput, rec keyRecord, wait time.Duration, render func(Task) ([]byte, string, error)) (Task, []byte, string, error) {
	var (
		t    Task
		body []byte
		loc  string
	)
	err := s.write(ctx, rec.UserID, bump{total: 1}, func(tx *ent.Tx, c change) (bool, error) {
		var err error
		t, body, loc, err = createWithKeyTx(ctx, tx, in, rec, c.seq, wait, render)
		return err == nil, err
	})
	if errors.Is(err, errUserGone) {
		return Task{}, nil, "", ErrAccountGone.Wrap(err)
	}
	return t, body, loc, err
}

func createWithKeyTx(ctx context.Context, tx *ent.Tx, in CreateInput, rec keyRecord, seq int64, wait time.Duration, render func(Task) ([]byte, string, error)) (Task, []byte, string, error) {
	t, err := insertTask(ctx, tx, rec.UserID, in, rec.CreatedAt, seq)
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
	n, err := database.ExecCount(ctx, s.db, purgeSQL, now)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return n, nil
}
