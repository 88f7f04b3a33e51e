package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// cpuTime is a CPU time that may be unknown (no pid given, no /proc).
type cpuTime struct {
	d  time.Duration
	ok bool
}

// perRequest is the CPU milliseconds per request, NaN when unknown.
func (c cpuTime) perRequest(requests int) float64 {
	if !c.ok || requests == 0 {
		return math.NaN()
	}
	return float64(c.d) / 1e6 / float64(requests)
}

// cores is the average number of cores busy over elapsed, NaN when unknown.
func (c cpuTime) cores(elapsed time.Duration) float64 {
	if !c.ok || elapsed <= 0 {
		return math.NaN()
	}
	return float64(c.d) / float64(elapsed)
}

func (c cpuTime) sub(o cpuTime) cpuTime { return cpuTime{d: c.d - o.d, ok: c.ok && o.ok} }

// cpuSnapshot is the cumulative CPU time of the three parties at one instant.
type cpuSnapshot struct{ client, server, postgres cpuTime }

// cpuDelta is the CPU each party used during a round.
type cpuDelta struct{ client, server, postgres cpuTime }

// cpuProbe takes cpuSnapshots of this process, a server process and PostgreSQL.
type cpuProbe struct {
	serverPID int    // 0: not measured
	pgMatch   string // substring of the postgres command line; "" counts them all
	proc      string // the proc file system, "/proc"
}

// snapshot reads the current cumulative CPU times; parties it cannot read are unknown.
func (p cpuProbe) snapshot() cpuSnapshot {
	var s cpuSnapshot
	if d, err := selfCPU(); err == nil {
		s.client = cpuTime{d: d, ok: true}
	}
	if p.serverPID > 0 {
		if st, err := readProcStat(filepath.Join(p.proc, strconv.Itoa(p.serverPID), "stat")); err == nil {
			s.server = cpuTime{d: st.own(), ok: true}
		}
	}
	if d, err := postgresCPU(p.proc, p.pgMatch); err == nil {
		s.postgres = cpuTime{d: d, ok: true}
	}
	return s
}

// since returns the CPU used between an earlier snapshot and s.
func (s cpuSnapshot) since(before cpuSnapshot) cpuDelta {
	return cpuDelta{client: s.client.sub(before.client), server: s.server.sub(before.server), postgres: s.postgres.sub(before.postgres)}
}

// selfCPU is this process's user + system CPU time.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// procStat holds the fields of /proc/PID/stat that matter here.
type procStat struct {
	comm                         string
	utime, stime, cutime, cstime uint64 // clock ticks
}

// own is the process's own CPU time.
func (s procStat) own() time.Duration { return ticks(s.utime + s.stime) }

// withChildren adds the CPU time of reaped children.
func (s procStat) withChildren() time.Duration { return ticks(s.utime + s.stime + s.cutime + s.cstime) }

func ticks(n uint64) time.Duration {
	return time.Duration(n) * (time.Second / userHZ) //nolint:gosec // G115: CPU ticks of a process, far below 2^63 ns
}

// readProcStat reads and parses a /proc/PID/stat file.
func readProcStat(path string) (procStat, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: a /proc/PID/stat path built from a pid
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses the text of /proc/PID/stat. The command name is in
// parentheses and may itself hold spaces and parentheses, hence the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("procstat: no command name")
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return procStat{}, errors.New("procstat: too few fields")
	}
	s := procStat{comm: string(b[open+1 : end])}
	for i, dst := range []*uint64{&s.utime, &s.stime, &s.cutime, &s.cstime} {
		v, err := strconv.ParseUint(f[11+i], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("procstat: field %d: %w", 14+i, err)
		}
		*dst = v
	}
	return s, nil
}

// postgresCPU sums the CPU time of every process named postgres, with the
// time of reaped children, so a backend that exits during a round still
// counts (through its parent). With match set, only processes whose command
// line contains it count, and exited backends are lost.
func postgresCPU(proc, match string) (time.Duration, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	found := false
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := readProcStat(filepath.Join(proc, e.Name(), "stat"))
		if err != nil || st.comm != "postgres" {
			continue // gone, or not PostgreSQL
		}
		if match != "" {
			cmd, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline")) //nolint:gosec // G304: a /proc/PID path built from a pid
			if err != nil || !bytes.Contains(cmd, []byte(match)) {
				continue
			}
			total += st.own()
		} else {
			total += st.withChildren()
		}
		found = true
	}
	if !found {
		return 0, errors.New("no postgres processes")
	}
	return total, nil
}

// readMemory returns VmRSS and VmHWM of a process in bytes.
func readMemory(path string) (rss, hwm int64, err error) {
	f, err := os.Open(path) //nolint:gosec // G304: a /proc/PID/status path built from a pid
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// rssSampler records the largest VmRSS of a process, sampled every 100 ms.
type rssSampler struct {
	path string
	peak atomic.Int64
	quit chan struct{}
	wg   sync.WaitGroup
}

// startRSSSampler starts sampling pid's memory until stop.
func startRSSSampler(proc string, pid int) *rssSampler {
	s := &rssSampler{path: filepath.Join(proc, strconv.Itoa(pid), "status"), quit: make(chan struct{})}
	s.sample()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	if rss, _, err := readMemory(s.path); err == nil && rss > s.peak.Load() {
		s.peak.Store(rss)
	}
}

// stop ends sampling and returns the peak VmRSS seen and the VmHWM now.
func (s *rssSampler) stop() (peak, hwm int64) {
	close(s.quit)
	s.wg.Wait()
	s.sample()
	_, hwm, _ = readMemory(s.path)
	return s.peak.Load(), hwm
}
