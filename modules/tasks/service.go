package tasks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"todo/platform/apperr"
)

const (
	// keyWait bounds how long a repeated Idempotency-Key waits for the
	// first request's transaction before answering 409.
	keyWait = 5 * time.Second
	// purgeEvery spaces the opportunistic purges of expired keys.
	purgeEvery = time.Minute
	// purgeUsers bounds one purge of expired tombstones: at most this many
	// users' (1,000 tombstones each, in a transaction per user).
	purgeUsers = 100
)

// service holds the rules of tasks: validation order, completion times,
// ETags and preconditions, cursors and idempotent creation.
type service struct {
	store        *store
	cursors      cursorCodec
	syncTokens   syncCodec
	clock        func() time.Time
	log          *slog.Logger
	keyTTL       time.Duration
	keyWait      time.Duration
	tombstoneTTL time.Duration
	purgedAt     atomic.Int64 // unix nanoseconds of the last purge of keys
}

// now is the service's clock: UTC, microseconds, as both databases store it.
func (s *service) now() time.Time {
	return s.clock().UTC().Truncate(time.Microsecond)
}

// Get returns one of the user's tasks.
func (s *service) Get(ctx context.Context, userID string, id int64) (Task, error) {
	return s.store.get(ctx, userID, id)
}

// Position decodes the cursor of a list query, if any: a cursor that was not
// issued for this user and status is a 400.
func (s *service) Position(userID string, q listQuery) (*position, error) {
	if !q.HasCursor {
		return nil, nil
	}
	p, err := s.cursors.decode(q.Cursor, userID, q.Status)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// List returns a page of at most limit tasks after a position.
func (s *service) List(ctx context.Context, userID string, st Status, after *position, limit int) (Page, error) {
	// One row more than the page tells whether another page follows.
	rows, err := s.store.list(ctx, userID, st, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	if len(rows) <= limit {
		return Page{Items: rows}, nil
	}
	rows = rows[:limit]
	last := rows[limit-1]
	p := position{At: last.CreatedAt, ID: last.ID}
	if st == StatusCompleted && last.CompletedAt != nil {
		p.At = *last.CompletedAt
	}
	return Page{Items: rows, NextCursor: s.cursors.encode(userID, st, p)}, nil
}

// Stats counts the user's tasks.
func (s *service) Stats(ctx context.Context, userID string) (Stats, error) {
	return s.store.stats(ctx, userID)
}

// Create inserts a task.
func (s *service) Create(ctx context.Context, userID string, in CreateInput) (Task, error) {
	return s.store.create(ctx, userID, in, s.now())
}

// Created is the response to a create with an Idempotency-Key: the first
// response to that key, fresh or replayed.
type Created struct {
	Status   int
	Body     []byte
	Location string
	ETag     string
	Replayed bool
}

// CreateIdempotent creates a task under an Idempotency-Key, or replays the
// first response to the key when the same request was made before and has
// not expired. A different request under a live key is a 422; a key still
// held by a running request after keyWait is a 409. A record whose hash is
// legacyHash (recorded by an earlier version) is the same request too.
func (s *service) CreateIdempotent(ctx context.Context, userID string, in CreateInput, key, requestHash, legacyHash, basePath string) (Created, error) {
	render := func(t Task) ([]byte, string, error) {
		return encodeTask(t), basePath + "/" + strconv.FormatInt(t.ID, 10), nil
	}
	// Two attempts: a record seen taken may expire or be purged before it
	// is read back, and then the key is free again.
	for range 2 {
		now := s.now()
		rec := keyRecord{UserID: userID, Key: key, RequestHash: requestHash, StatusCode: http.StatusCreated,
			CreatedAt: now, ExpiresAt: now.Add(s.keyTTL)}
		_, body, loc, err := s.store.createWithKey(ctx, in, rec, s.keyWait, render)
		switch {
		case err == nil:
			s.maybePurge(ctx, now)
			return Created{Status: http.StatusCreated, Body: body, Location: loc, ETag: etagOfBody(body)}, nil
		case !errors.Is(err, errKeyTaken):
			return Created{}, err
		}
		first, ok, err := s.store.liveKey(ctx, userID, key, now)
		switch {
		case err != nil:
			return Created{}, err
		case !ok:
			continue
		case first.RequestHash != requestHash && first.RequestHash != legacyHash:
			return Created{}, ErrIdempotencyKeyReused
		}
		return replay(first)
	}
	return Created{}, ErrIdempotencyInProgress
}

func replay(rec keyRecord) (Created, error) {
	return Created{Status: rec.StatusCode, Body: rec.Body, Location: rec.Location,
		ETag: etagOfBody(rec.Body), Replayed: true}, nil
}

// maybePurge deletes expired keys at most once per purgeEvery per process;
// the request that wins the turn pays one extra statement.
func (s *service) maybePurge(ctx context.Context, now time.Time) {
	last := s.purgedAt.Load()
	if now.UnixNano()-last < int64(purgeEvery) || !s.purgedAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if n, err := s.store.purgeKeys(ctx, now); err != nil {
		s.log.WarnContext(ctx, "purge idempotency keys", "err", err.Error())
	} else if n > 0 {
		s.log.DebugContext(ctx, "purged idempotency keys", "count", n)
	}
}

// Update applies a PATCH. Existence (404) and If-Match (412) are decided
// before the body's rules (422), under the row lock; a PATCH that changes
// nothing writes nothing, so neither updated_at nor the ETag moves.
//
// The common case, a valid body without If-Match, is one UPDATE after the
// bump; an empty body is a read. The locked path (the bump, SELECT, the
// write) remains for If-Match, for an invalid body (whose 422 must not hide
// a 404), and when the UPDATE matched no row.
func (s *service) Update(ctx context.Context, userID string, id int64, im ifMatch, in UpdateInput) (Task, error) {
	now := s.now()
	if valid, fields := in.validate(); !im.present && len(fields) == 0 {
		if !valid.setsAny() {
			return s.store.get(ctx, userID, id)
		}
		t, ok, err := s.store.patch(ctx, userID, id, valid, now)
		if err != nil || ok {
			return t, err
		}
	}
	return s.store.mutate(ctx, userID, id, now, func(cur Task) (Task, action, error) {
		if !im.matches(etagOf(cur)) {
			return Task{}, actKeep, ErrPreconditionFailed
		}
		valid, fields := in.validate()
		if len(fields) > 0 {
			return Task{}, actKeep, apperr.Validation(fields...)
		}
		next, changed := applyUpdate(cur, valid, now)
		if !changed {
			return cur, actKeep, nil
		}
		return next, actWrite, nil
	})
}

// Toggle flips a task between pending and completed.
func (s *service) Toggle(ctx context.Context, userID string, id int64, im ifMatch) (Task, error) {
	now := s.now()
	if !im.present {
		// No precondition: one UPDATE … RETURNING after the bump; the
		// locked path when it matched no row (a missing task, a user's
		// first write, or a clock not past the task's updated_at).
		t, ok, err := s.store.toggle(ctx, userID, id, now)
		if err != nil || ok {
			return t, err
		}
	}
	return s.store.mutate(ctx, userID, id, now, func(cur Task) (Task, action, error) {
		if !im.matches(etagOf(cur)) {
			return Task{}, actKeep, ErrPreconditionFailed
		}
		next, _ := applyCompleted(cur, !cur.Completed, writeTime(now, cur))
		return next, actWrite, nil
	})
}

// Delete removes a task, leaving a tombstone for the change feed.
func (s *service) Delete(ctx context.Context, userID string, id int64, im ifMatch) error {
	now := s.now()
	if !im.present {
		return s.store.delete(ctx, userID, id, now)
	}
	_, err := s.store.mutate(ctx, userID, id, now, func(cur Task) (Task, action, error) {
		if !im.matches(etagOf(cur)) {
			return Task{}, actKeep, ErrPreconditionFailed
		}
		return cur, actDelete, nil
	})
	return err
}

// applyUpdate returns cur with a validated PATCH applied and whether that
// changed anything.
func applyUpdate(cur Task, in UpdateInput, now time.Time) (Task, bool) {
	at := writeTime(now, cur)
	next := cur
	changed := false
	for _, f := range patchable {
		if !f.own && f.named(&in) {
			f.apply(&next, &in)
			changed = changed || !f.equal(&next, &cur)
		}
	}
	if in.Completed.Present() {
		var completedChanged bool
		next, completedChanged = applyCompleted(next, in.Completed.Value, at)
		changed = changed || completedChanged
	}
	if changed {
		next.UpdatedAt = at
	}
	return next, changed
}

// applyCompleted sets the completion state: becoming completed stamps
// completed_at, becoming pending clears it, and completing a completed task
// keeps its original completed_at.
func applyCompleted(t Task, completed bool, at time.Time) (Task, bool) {
	switch {
	case completed == t.Completed && (completed == (t.CompletedAt != nil)):
		return t, false
	case completed:
		t.Completed = true
		if t.CompletedAt == nil {
			t.CompletedAt = &at
		}
	default:
		t.Completed, t.CompletedAt = false, nil
	}
	t.UpdatedAt = at
	return t, true
}

// writeTime is the updated_at of a write: now, or a microsecond after the
// previous write if the clock has not moved past it, so that every write
// gets a new updated_at and a new ETag.
func writeTime(now time.Time, cur Task) time.Time {
	if !now.After(cur.UpdatedAt) {
		return cur.UpdatedAt.Add(time.Microsecond)
	}
	return now
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// encodeTask is the JSON body of a single-task response, as remembered for
// Idempotency-Key replays; writeTask sends the same bytes.
func encodeTask(t Task) []byte {
	return toTaskResponse(t).AppendJSON(nil)
}

// SyncPosition decodes the since token of a change-feed query, if any: a
// token that was not issued to this user is a 400.
func (s *service) SyncPosition(userID string, q changesQuery) (*syncToken, error) {
	if !q.HasSince {
		return nil, nil
	}
	t, err := s.syncTokens.decode(q.Since, userID)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Changes returns a page of at most limit changes after a sync token: a
// page of a full sync without one, or when it continues a full sync. A
// token older than the tombstone retention is a 410, as is one the feed
// can no longer continue: a tombstone it may need was purged, the user's
// change numbers went back (a restored database), or the token is of an
// earlier account with the same id (deleted, then created again).
//
// A full sync lists the user's tasks newest first (the list's keyset and
// index) and remembers the last change number when it began; once the
// listing is done, the client is owed only the changes after that number,
// so a change made during the listing is sent then, if not already. Tasks
// created during the listing may or may not be listed; either way they
// come again as changes.
func (s *service) Changes(ctx context.Context, userID string, since *syncToken, limit int) (ChangesPage, error) {
	now := s.now()
	if since != nil && now.Sub(since.Issued) > s.tombstoneTTL {
		return ChangesPage{}, ErrSyncTokenExpired
	}
	if since == nil || since.Full {
		return s.fullSync(ctx, userID, since, limit, now)
	}
	return s.incrementalSync(ctx, userID, since, limit, now)
}

func (s *service) fullSync(ctx context.Context, userID string, since *syncToken, limit int, now time.Time) (ChangesPage, error) {
	var after *position
	if since != nil {
		after = &position{At: since.At, ID: since.ID}
	}
	// One row more than the page tells whether the listing goes on.
	tasks, st, err := s.store.fullPage(ctx, userID, after, limit+1)
	if err != nil {
		return ChangesPage{}, err
	}
	floor := st.seq
	if since != nil {
		floor = since.Seq
	}
	if st.seq < floor || since != nil && since.Account != st.account {
		return ChangesPage{}, ErrSyncTokenExpired
	}
	next := syncToken{Issued: now, Seq: floor, Account: st.account}
	page := ChangesPage{}
	if len(tasks) > limit {
		tasks = tasks[:limit]
		last := tasks[limit-1]
		next.Full, next.At, next.ID = true, last.CreatedAt, last.ID
		page.HasMore = true
	} else {
		page.HasMore = st.seq > floor
	}
	page.Changes = make([]Change, len(tasks))
	for i, t := range tasks {
		page.Changes[i] = Change{Task: t}
	}
	page.NextToken = s.syncTokens.encode(userID, next)
	return page, nil
}

func (s *service) incrementalSync(ctx context.Context, userID string, since *syncToken, limit int, now time.Time) (ChangesPage, error) {
	after := since.Seq
	rows, st, err := s.store.changesAfter(ctx, userID, after, limit+1)
	if err != nil {
		return ChangesPage{}, err
	}
	if st.purged > after || st.seq < after || st.account != since.Account {
		return ChangesPage{}, ErrSyncTokenExpired
	}
	next := syncToken{Issued: now, Seq: st.seq, Account: st.account}
	page := ChangesPage{}
	if len(rows) > limit {
		rows = rows[:limit]
		next.Seq, page.HasMore = rows[limit-1].seq, true
	}
	page.Changes = make([]Change, len(rows))
	for i, r := range rows {
		if r.kind == kindDeleted {
			page.Changes[i] = Change{Deleted: true, Task: Task{ID: r.task.ID}, DeletedAt: r.task.UpdatedAt}
		} else {
			page.Changes[i] = Change{Task: r.task}
		}
	}
	page.NextToken = s.syncTokens.encode(userID, next)
	return page, nil
}

// PurgeTombstones deletes the tombstones older than the retention window,
// at most purgeUsers users' per call, and returns how many it deleted. The
// module's background job runs it every minute.
func (s *service) PurgeTombstones(ctx context.Context) (int64, error) {
	return s.store.purgeTombstones(ctx, s.now().Add(-s.tombstoneTTL), purgeUsers)
}
