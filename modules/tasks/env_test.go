package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"todo/ent/predicate"
	"todo/ent/task"
	"todo/platform/apitest"
	"todo/platform/apperr"
	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/database/dbtest"
	"todo/platform/httpx"
)

// testUserHeader names the caller in tests, standing in for auth's bearer
// token: modules do not import each other.
const testUserHeader = "X-Test-User"

func testAuth(c *gin.Context) {
	uid := c.GetHeader(testUserHeader)
	if uid == "" {
		httpx.WriteError(c, apperr.ErrUnauthorized)
		return
	}
	httpx.SetPrincipal(c, httpx.Principal{UserID: uid, SessionID: "test"})
	c.Next()
}

// backend is one database the module must work on.
type backend struct {
	name string
	open func(testing.TB) *database.DB
}

var backends = []backend{
	{"postgres", dbtest.New},
	{"sqlite", dbtest.NewSQLite},
}

// testEnv is the module served over HTTP on a fresh database.
type testEnv struct {
	db    *database.DB
	mod   *Module
	srv   *apitest.Server
	users atomic.Int64
}

func newTestEnv(t testing.TB, b backend) *testEnv {
	t.Helper()
	return newTestEnvWith(t, b.open(t), Deps{})
}

func newTestEnvWith(t testing.TB, db *database.DB, d Deps) *testEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	e, err := httpx.NewEngine(config.HTTP{}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	d.DB, d.Dialect = db.Ent, db.Dialect
	if d.Query == nil && db.Pool != nil {
		d.Query = db.Query // as todo serve wires it: pgx directly
	}
	if d.Secret == nil {
		d.Secret = []byte("test-secret-test-secret-test-secret!")
	}
	if d.Config.IdempotencyTTL == 0 {
		d.Config.IdempotencyTTL = 24 * time.Hour
	}
	d.Log, d.Binder = log, httpx.NewBinder()
	if d.Now == nil {
		d.Now = time.Now
	}
	mod := New(d)
	mod.Routes(e.Group("/api/v1"), testAuth)
	return &testEnv{db: db, mod: mod, srv: apitest.New(t, e)}
}

// user creates a user directly with Ent and returns its id.
func (e *testEnv) user(t testing.TB) string {
	t.Helper()
	n := e.users.Add(1)
	u, err := e.db.Ent.User.Create().
		SetEmail(fmt.Sprintf("user%d-%d@example.com", n, time.Now().UnixNano())).
		SetName("Test").
		SetHashedPassword("not-a-hash").
		Save(context.Background())
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// do sends a request as uid (none when empty).
func (e *testEnv) do(t testing.TB, uid, method, path string, body any, headers ...http.Header) *apitest.Response {
	t.Helper()
	h := http.Header{}
	if uid != "" {
		h.Set(testUserHeader, uid)
	}
	return e.srv.Do(method, path, body, append([]http.Header{h}, headers...)...)
}

// taskJSON is a task as the API returns it.
type taskJSON struct {
	ID          int64   `json:"id"`
	UserID      string  `json:"user_id"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	Completed   bool    `json:"completed"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	CompletedAt *string `json:"completed_at"`
}

type listJSON struct {
	Items      []taskJSON `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// create makes a task through the API and returns it.
func (e *testEnv) create(t testing.TB, uid, title string) taskJSON {
	t.Helper()
	res := e.do(t, uid, http.MethodPost, "/api/v1/tasks", map[string]any{"title": title})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: status %d, body %s", res.Status, res.Body)
	}
	var tk taskJSON
	res.JSON(&tk)
	return tk
}

func taskPath(id int64) string { return fmt.Sprintf("/api/v1/tasks/%d", id) }

func wantStatus(t testing.TB, res *apitest.Response, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d; body %s", res.Status, status, res.Body)
	}
	if code != "" {
		if p := res.Problem(); p.Code != code {
			t.Fatalf("code %q, want %q; body %s", p.Code, code, res.Body)
		}
	}
}

func taskUser(uid string) predicate.Task { return task.UserID(uid) }

// readTasks reads tasks straight from the database, through the module's
// column list and scanner: `where` follows WHERE.
func (e *testEnv) readTasks(t testing.TB, where string, args ...any) []Task {
	t.Helper()
	rows, err := e.db.Ent.QueryContext(t.Context(), `SELECT `+taskColumns+` FROM "tasks" WHERE `+where+` ORDER BY "id"`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Task
	sc := newTaskScanner(nil)
	for rows.Next() {
		tk, err := sc.scan(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
