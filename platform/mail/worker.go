package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"todo/ent"
	"todo/ent/mailoutbox"
)

// Tuning that needs no setting.
const (
	// batchSize is how many mails one claim takes (and one SMTP connection
	// carries): small, so that two workers share a burst.
	batchSize = 10
	// retryBase and retryMax bound the backoff after a failed attempt: it
	// doubles from retryBase up to retryMax, less up to half of it at
	// random, so that mails that failed together do not retry together.
	retryBase = 30 * time.Second
	retryMax  = 30 * time.Minute
	// leasePerTimeout sets a claim's lease to this many SMTP timeouts; no
	// mail is started with less than marginPerTimeout of them left, so a
	// mail is never still being sent when its lease ends and another worker
	// may claim it.
	leasePerTimeout  = 20
	marginPerTimeout = 3
	// recordTimeout bounds writing a batch's outcomes, which goes on after
	// Run's context ends, so that a mail sent before a shutdown is recorded.
	recordTimeout = 10 * time.Second
	// maxErrorLen bounds the last_error kept per mail, in characters.
	maxErrorLen = 1000
)

// Worker drains the outbox: it claims due mail in batches, sends each batch
// outside the claiming transaction, and records each mail sent, to retry,
// or given up. Run one per process; any number may share a PostgreSQL
// database.
type Worker struct {
	db      *ent.Client
	dialect string
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	sender  sender
	lease   time.Duration
	margin  time.Duration
	wake    chan struct{}
	metrics *metrics
}

// NewWorker returns the worker for db (dialect is dialect.Postgres or
// dialect.SQLite) with cfg's sender: SMTP to cfg.SMTPURL, or the log when it
// is empty. now is its clock for due times, leases and backoff.
func NewWorker(db *ent.Client, dialectName string, cfg Config, log *slog.Logger, now func() time.Time) (*Worker, error) {
	if dialectName != dialect.Postgres && dialectName != dialect.SQLite {
		return nil, fmt.Errorf("mail: unsupported dialect %q", dialectName)
	}
	if cfg.Timeout <= 0 || cfg.PollInterval <= 0 || cfg.GiveUpAfter <= 0 {
		return nil, errors.New("mail: Config needs a positive Timeout, PollInterval and GiveUpAfter (config.Load sets them)")
	}
	s, err := newSender(cfg, log)
	if err != nil {
		return nil, err
	}
	lease := leasePerTimeout * cfg.Timeout
	return &Worker{
		db: db, dialect: dialectName, cfg: cfg, log: log, now: now, sender: s,
		lease: lease, margin: marginPerTimeout * cfg.Timeout,
		wake:    make(chan struct{}, 1),
		metrics: newMetrics(db),
	}, nil
}

// Wake has Run look for due mail now rather than at its next poll. Call it
// after committing a transaction that enqueued mail. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends due mail until ctx ends, looking for it at every Wake and every
// PollInterval, and returns nil then. When ctx ends mid-batch the mail in
// flight gets a short grace for the server's answer, then the SMTP
// connection is cut, the mails sent so far are recorded, and the rest of
// the batch is handed back, due at once.
// A database that does not answer is logged and tried again at the next
// poll.
func (w *Worker) Run(ctx context.Context) error {
	w.log.InfoContext(ctx, "mail worker started", "to", w.sender.describe())
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			w.log.InfoContext(ctx, "mail worker stopped")
			return nil
		case <-w.wake:
		case <-poll.C:
		}
		w.drain(ctx)
		poll.Reset(w.cfg.PollInterval)
	}
}

// drain sends batches until one comes back short.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := w.sendBatch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.WarnContext(ctx, "mail outbox", "err", err.Error())
			}
			return
		}
		if n < batchSize {
			return
		}
	}
}

// sendBatch claims up to batchSize due mails, sends them, records each
// outcome, and returns how many it claimed.
func (w *Worker) sendBatch(ctx context.Context) (int, error) {
	now := w.clock()
	leaseEnd := now.Add(w.lease)
	rows, err := w.claim(ctx, now, leaseEnd)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	out := make([]outgoing, len(rows))
	for i, r := range rows {
		secret := ""
		if r.Secret != nil {
			secret = *r.Secret
		}
		out[i] = outgoing{id: r.ID, to: r.ToAddr, subject: r.Subject, attempts: r.Attempts, createdAt: r.CreatedAt,
			body: strings.ReplaceAll(r.Body, SecretMarker, secret), secret: secret}
	}
	startBy := leaseEnd.Add(-w.margin)
	proceed := func() bool { return ctx.Err() == nil && w.clock().Before(startBy) }
	errs := w.sender.send(ctx, out, proceed)
	if ctx.Err() != nil {
		// Stopped mid-batch: a connection cut short by the stop says
		// nothing about the mail; hand it back rather than delay it.
		for i, err := range errs {
			var perm *permanentError
			if err != nil && !errors.As(err, &perm) {
				errs[i] = errNotAttempted
			}
		}
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	var failed error
	for i, m := range out {
		if err := w.record(rctx, m, leaseEnd, errs[i]); err != nil && failed == nil {
			failed = err
		}
	}
	return len(rows), failed
}

// record writes the outcome of one attempt at m.
func (w *Worker) record(ctx context.Context, m outgoing, leaseEnd time.Time, sendErr error) error {
	now := w.clock()
	if sendErr != nil && m.secret != "" && strings.Contains(sendErr.Error(), m.secret) {
		// A server that quotes the mail back must not put the token in
		// the row or the log.
		sendErr = &redactedError{sendErr, strings.ReplaceAll(sendErr.Error(), m.secret, "[secret]")}
	}
	var perm *permanentError
	switch {
	case sendErr == nil:
		w.metrics.outcome("sent")
		w.log.InfoContext(ctx, "mail sent", "mail_id", m.id, "attempts", m.attempts)
		return w.markSent(ctx, m.id, now)
	case errors.Is(sendErr, errNotAttempted):
		return w.release(ctx, m.id, leaseEnd, now)
	case errors.As(sendErr, &perm):
		w.metrics.outcome("rejected")
		w.log.WarnContext(ctx, "mail rejected for good; not retried", "mail_id", m.id, "attempts", m.attempts, "err", sendErr.Error())
		return w.giveUp(ctx, m.id, leaseEnd, now, "rejected: "+sendErr.Error())
	}
	giveUpAt := m.createdAt.Add(w.cfg.GiveUpAfter)
	if !now.Before(giveUpAt) {
		w.metrics.outcome("expired")
		why := fmt.Sprintf("gave up after %d attempts over %s: %s", m.attempts, w.cfg.GiveUpAfter, sendErr.Error())
		w.log.WarnContext(ctx, "mail given up", "mail_id", m.id, "err", why)
		return w.giveUp(ctx, m.id, leaseEnd, now, why)
	}
	next := now.Add(backoff(m.attempts))
	if next.After(giveUpAt) {
		next = giveUpAt // a last attempt at the limit
	}
	w.metrics.outcome("retry")
	w.log.WarnContext(ctx, "mail not sent; will retry", "mail_id", m.id, "attempts", m.attempts,
		"next_attempt_at", next, "err", sendErr.Error())
	return w.retryAt(ctx, m.id, leaseEnd, next, sendErr.Error())
}

// backoff is the wait after the attempts-th failed attempt: retryBase
// doubling per attempt up to retryMax, less a random part of up to half.
func backoff(attempts int) time.Duration {
	d := retryMax
	if attempts >= 1 && attempts < 32 {
		d = min(retryBase<<(attempts-1), retryMax)
	}
	// Whole microseconds, as the databases keep them: a due time read back
	// must be the one that was computed.
	return (d - rand.N(d/2)).Truncate(time.Microsecond) //nolint:gosec // G404: jitter, not a secret
}

// clock is now in UTC at the microsecond PostgreSQL keeps, so a time
// written and read back compares equal (the claim's lease is matched by
// equality).
func (w *Worker) clock() time.Time { return w.now().UTC().Truncate(time.Microsecond) }

// claimSQL marks up to batchSize due mails claimed until $2 and returns
// their ids. On PostgreSQL the rows are chosen FOR UPDATE SKIP LOCKED, so a
// concurrent claim takes other rows instead of waiting for these or taking
// them too; on SQLite the one statement runs under the database's single
// writer lock. Moving next_attempt_at to the lease's end keeps a claimed
// mail out of the due query until the lease ends, when a worker that died
// holding it no longer does.
var claimSQL = map[string]string{
	dialect.Postgres: `WITH due AS (SELECT "id" FROM "mail_outbox"` +
		` WHERE "sent_at" IS NULL AND "failed_at" IS NULL AND "next_attempt_at" <= $1` +
		` ORDER BY "next_attempt_at", "id" LIMIT ` + fmt.Sprint(batchSize) + ` FOR UPDATE SKIP LOCKED)` +
		` UPDATE "mail_outbox" AS m SET "claimed_until" = $2, "next_attempt_at" = $2, "attempts" = m."attempts" + 1` +
		` FROM due WHERE m."id" = due."id" RETURNING m."id"`,
	dialect.SQLite: `UPDATE "mail_outbox" SET "claimed_until" = $2, "next_attempt_at" = $2, "attempts" = "attempts" + 1` +
		` WHERE "id" IN (SELECT "id" FROM "mail_outbox"` +
		` WHERE "sent_at" IS NULL AND "failed_at" IS NULL AND "next_attempt_at" <= $1` +
		` ORDER BY "next_attempt_at", "id" LIMIT ` + fmt.Sprint(batchSize) + `) RETURNING "id"`,
}

// claim claims the due mails and reads them, oldest due first.
func (w *Worker) claim(ctx context.Context, now, leaseEnd time.Time) ([]*ent.MailOutbox, error) {
	rows, err := w.db.QueryContext(ctx, claimSQL[w.dialect], now, leaseEnd)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("claim mail: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// Read after the claim committed: the lease keeps other workers off.
	ms, err := w.db.MailOutbox.Query().Where(mailoutbox.IDIn(ids...)).Order(ent.Asc(mailoutbox.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read claimed mail: %w", err)
	}
	return ms, nil
}

// markSent records a mail sent and drops its secret. It does not check the
// lease: a mail that went out is sent, whoever holds it now.
func (w *Worker) markSent(ctx context.Context, id int64, now time.Time) error {
	err := w.db.MailOutbox.Update().
		Where(mailoutbox.ID(id), mailoutbox.SentAtIsNil()).
		SetSentAt(now).ClearSecret().ClearClaimedUntil().SetLastError("").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark mail %d sent: %w", id, err)
	}
	return nil
}

// The updates below act only while the lease is this worker's: once it has
// ended and another worker claimed the mail, the outcome is the other's to
// record.

// release hands back a claimed mail that was not attempted, due at once.
func (w *Worker) release(ctx context.Context, id int64, leaseEnd, now time.Time) error {
	err := w.db.MailOutbox.Update().
		Where(mailoutbox.ID(id), mailoutbox.ClaimedUntil(leaseEnd)).
		ClearClaimedUntil().SetNextAttemptAt(now).AddAttempts(-1).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("release mail %d: %w", id, err)
	}
	return nil
}

// giveUp records a mail failed for good and drops its secret.
func (w *Worker) giveUp(ctx context.Context, id int64, leaseEnd, now time.Time, why string) error {
	err := w.db.MailOutbox.Update().
		Where(mailoutbox.ID(id), mailoutbox.ClaimedUntil(leaseEnd)).
		SetFailedAt(now).ClearSecret().ClearClaimedUntil().SetLastError(truncate(why, maxErrorLen)).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("give up mail %d: %w", id, err)
	}
	return nil
}

// retryAt makes a mail due again at next.
func (w *Worker) retryAt(ctx context.Context, id int64, leaseEnd, next time.Time, why string) error {
	err := w.db.MailOutbox.Update().
		Where(mailoutbox.ID(id), mailoutbox.ClaimedUntil(leaseEnd)).
		SetNextAttemptAt(next).ClearClaimedUntil().SetLastError(truncate(why, maxErrorLen)).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("reschedule mail %d: %w", id, err)
	}
	return nil
}

// redactedError is an error whose text had a secret taken out.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
