package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// runConfig is what `todo-load run` was asked to do.
type runConfig struct {
	URL, CompareURL       string
	Mode, CompareMode     string // modeAuto, modeAPI or modeRaw
	Scenarios             []string
	Concurrency           int
	Duration, Warmup      time.Duration
	Rounds                int
	MaxRequests           int
	Users                 int
	TasksPerUser          int
	LoginAs               []string // existing users to log in as instead of registering
	SeededUsers           int      // folded into LoginAs by validate
	Password              string
	RawUser               string
	RawCreateUser         string // X-User-ID of creates on a raw target; "" means RawUser
	ListLimit             int
	DeletePool            int
	SyncLimit             int // page size of sync-full
	SyncChanges           int // changes each account makes before a sync-incremental round
	AllowRemote           bool
	ServerPID, ComparePID int
	PGMatch               string
	Timeout               time.Duration
	Proc                  string // the proc file system; "" means /proc
}

// idsPerAccount bounds how many existing task ids setup collects per user.
const idsPerAccount = 1000

// runLoad sets the targets up, runs every scenario round by round and
// prints the report to out.
func runLoad(ctx context.Context, cfg runConfig, out io.Writer) error {
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	client := newHTTPClient(cfg.Concurrency, cfg.Timeout, cfg.AllowRemote)
	defer client.CloseIdleConnections()
	targets := []*target{{label: "A", base: strings.TrimRight(cfg.URL, "/"), mode: cfg.Mode, client: client, pid: cfg.ServerPID}}
	if cfg.CompareURL != "" {
		targets = append(targets, &target{label: "B", base: strings.TrimRight(cfg.CompareURL, "/"), mode: cfg.CompareMode, client: client, pid: cfg.ComparePID})
	}
	runID := newRunID()
	fmt.Fprintf(out, "todo-load run %s: c=%d, %s measured after %s warm-up, %d round(s), at most %d requests per round, list limit %d\n",
		runID, cfg.Concurrency, cfg.Duration, cfg.Warmup, cfg.Rounds, cfg.MaxRequests, cfg.ListLimit)
	for _, t := range targets {
		if err := setupTarget(ctx, t, cfg, runID, out); err != nil {
			return fmt.Errorf("set up target %s (%s): %w", t.label, t.base, err)
		}
	}
	samplers := make([]*rssSampler, len(targets))
	for i, t := range targets {
		if t.pid > 0 {
			samplers[i] = startRSSSampler(cfg.Proc, t.pid)
		}
	}
	results := make(map[string][][]phaseResult, len(cfg.Scenarios))
	var runErr error
scenarios:
	for _, name := range cfg.Scenarios {
		sc, _ := lookupScenario(name)
		per := make([][]phaseResult, len(targets))
		results[name] = per
		for round := 1; round <= cfg.Rounds; round++ {
			for i, t := range targets {
				if !supports(t, sc) {
					continue
				}
				res, err := measure(ctx, t, sc, cfg)
				if err != nil {
					runErr = fmt.Errorf("%s on %s: %w", name, t.label, err)
					break scenarios
				}
				per[i] = append(per[i], res)
				fmt.Fprintf(out, "  %-16s round %d %-7s %9.1f req/s  p50 %7.2fms  p99 %7.2fms  errors %s%s%s\n",
					name, round, t.name(), res.rps(), ms(percentile(res.lat, 50)), ms(percentile(res.lat, 99)),
					formatErrors(res.statuses, res.transport), itemsNote(res), stoppedNote(res.stopped))
			}
		}
	}
	fmt.Fprintln(out)
	printReport(out, cfg, targets, results)
	for i, s := range samplers {
		if s == nil {
			continue
		}
		peak, hwm := s.stop()
		fmt.Fprintf(out, "target %s server pid %d: peak VmRSS %s (sampled every 100 ms during the run), VmHWM %s (since the process started)\n",
			targets[i].label, targets[i].pid, mib(peak), mib(hwm))
	}
	return runErr
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }

// itemsNote reports the tasks a sync scenario received, if it counts them.
func itemsNote(r phaseResult) string {
	if r.items == 0 {
		return ""
	}
	return fmt.Sprintf("  %.0f tasks/s (%.1f per response)", r.itemsPerSecond(), float64(r.items)/float64(max(r.ok, 1)))
}

func stoppedNote(s string) string {
	if s == "" {
		return ""
	}
	return "  (ended early: " + s + ")"
}

// newRunID returns a short random id that keeps this run's emails unique.
func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// supports reports whether t can run sc: a raw target answers only some.
func supports(t *target, sc scenario) bool { return t.mode != modeRaw || sc.raw }

// setupTarget decides t's mode, creates or logs in its accounts and gives
// each of them tasks to work on.
func setupTarget(ctx context.Context, t *target, cfg runConfig, runID string, out io.Writer) error {
	t0 := time.Now()
	if t.mode != modeRaw {
		if err := setupAccounts(ctx, t, cfg, runID); err != nil {
			var se *statusError
			if t.mode != modeAuto || !errors.As(err, &se) || se.status != http.StatusNotFound {
				return err
			}
			t.mode = modeRaw // no auth endpoints: the rawceiling yardstick
		} else {
			t.mode = modeAPI
		}
	}
	if t.mode == modeRaw {
		t.accounts = []*account{{userID: cfg.RawUser}}
		if cfg.RawCreateUser != "" && cfg.RawCreateUser != cfg.RawUser {
			t.createAccount = &account{userID: cfg.RawCreateUser}
		}
	}
	if len(cfg.LoginAs) > 0 || t.mode == modeRaw {
		err := forEachBatch(ctx, len(t.accounts), 1, 4, func(ctx context.Context, i, _, _ int) error {
			ids, err := t.listIDs(ctx, t.accounts[i], idsPerAccount)
			t.accounts[i].ids = ids
			return err
		})
		if err != nil {
			return err
		}
	}
	var empty []*account
	for _, a := range t.accounts {
		if len(a.ids) == 0 {
			empty = append(empty, a)
		}
	}
	if err := createTasks(ctx, t, empty, cfg.TasksPerUser, cfg.Concurrency); err != nil {
		return err
	}
	created := len(empty) * cfg.TasksPerUser
	who := fmt.Sprintf("%d registered users", len(t.accounts))
	switch {
	case t.mode == modeRaw:
		who = "no auth (raw), X-User-ID " + cfg.RawUser
		if t.createAccount != nil {
			who += " (creates as " + t.createAccount.userID + ")"
		}
	case len(cfg.LoginAs) > 0:
		who = fmt.Sprintf("%d existing users logged in", len(t.accounts))
	}
	ids := 0
	for _, a := range t.accounts {
		ids += len(a.ids)
	}
	fmt.Fprintf(out, "target %s %s: %s; %d task ids to work on (%d created) in %s\n",
		t.name(), t.base, who, ids, created, time.Since(t0).Round(time.Millisecond))
	return nil
}

// setupAccounts registers this run's users, or logs in as cfg.LoginAs.
// The first request goes alone so a target without auth endpoints fails
// once, with a 404.
func setupAccounts(ctx context.Context, t *target, cfg runConfig, runID string) error {
	var act func(ctx context.Context, a *account, n int) error
	if len(cfg.LoginAs) > 0 {
		for _, e := range cfg.LoginAs {
			t.accounts = append(t.accounts, &account{email: e, password: cfg.Password})
		}
		act = func(ctx context.Context, a *account, _ int) error { return t.login(ctx, a) }
	} else {
		for n := 1; n <= cfg.Users; n++ {
			t.accounts = append(t.accounts, &account{email: fmt.Sprintf("load-%s-%d@example.com", runID, n), password: cfg.Password})
		}
		act = func(ctx context.Context, a *account, n int) error {
			return t.register(ctx, a, "Load User "+strconv.Itoa(n))
		}
	}
	if err := act(ctx, t.accounts[0], 1); err != nil {
		t.accounts = nil
		return err
	}
	// bcrypt makes each call cost the server tens of milliseconds of CPU:
	// a few at a time is as fast as it gets.
	return forEachBatch(ctx, len(t.accounts)-1, 1, 4, func(ctx context.Context, i, _, _ int) error {
		return act(ctx, t.accounts[i+1], i+2)
	})
}

// createTasks creates n tasks for each of accts through the API, conc
// requests at a time, and gives each account the ids.
func createTasks(ctx context.Context, t *target, accts []*account, n, conc int) error {
	for _, a := range accts {
		a.ids = make([]int64, n)
	}
	return forEachBatch(ctx, len(accts)*n, 1, conc, func(ctx context.Context, k, _, _ int) error {
		a, i := accts[k%len(accts)], k/len(accts)
		rng := mrand.New(mrand.NewPCG(uint64(k), 7)) //nolint:gosec // G404: task titles, not secrets
		id, err := t.createTask(ctx, a, randomTitle(rng))
		a.ids[i] = id // each (account, i) is written by one job
		return err
	})
}

// fillDeletePool tops the accounts' delete pools up to n tasks in all.
func fillDeletePool(ctx context.Context, t *target, n, conc int) error {
	have := 0
	for _, a := range t.accounts {
		a.pool.mu.Lock()
		have += len(a.pool.ids)
		a.pool.mu.Unlock()
	}
	return forEachBatch(ctx, max(n-have, 0), 1, conc, func(ctx context.Context, i, _, _ int) error {
		a := t.accounts[i%len(t.accounts)]
		id, err := t.createTask(ctx, a, "Task to delete")
		if err == nil {
			a.pool.push(id)
		}
		return err
	})
}

// measure runs one round of sc on t: the delete pool, the warm-up, then
// the measured phase with the CPU split.
func measure(ctx context.Context, t *target, sc scenario, cfg runConfig) (phaseResult, error) {
	switch sc.name {
	case "delete":
		if err := fillDeletePool(ctx, t, cfg.DeletePool, cfg.Concurrency); err != nil {
			return phaseResult{}, fmt.Errorf("fill delete pool: %w", err)
		}
	case "sync-incremental":
		if err := prepareSync(ctx, t, cfg.SyncChanges); err != nil {
			return phaseResult{}, fmt.Errorf("prepare sync: %w", err)
		}
	}
	if cfg.Warmup > 0 {
		budget := cfg.MaxRequests
		if sc.name == "delete" {
			budget = min(budget, cfg.DeletePool/5) // keep most of the pool for the measured phase
		}
		runPhase(ctx, t, sc, cfg, cfg.Warmup, budget)
	}
	if err := ctx.Err(); err != nil {
		return phaseResult{}, err
	}
	probe := cpuProbe{serverPID: t.pid, pgMatch: cfg.PGMatch, proc: cfg.Proc}
	before := probe.snapshot()
	res := runPhase(ctx, t, sc, cfg, cfg.Duration, cfg.MaxRequests)
	res.cpu = probe.snapshot().since(before)
	return res, ctx.Err()
}

// runPhase runs sc on t with cfg.Concurrency closed-loop workers until dur
// has passed or budget requests were sent. A request that completes after
// the deadline is not counted.
func runPhase(ctx context.Context, t *target, sc scenario, cfg runConfig, dur time.Duration, budget int) phaseResult {
	start := time.Now()
	deadline := start.Add(dur)
	var left atomic.Int64
	left.Store(int64(budget))
	var stopOnce sync.Once
	stopped := ""
	stop := func(why string) { stopOnce.Do(func() { stopped = why }) }
	recs := make([]*recorder, cfg.Concurrency)
	seed := uint64(start.UnixNano())
	var wg sync.WaitGroup
	for i := range recs {
		rec := newRecorder(min(budget/cfg.Concurrency+1, 1<<15))
		recs[i] = rec
		acct := t.accounts[i%len(t.accounts)]
		if sc.name == "create" && t.createAccount != nil {
			acct = t.createAccount
		}
		rng := mrand.New(mrand.NewPCG(seed, uint64(i))) //nolint:gosec // G404: which task to hit next, not a secret
		w := &worker{acct: acct, rng: rng, listLimit: cfg.ListLimit, syncLimit: cfg.SyncLimit}
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(ctx, t, sc, w, rec, deadline, &left, stop)
		}()
	}
	wg.Wait()
	elapsed := min(time.Since(start), dur)
	res := merge(recs, elapsed)
	res.stopped = stopped
	return res
}

// work is one worker's closed loop.
func work(ctx context.Context, t *target, sc scenario, w *worker, rec *recorder, deadline time.Time, left *atomic.Int64, stop func(string)) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if left.Add(-1) < 0 {
			stop("max-requests reached")
			return
		}
		r, err := sc.next(w)
		if err != nil {
			stop(err.Error())
			return
		}
		req, tk, err := t.newRequest(ctx, w.acct, r)
		if err != nil {
			rec.transport["auth"]++
			pause(ctx, 100*time.Millisecond)
			continue
		}
		t0 := time.Now()
		var (
			status int
			body   []byte
		)
		if r.items != nil {
			status, body, err = t.fetch(req)
		} else {
			status, err = t.hit(req)
		}
		t1 := time.Now()
		if t1.After(deadline) || ctx.Err() != nil {
			return // straddles the end of the round
		}
		switch {
		case err != nil:
			rec.transport[transportCause(err)]++
			pause(ctx, 5*time.Millisecond) // a dead server must not turn the loop into a spin
		case status >= 200 && status <= 299:
			rec.lat = append(rec.lat, t1.Sub(t0))
			if r.items != nil {
				n, err := r.items(body)
				if err != nil {
					stop(err.Error())
					return
				}
				rec.items += int64(n)
			}
		default:
			rec.statuses[status]++
			if status == http.StatusUnauthorized && tk != nil {
				_, _ = t.renew(ctx, w.acct, tk) // a failed renewal shows up as the next request's error
			}
		}
	}
}

// pause sleeps for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// printReport prints the median-of-rounds table, with A/B ratios when
// there are two targets.
func printReport(out io.Writer, cfg runConfig, targets []*target, results map[string][][]phaseResult) {
	pg := "all postgres processes on this machine (anything else using PostgreSQL counts too)"
	if cfg.PGMatch != "" {
		pg = "postgres processes whose command line contains " + strconv.Quote(cfg.PGMatch)
	}
	fmt.Fprintf(out, "median of %d round(s); latency of 2xx responses; CPU ms per 2xx response; cores = server/postgres/client; postgres = %s\n", cfg.Rounds, pg)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\treq/s\tp50 ms\tp90 ms\tp99 ms\tsrv+pg ms/req\tsrv ms/req\tpg ms/req\tclient ms/req\tcores\terrors\t")
	for _, name := range cfg.Scenarios {
		per, ok := results[name]
		if !ok {
			continue
		}
		sums := make([]summary, len(targets))
		for i, t := range targets {
			if len(per[i]) == 0 {
				fmt.Fprintf(tw, "%s\t%s\tn/a\t\t\t\t\t\t\t\t\t\t\n", name, t.name())
				continue
			}
			s := summarize(per[i])
			sums[i] = s
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, t.name(), fmtFloat(s.rps, 1),
				fmtFloat(s.p50, 2), fmtFloat(s.p90, 2), fmtFloat(s.p99, 2), fmtFloat(s.srvPgMS(), 3),
				fmtFloat(s.srvMS, 3), fmtFloat(s.pgMS, 3), fmtFloat(s.cliMS, 3), s.cores, s.errors+stoppedNote(s.stopped))
		}
		if len(targets) == 2 && len(per[0]) > 0 && len(per[1]) > 0 {
			a, b := sums[0], sums[1]
			fmt.Fprintf(tw, "%s\tA/B\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\n", name, ratio(a.rps, b.rps), ratio(a.p50, b.p50),
				ratio(a.p90, b.p90), ratio(a.p99, b.p99), ratio(a.srvPgMS(), b.srvPgMS()), ratio(a.srvMS, b.srvMS), ratio(a.pgMS, b.pgMS))
		}
	}
	tw.Flush()
	for _, name := range cfg.Scenarios {
		for i, t := range targets {
			if per := results[name]; len(per) > i && len(per[i]) > 0 {
				if s := summarize(per[i]); s.itemsPS > 0 {
					fmt.Fprintf(out, "%s %s: %s tasks/s received (median of rounds)\n", name, t.name(), fmtFloat(s.itemsPS, 0))
				}
			}
		}
	}
}

// prepareSync gives each account of t a sync token for the
// sync-incremental scenario that owes exactly n changes: it syncs to the
// end (in full the first time, then from the previous round's token,
// catching up what other scenarios wrote), then changes n of the account's
// tasks, which every request of the round receives again.
func prepareSync(ctx context.Context, t *target, n int) error {
	for _, a := range t.accounts {
		if len(a.ids) == 0 {
			return errNoIDs
		}
		token, err := t.syncToEnd(ctx, a, a.syncBase)
		if err != nil {
			return err
		}
		a.syncBase = token
		for i := range n {
			id := a.ids[i%len(a.ids)]
			body := jsonBody(map[string]string{"title": fmt.Sprintf("Synced change %d (%s)", i, newRunID())})
			if err := t.call(ctx, a, "update task", apiRequest{method: http.MethodPatch, path: taskPath(id), body: body}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
