// Package background runs the service's periodic jobs (purges of expired
// rows, and the like) beside the HTTP server, for as long as it serves.
package background

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Job is one periodic job: Run is called every Every, first after a random
// part of Every, so that instances started together spread their work.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// Start runs each job in a goroutine of its own until ctx ends; done is
// closed once every job has returned. An error is logged and the job runs
// again at its next turn; a panic in a job is logged and ends that job only.
func Start(ctx context.Context, log *slog.Logger, jobs ...Job) (done <-chan struct{}) {
	finished := make(chan struct{})
	remaining := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		go func() {
			defer func() { remaining <- struct{}{} }()
			loop(ctx, log, j)
		}()
	}
	go func() {
		for range jobs {
			<-remaining
		}
		close(finished)
	}()
	return finished
}

func loop(ctx context.Context, log *slog.Logger, j Job) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("background job panicked; it will not run again", "job", j.Name, "panic", v)
		}
	}()
	timer := time.NewTimer(rand.N(j.Every) + time.Millisecond) //nolint:gosec // G404: jitter, not a secret
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		if err := j.Run(ctx); err != nil && ctx.Err() == nil {
			log.Warn("background job failed", "job", j.Name, "err", err.Error())
		} else {
			log.Debug("background job ran", "job", j.Name, "took", time.Since(start).String())
		}
		timer.Reset(j.Every)
	}
}
