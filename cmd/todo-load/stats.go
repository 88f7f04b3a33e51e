package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// recorder collects one worker's outcomes; workers never share one, so it
// needs no lock.
type recorder struct {
	lat       []time.Duration // latencies of 2xx responses
	statuses  map[int]int     // non-2xx responses by status
	transport map[string]int  // requests that got no response, by cause
	items     int64           // tasks received, by the scenarios that count them
}

func newRecorder(capacity int) *recorder {
	return &recorder{lat: make([]time.Duration, 0, capacity), statuses: map[int]int{}, transport: map[string]int{}}
}

// phaseResult is what one measured round of one scenario on one target produced.
type phaseResult struct {
	ok        int
	elapsed   time.Duration
	lat       []time.Duration // sorted
	statuses  map[int]int
	transport map[string]int
	stopped   string // why the round ended before its duration, if it did
	cpu       cpuDelta
	items     int64 // tasks received (sync scenarios)
}

// merge combines worker recorders into a result with sorted latencies.
func merge(recs []*recorder, elapsed time.Duration) phaseResult {
	r := phaseResult{elapsed: elapsed, statuses: map[int]int{}, transport: map[string]int{}}
	n := 0
	for _, rec := range recs {
		n += len(rec.lat)
	}
	r.lat = make([]time.Duration, 0, n)
	for _, rec := range recs {
		r.lat = append(r.lat, rec.lat...)
		for k, v := range rec.statuses {
			r.statuses[k] += v
		}
		for k, v := range rec.transport {
			r.transport[k] += v
		}
		r.items += rec.items
	}
	slices.Sort(r.lat)
	r.ok = len(r.lat)
	return r
}

// rps is the rate of successful responses.
func (r phaseResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// itemsPerSecond is the rate of tasks received.
func (r phaseResult) itemsPerSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.items) / r.elapsed.Seconds()
}

// errorCount is the number of failed requests.
func (r phaseResult) errorCount() int {
	n := 0
	for _, v := range r.statuses {
		n += v
	}
	for _, v := range r.transport {
		n += v
	}
	return n
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted samples, 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median returns the median of xs (the mean of the middle two for an even
// count), NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// summary is the median over rounds of each figure of a scenario on a target.
type summary struct {
	rps                float64
	p50, p90, p99      float64 // milliseconds
	errors             string  // summed over rounds
	srvMS, pgMS, cliMS float64 // CPU milliseconds per successful request; NaN when unknown
	cores              string  // CPU split in cores: server / postgres / client
	stopped            string
	itemsPS            float64 // tasks received per second (sync scenarios)
}

// summarize reduces rounds to their medians.
func summarize(rs []phaseResult) summary {
	var s summary
	pick := func(f func(phaseResult) float64) float64 {
		xs := make([]float64, 0, len(rs))
		for _, r := range rs {
			if v := f(r); !math.IsNaN(v) {
				xs = append(xs, v)
			}
		}
		return median(xs)
	}
	pct := func(p float64) func(phaseResult) float64 {
		return func(r phaseResult) float64 {
			if len(r.lat) == 0 {
				return math.NaN() // no successes: no latency, rather than 0
			}
			return ms(percentile(r.lat, p))
		}
	}
	s.rps = pick(phaseResult.rps)
	s.itemsPS = pick(phaseResult.itemsPerSecond)
	s.p50, s.p90, s.p99 = pick(pct(50)), pick(pct(90)), pick(pct(99))
	s.srvMS = pick(func(r phaseResult) float64 { return r.cpu.server.perRequest(r.ok) })
	s.pgMS = pick(func(r phaseResult) float64 { return r.cpu.postgres.perRequest(r.ok) })
	s.cliMS = pick(func(r phaseResult) float64 { return r.cpu.client.perRequest(r.ok) })
	s.cores = fmtFloat(pick(func(r phaseResult) float64 { return r.cpu.server.cores(r.elapsed) }), 2) + "/" +
		fmtFloat(pick(func(r phaseResult) float64 { return r.cpu.postgres.cores(r.elapsed) }), 2) + "/" +
		fmtFloat(pick(func(r phaseResult) float64 { return r.cpu.client.cores(r.elapsed) }), 2)
	statuses, transport := map[int]int{}, map[string]int{}
	var stops []string
	for _, r := range rs {
		for k, v := range r.statuses {
			statuses[k] += v
		}
		for k, v := range r.transport {
			transport[k] += v
		}
		if r.stopped != "" && !slices.Contains(stops, r.stopped) {
			stops = append(stops, r.stopped)
		}
	}
	s.errors = formatErrors(statuses, transport)
	s.stopped = strings.Join(stops, "; ")
	return s
}

// srvPgMS is the server + PostgreSQL CPU per request, the sturdiest figure.
func (s summary) srvPgMS() float64 {
	switch {
	case math.IsNaN(s.srvMS):
		return math.NaN()
	case math.IsNaN(s.pgMS):
		return s.srvMS
	}
	return s.srvMS + s.pgMS
}

// formatErrors renders error counts as "401:3 429:12 refused:2", or "-".
func formatErrors(statuses map[int]int, transport map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(statuses)) {
		parts = append(parts, strconv.Itoa(k)+":"+strconv.Itoa(statuses[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(transport)) {
		parts = append(parts, k+":"+strconv.Itoa(transport[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// fmtFloat prints v with prec decimals, "-" for NaN.
func fmtFloat(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// ratio prints a/b as "0.45x", "-" when either is unknown.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
