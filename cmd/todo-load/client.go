package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Target kinds.
const (
	modeAuto = "auto" // raw when register answers 404
	modeAPI  = "api"  // the contract's auth: bearer tokens
	modeRaw  = "raw"  // the rawceiling yardstick: X-User-ID, no auth
)

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient returns the client every worker shares: keep-alive
// connections for conc workers per host, no redirects, and unless
// allowRemote a dialer that refuses any address that is not loopback, so
// a name that resolves elsewhere cannot escape the URL check.
func newHTTPClient(conc int, timeout time.Duration, allowRemote bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address (see -allow-remote)", address)
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        4 * conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only, like mobile clients behind most proxies
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// target is one server under load.
type target struct {
	label    string // "A" or "B"
	base     string // base URL without the trailing slash
	mode     string // modeAPI or modeRaw once set up
	client   *http.Client
	accounts []*account
	// createAccount, when set, is the account the create scenario uses,
	// so the seeded lists being measured do not grow (raw targets).
	createAccount *account
	pid           int
}

// name is the label with the kind, "A" or "B (raw)".
func (t *target) name() string {
	if t.mode == modeRaw {
		return t.label + " (raw)"
	}
	return t.label
}

// token is an access token and when to renew it.
type token struct {
	access, refresh string
	renewAt         time.Time
}

// account is a user the workers act as.
type account struct {
	email, password string
	userID          string // raw targets: the X-User-ID
	tok             atomic.Pointer[token]
	renewMu         sync.Mutex
	ids             []int64 // tasks to read, update and toggle; read-only during rounds
	pool            idPool  // tasks to delete
	syncBase        string  // the sync token sync-incremental asks from; read-only during rounds
}

// idPool is a stack of task ids that a delete round consumes.
type idPool struct {
	mu  sync.Mutex
	ids []int64
}

func (p *idPool) push(ids ...int64) {
	p.mu.Lock()
	p.ids = append(p.ids, ids...)
	p.mu.Unlock()
}

func (p *idPool) pop() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return 0, false
	}
	id := p.ids[len(p.ids)-1]
	p.ids = p.ids[:len(p.ids)-1]
	return id, true
}

// apiRequest is one request a scenario makes.
type apiRequest struct {
	method, path string
	body         []byte
	anonymous    bool // sent without credentials (login)
	// items, when set, reads a 2xx response's body and returns how many
	// tasks it carried (the sync scenarios count them); an error ends the
	// round.
	items func(body []byte) (int, error)
}

// tokenPair is the auth endpoints' success body.
type tokenPair struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// store keeps a token pair, to be renewed a tenth of its life (at most a
// minute) before it expires.
func (a *account) store(p tokenPair) {
	ttl := time.Duration(p.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	a.tok.Store(&token{access: p.AccessToken, refresh: p.RefreshToken, renewAt: time.Now().Add(ttl - min(ttl/10, time.Minute))})
}

// statusError is an unexpected status during setup.
type statusError struct {
	op     string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.op, e.status, e.body)
}

// newRequest builds an HTTP request for a, with its credentials, and
// returns the access token it carries (nil for none).
func (t *target) newRequest(ctx context.Context, a *account, r apiRequest) (*http.Request, *token, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, t.base+r.path, body)
	if err != nil {
		return nil, nil, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "todo-load")
	switch {
	case r.anonymous:
	case t.mode == modeRaw:
		req.Header.Set("X-User-ID", a.userID)
	default:
		tk, err := t.authorize(ctx, a)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tk.access)
		return req, tk, nil
	}
	return req, nil, nil
}

// call sends a setup request and decodes a 2xx JSON body into out (if not
// nil); any other status is a *statusError.
func (t *target) call(ctx context.Context, a *account, op string, r apiRequest, out any) error {
	req, _, err := t.newRequest(ctx, a, r)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{op: op, status: resp.StatusCode, body: strings.TrimSpace(string(b[:min(len(b), 300)]))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: decode: %w", op, err)
		}
	}
	return nil
}

// jsonBody marshals v; the values here always marshal.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// register creates a's user and stores its tokens.
func (t *target) register(ctx context.Context, a *account, name string) error {
	var p tokenPair
	body := jsonBody(map[string]string{"email": a.email, "name": name, "password": a.password})
	if err := t.call(ctx, a, "register "+a.email, apiRequest{method: http.MethodPost, path: "/api/v1/auth/register", body: body, anonymous: true}, &p); err != nil {
		return err
	}
	a.userID = p.User.ID
	a.store(p)
	return nil
}

// login logs a in and stores its tokens.
func (t *target) login(ctx context.Context, a *account) error {
	var p tokenPair
	if err := t.call(ctx, a, "login "+a.email, loginRequest(a), &p); err != nil {
		return err
	}
	a.userID = p.User.ID
	a.store(p)
	return nil
}

func loginRequest(a *account) apiRequest {
	return apiRequest{method: http.MethodPost, path: "/api/v1/auth/login", anonymous: true,
		body: jsonBody(map[string]string{"email": a.email, "password": a.password})}
}

// authorize returns a's access token, renewing it first when it nears expiry.
func (t *target) authorize(ctx context.Context, a *account) (*token, error) {
	tk := a.tok.Load()
	if tk != nil && time.Now().Before(tk.renewAt) {
		return tk, nil
	}
	return t.renew(ctx, a, tk)
}

// renew replaces the token stale (nil: none yet) by refreshing, or by
// logging in again when the refresh fails. Concurrent callers with the
// same stale token renew once.
func (t *target) renew(ctx context.Context, a *account, stale *token) (*token, error) {
	a.renewMu.Lock()
	defer a.renewMu.Unlock()
	if cur := a.tok.Load(); cur != stale {
		return cur, nil
	}
	if stale != nil {
		var p tokenPair
		body := jsonBody(map[string]string{"refresh_token": stale.refresh})
		err := t.call(ctx, a, "refresh", apiRequest{method: http.MethodPost, path: "/api/v1/auth/refresh", body: body, anonymous: true}, &p)
		if err == nil {
			a.store(p)
			return a.tok.Load(), nil
		}
	}
	if err := t.login(ctx, a); err != nil {
		return nil, err
	}
	return a.tok.Load(), nil
}

// createTask creates a task as a and returns its id.
func (t *target) createTask(ctx context.Context, a *account, title string) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	body := jsonBody(map[string]string{"title": title})
	if err := t.call(ctx, a, "create task", apiRequest{method: http.MethodPost, path: "/api/v1/tasks", body: body}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// listIDs collects up to n of a's task ids, newest first, following cursors.
func (t *target) listIDs(ctx context.Context, a *account, n int) ([]int64, error) {
	var ids []int64
	cursor := ""
	for len(ids) < n {
		path := "/api/v1/tasks?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := t.call(ctx, a, "list tasks", apiRequest{method: http.MethodGet, path: path}, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		cursor = *page.NextCursor
	}
	return ids[:min(len(ids), n)], nil
}

// hit sends one measured request and returns its status; the body is read
// and discarded so the connection is reused.
func (t *target) hit(req *http.Request) (int, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// fetch is hit for a scenario that reads the response: it returns the body too.
func (t *target) fetch(req *http.Request) (int, []byte, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// syncPage is a page of GET /api/v1/tasks/changes, as far as the tool reads it.
type syncPage struct {
	Changes   []json.RawMessage `json:"changes"`
	NextToken string            `json:"next_token"`
	HasMore   bool              `json:"has_more"`
}

// syncPath is the change feed's path for a page of limit after since
// ("": a full sync).
func syncPath(since string, limit int) string {
	p := "/api/v1/tasks/changes?limit=" + strconv.Itoa(limit)
	if since != "" {
		p += "&since=" + url.QueryEscape(since)
	}
	return p
}

// syncToEnd follows the change feed from since ("": a full sync) until
// has_more is false and returns the last token.
func (t *target) syncToEnd(ctx context.Context, a *account, since string) (string, error) {
	for range 100_000 {
		var page syncPage
		if err := t.call(ctx, a, "sync", apiRequest{method: http.MethodGet, path: syncPath(since, 1000)}, &page); err != nil {
			return "", err
		}
		since = page.NextToken
		if !page.HasMore {
			return since, nil
		}
	}
	return "", errors.New("sync: the feed does not end")
}

// transportCause names why a request got no response.
func transportCause(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "transport"
}

// taskPath is the path of task id.
func taskPath(id int64) string { return "/api/v1/tasks/" + strconv.FormatInt(id, 10) }
