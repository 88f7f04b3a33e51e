package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"todo/platform/database/dbtest"
)

// e2eDir holds the browser tests of the web client and their package.json.
var e2eDir = filepath.Join("..", "..", "web", "e2e")

// TestWebClient serves the real binary's `todo serve` in-process and runs
// the browser tests in web/e2e against it: node's test runner, with
// playwright-core driving Debian's Chromium (/usr/bin/chromium, or
// $CHROMIUM). Every test file runs on the embedded SQLite database, two at
// a time; the two whose journeys race (tabs.test.mjs) or depend on the
// database's order and versions (conflicts.test.mjs) run again on
// PostgreSQL. A failing browser test fails this test with its report.
func TestWebClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; the browser tests need Node.js 20.10 or newer (bash .ci/run installs it)")
	}
	chromium := cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil { //nolint:gosec // G703: the tester's own CHROMIUM setting
		t.Fatalf("%s: %v; install Debian's chromium (apt-get install chromium; bash .ci/run does)", chromium, err)
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed in %s; run `make e2e-deps` (npm ci there; make test does it)", e2eDir)
	}
	files, err := filepath.Glob(filepath.Join(e2eDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests in %s: %v", e2eDir, err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	// Fast hashing and a login limit per address that the tests, all from
	// 127.0.0.1, do not reach; the per-email limit stays at its default,
	// which a test exceeds on purpose.
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{"AUTH_BCRYPT_COST": "4", "AUTH_RATE_PER_IP": "100000"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	t.Run("sqlite", func(t *testing.T) {
		mails := newMailLog(t)
		base, out, stop := startServeTee(t, env(map[string]string{"DATA_DIR": t.TempDir()}), mails)
		checkPageRoutes(t, base)
		runBrowserTests(t, node, chromium, base, files, "TODO_MAIL_LOG="+mails.path)
		if err := stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, out.text())
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.NewEmpty(t)
		base, out, stop := startServe(t, env(map[string]string{"DATABASE_URL": url, "AUTH_SECRET": testSecret, "DB_AUTO_MIGRATE": "true"}))
		runBrowserTests(t, node, chromium, base, []string{"tabs.test.mjs", "conflicts.test.mjs"})
		if err := stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, out.text())
		}
	})
}

// mailLog receives the server's log and keeps the lines of the mails it
// writes there (no MAIL_SMTP_URL: the embedded default), one JSON record a
// line, in a file the browser tests read the verification and reset links
// from (TODO_MAIL_LOG).
type mailLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	buf  []byte
}

func newMailLog(t *testing.T) *mailLog {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mails.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &mailLog{path: path, f: f}
}

func (m *mailLog) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(m.buf, p...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			break
		}
		line := m.buf[:i+1]
		if bytes.Contains(line, []byte(`"msg":"mail (`)) {
			if _, err := m.f.Write(line); err != nil {
				return 0, err
			}
		}
		m.buf = m.buf[i+1:]
	}
	return len(p), nil
}

// checkPageRoutes: beside the page, the API and operations routes answer as
// before: unknown paths are problem+json 404s, and the API keeps its own CSP.
func checkPageRoutes(t *testing.T, base string) {
	t.Helper()
	for _, tc := range []struct{ path, ctype, csp string }{
		{"/", "text/html; charset=utf-8", "script-src 'self'"},
		{"/verify-email?token=x", "text/html; charset=utf-8", "script-src 'self'"},
		{"/healthz", "application/json", "default-src 'none'; frame-ancestors 'none'"},
		{"/api/v1/nope", "application/problem+json", "default-src 'none'; frame-ancestors 'none'"},
		{"/nope", "application/problem+json", "default-src 'none'; frame-ancestors 'none'"},
		{"/account/x", "application/problem+json", "default-src 'none'; frame-ancestors 'none'"},
	} {
		res, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.ctype)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tc.csp) {
			t.Errorf("GET %s: CSP %q, want it to contain %s", tc.path, csp, tc.csp)
		}
	}
}

// runBrowserTests runs node --test on files against base, logging the
// report as it comes, and fails t unless every test passed.
func runBrowserTests(t *testing.T, node, chromium, base string, files []string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// Two files at a time, each with its own Chromium: much of a browser
	// test is waiting (the Undo window, a delayed refresh), and the
	// machine has two cores.
	args := append([]string{"--test", "--test-concurrency=2", "--test-reporter=spec"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(), "TODO_URL="+base, "CHROMIUM="+chromium, "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Env = append(cmd.Env, env...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var report strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			report.WriteString(sc.Text() + "\n")
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	passed, failed := count(report.String(), "ℹ pass "), count(report.String(), "ℹ fail ")
	if err != nil || failed != "0" || passed == "" || passed == "0" {
		t.Fatalf("browser tests failed (%v, pass %s, fail %s):\n%s", err, passed, failed, report.String())
	}
	t.Logf("browser tests: %s passed in %s (%s)", passed, time.Since(start).Round(time.Second), strings.Join(files, ", "))
}

// count returns the number after prefix on the last line that has it.
func count(report, prefix string) string {
	n := ""
	for line := range strings.SplitSeq(report, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n = strings.TrimSpace(rest)
		}
	}
	if n == "" {
		return n
	}
	var v int
	if _, err := fmt.Sscan(n, &v); err != nil {
		return ""
	}
	return fmt.Sprint(v)
}
