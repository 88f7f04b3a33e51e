package mail

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"todo/platform/background"
	"todo/platform/database"
)

// How long finished mail is kept after it was queued: sent mail for a week,
// given-up mail (whose last_error says why) for a month. Neither keeps its
// secret.
const (
	keepSent   = 7 * 24 * time.Hour
	keepFailed = 30 * 24 * time.Hour
)

// purgeBatch bounds the rows one purge statement deletes, and
// purgeMaxBatches the statements of one purge: what remains waits for the
// next run, so a purge never holds locks for long.
const (
	purgeBatch      = 1000
	purgeMaxBatches = 100
	purgeEvery      = 10 * time.Minute
)

// purgeSQL deletes up to purgeBatch finished mails queued before $1: sent
// ones, then given-up ones (each with its own cut-off).
var purgeSQL = [...]string{
	`DELETE FROM "mail_outbox" WHERE "id" IN (SELECT "id" FROM "mail_outbox" WHERE "created_at" <= $1 AND "sent_at" <= $1 LIMIT ` + strconv.Itoa(purgeBatch) + `)`,
	`DELETE FROM "mail_outbox" WHERE "id" IN (SELECT "id" FROM "mail_outbox" WHERE "created_at" <= $1 AND "failed_at" <= $1 LIMIT ` + strconv.Itoa(purgeBatch) + `)`,
}

// Purge deletes the sent mail queued and sent more than a week ago and the
// given-up mail more than a month ago, in batches, and returns how many
// rows it deleted. Pending mail is never deleted.
func (w *Worker) Purge(ctx context.Context) (int64, error) {
	now := w.clock()
	var total int64
	for i, q := range purgeSQL {
		before := now.Add(-keepSent)
		if i == 1 {
			before = now.Add(-keepFailed)
		}
		for range purgeMaxBatches {
			n, err := database.ExecCount(ctx, w.db, q, before)
			if err != nil {
				return total, fmt.Errorf("purge mail: %w", err)
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}

// PurgeJob is Purge as a background job, every ten minutes.
func (w *Worker) PurgeJob() background.Job {
	return background.Job{
		Name:  "purge finished mail",
		Every: purgeEvery,
		Run: func(ctx context.Context) error {
			n, err := w.Purge(ctx)
			if n > 0 {
				w.log.InfoContext(ctx, "purged finished mail", "count", n)
			}
			return err
		},
	}
}
