package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond,
		99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0.001: time.Millisecond} {
		if got := percentile(s, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	one := []time.Duration{7}
	if percentile(one, 50) != 7 || percentile(one, 99) != 7 {
		t.Error("one sample")
	}
	// Nearest rank: p50 of 1..10 is the 5th, p90 the 9th, p99 the 10th.
	ten := s[:10]
	if percentile(ten, 50) != 5*time.Millisecond || percentile(ten, 90) != 9*time.Millisecond || percentile(ten, 99) != 10*time.Millisecond {
		t.Errorf("nearest rank on 10 samples")
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	xs := []float64{4, 1, 3, 2}
	if m := median(xs); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if xs[0] != 4 {
		t.Error("median sorted its argument")
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestMergeAndSummarize(t *testing.T) {
	a, b := newRecorder(4), newRecorder(4)
	a.lat = append(a.lat, 3*time.Millisecond, 1*time.Millisecond)
	b.lat = append(b.lat, 2*time.Millisecond)
	a.statuses[429] = 2
	b.statuses[429] = 1
	b.transport["refused"] = 4
	r := merge([]*recorder{a, b}, time.Second)
	if r.ok != 3 || r.lat[0] != time.Millisecond || r.lat[2] != 3*time.Millisecond {
		t.Fatalf("merge: %+v", r)
	}
	if r.rps() != 3 || r.errorCount() != 7 {
		t.Errorf("rps %v errors %v", r.rps(), r.errorCount())
	}
	r.cpu = cpuDelta{client: cpuTime{d: 30 * time.Millisecond, ok: true}, server: cpuTime{d: 300 * time.Millisecond, ok: true}}
	r2 := r
	r2.elapsed = 500 * time.Millisecond
	s := summarize([]phaseResult{r, r2, r})
	if s.rps != 3 {
		t.Errorf("median rps = %v, want 3", s.rps)
	}
	if s.p50 != 2 || s.p99 != 3 {
		t.Errorf("p50 %v p99 %v", s.p50, s.p99)
	}
	if s.srvMS != 100 || s.cliMS != 10 || !math.IsNaN(s.pgMS) || s.srvPgMS() != 100 {
		t.Errorf("cpu per request srv %v cli %v pg %v", s.srvMS, s.cliMS, s.pgMS)
	}
	if s.cores != "0.30/-/0.03" {
		t.Errorf("cores %q", s.cores)
	}
	if s.errors != "429:9 refused:12" {
		t.Errorf("errors %q", s.errors)
	}
}

func TestFormatting(t *testing.T) {
	if formatErrors(nil, nil) != "-" {
		t.Error("no errors")
	}
	if got := ratio(2, 4); got != "0.50x" {
		t.Errorf("ratio %q", got)
	}
	if ratio(1, 0) != "-" || ratio(math.NaN(), 1) != "-" || fmtFloat(math.NaN(), 1) != "-" {
		t.Error("unknown figures must print as -")
	}
}
