package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pgServer is a private PostgreSQL server that a test may stop and start at
// will, unlike the shared one on 127.0.0.1:5432 that other tests use. One
// is initialised per test binary (initdb takes seconds) and removed by
// TestMain.
type pgServer struct {
	bin  string // directory of initdb, pg_ctl, postgres
	root string // temporary directory: data/, sock/, log
	port int
	asPG bool // run the binaries as the postgres OS user (we are root)

	mu      sync.Mutex
	running bool
}

var shared struct {
	once sync.Once
	srv  *pgServer
	err  error
}

// privatePG returns the test binary's private server, initialising and
// starting it on first use. A test that stops it must start it again
// before it ends.
func privatePG(t testing.TB) *pgServer {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = newPGServer() })
	if shared.err != nil {
		t.Fatalf("private PostgreSQL server: %v", shared.err)
	}
	if err := shared.srv.start(); err != nil {
		t.Fatalf("private PostgreSQL server: %v", err)
	}
	return shared.srv
}

// removePrivatePG stops the private server, if one was made, and deletes
// its files. TestMain calls it.
func removePrivatePG() {
	if shared.srv == nil {
		return
	}
	s := shared.srv
	_ = s.pgctl("stop", "-m", "immediate")
	_ = os.RemoveAll(s.root)
}

// postgresBin finds the newest installed PostgreSQL's binaries.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var found []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no PostgreSQL binaries: neither /usr/lib/postgresql/*/bin/pg_ctl nor pg_ctl on PATH (install postgresql)")
	}
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(found[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(found[j])))
		return vi > vj
	})
	return found[0], nil
}

func newPGServer() (*pgServer, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "todo-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{bin: bin, root: root, asPG: os.Geteuid() == 0}
	if s.asPG {
		// PostgreSQL refuses to run as root: hand the directory to postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(root)
			return nil, fmt.Errorf("running as root needs a postgres OS user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(root, 0o700); err != nil { //nolint:gosec // G302: a directory needs its x bit; 0700 is owner-only
			return nil, err
		}
		if err := os.Chown(root, uid, gid); err != nil {
			_ = os.RemoveAll(root)
			return nil, fmt.Errorf("chown %s to postgres: %w", root, err)
		}
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if out, err := s.command("mkdir", "-p", s.sock()).CombinedOutput(); err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("mkdir socket dir: %w\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	return s, nil
}

func (s *pgServer) data() string { return filepath.Join(s.root, "data") }
func (s *pgServer) sock() string { return filepath.Join(s.root, "sock") }

// command runs a PostgreSQL binary (or mkdir), as postgres when we are root.
func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	path := name
	if name != "mkdir" {
		path = filepath.Join(s.bin, name)
	}
	if s.asPG {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (s *pgServer) pgctl(args ...string) error {
	args = append([]string{"-D", s.data()}, args...)
	cmd := s.command("pg_ctl", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		logf := filepath.Join(s.root, "server.log")
		tail, _ := os.ReadFile(logf)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("pg_ctl %v: %w\n%s\nserver log:\n%s", args, err, out.String(), tail)
	}
	return nil
}

// start starts the server if it is not running and waits until it accepts
// connections.
func (s *pgServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", s.port, s.sock())
	if err := s.pgctl("-o", opts, "-l", filepath.Join(s.root, "server.log"), "-w", "-t", "60", "start"); err != nil {
		return err
	}
	s.running = true
	return nil
}

// stop stops the server with pg_ctl's mode ("fast": sessions are ended and
// their transactions rolled back; "immediate": no clean shutdown).
func (s *pgServer) stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if err := s.pgctl("-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return err
	}
	s.running = false
	return nil
}

// url is the URL of database name on the server, with extra query
// parameters appended.
func (s *pgServer) url(name, extra string) string {
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// newDatabase creates an empty database on the server, dropped when the
// test ends (the server must be running then).
func (s *pgServer) newDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("rel_%d", time.Now().UnixNano())
	if err := s.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("private PostgreSQL server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.start(); err != nil {
			t.Errorf("private PostgreSQL server: restart to drop %s: %v", name, err)
			return
		}
		if err := s.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("private PostgreSQL server: %v", err)
		}
	})
	return name
}

func (s *pgServer) exec(stmt string) error {
	db, err := sql.Open("pgx", s.url("postgres", ""))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
