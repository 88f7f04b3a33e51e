package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	line := "1234 (post gres) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 1000 100 18446744073709551615\n"
	s, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.comm != "post gres) (x)" || s.utime != 250 || s.stime != 50 || s.cutime != 7 || s.cstime != 3 {
		t.Errorf("parsed %+v", s)
	}
	if s.own() != 3*time.Second || s.withChildren() != 3100*time.Millisecond {
		t.Errorf("own %v with children %v", s.own(), s.withChildren())
	}
	for _, bad := range []string{"", "1234 postgres S 1", "1 (a) S 1 2 3"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

// fakeProc writes a /proc-like tree: pid → (comm, utime, cutime, cmdline).
func fakeProc(t *testing.T, procs map[string][3]string) string {
	dir := t.TempDir()
	for pid, p := range procs {
		d := filepath.Join(dir, pid)
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
		stat := pid + " (" + p[0] + ") S 1 1 1 0 -1 0 0 0 0 0 " + p[1] + " 0 " + p[2] + " 0 20 0 1 0\n"
		write(t, filepath.Join(d, "stat"), stat)
		write(t, filepath.Join(d, "cmdline"), p[0]+": postgres todo_bench 127.0.0.1(5000) idle")
	}
	write(t, filepath.Join(dir, "self"), "") // not numeric: skipped
	return dir
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresCPU(t *testing.T) {
	proc := fakeProc(t, map[string][3]string{
		"10": {"postgres", "100", "50"}, // the postmaster, with reaped backends
		"11": {"postgres", "20", "0"},
		"12": {"todo", "999", "0"},
	})
	d, err := postgresCPU(proc, "")
	if err != nil || d != 1700*time.Millisecond {
		t.Errorf("all postgres = %v, %v; want 1.7s", d, err)
	}
	d, err = postgresCPU(proc, "todo_bench")
	if err != nil || d != 1200*time.Millisecond {
		t.Errorf("matched postgres = %v, %v; want 1.2s (own time only)", d, err)
	}
	if _, err := postgresCPU(proc, "other_db"); err == nil {
		t.Error("no match must be an error, not zero CPU")
	}
	if _, err := postgresCPU(filepath.Join(proc, "missing"), ""); err == nil {
		t.Error("missing /proc")
	}
}

func TestProbeAndMemory(t *testing.T) {
	proc := fakeProc(t, map[string][3]string{"20": {"todo", "300", "0"}, "21": {"postgres", "10", "0"}})
	write(t, filepath.Join(proc, "20", "status"), "Name:\ttodo\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n")
	p := cpuProbe{serverPID: 20, proc: proc}
	before := p.snapshot()
	write(t, filepath.Join(proc, "20", "stat"), "20 (todo) S 1 1 1 0 -1 0 0 0 0 0 350 10 0 0 20 0 1 0\n")
	d := p.snapshot().since(before)
	if !d.server.ok || d.server.d != 600*time.Millisecond {
		t.Errorf("server delta %+v, want 600ms", d.server)
	}
	if !d.postgres.ok || d.postgres.d != 0 || !d.client.ok || d.client.d < 0 {
		t.Errorf("postgres %+v client %+v", d.postgres, d.client)
	}
	if (cpuProbe{proc: proc}).snapshot().server.ok {
		t.Error("no server pid, yet a server CPU time")
	}
	if v := d.server.perRequest(300); v != 2 {
		t.Errorf("per request %v ms, want 2", v)
	}
	if !math.IsNaN(d.server.perRequest(0)) || !math.IsNaN((cpuTime{}).cores(time.Second)) {
		t.Error("unknown figures must be NaN")
	}
	rss, hwm, err := readMemory(filepath.Join(proc, "20", "status"))
	if err != nil || rss != 100<<20 || hwm != 200<<20 {
		t.Errorf("memory %d %d %v", rss, hwm, err)
	}
	s := startRSSSampler(proc, 20)
	write(t, filepath.Join(proc, "20", "status"), "VmHWM:\t  307200 kB\nVmRSS:\t  153600 kB\n")
	time.Sleep(250 * time.Millisecond)
	write(t, filepath.Join(proc, "20", "status"), "VmHWM:\t  307200 kB\nVmRSS:\t  51200 kB\n")
	peak, hwm := s.stop()
	if peak != 150<<20 || hwm != 300<<20 {
		t.Errorf("sampler peak %d hwm %d", peak, hwm)
	}
}

func TestSelfCPU(t *testing.T) {
	d, err := selfCPU()
	if err != nil || d <= 0 {
		t.Errorf("selfCPU = %v, %v", d, err)
	}
}
