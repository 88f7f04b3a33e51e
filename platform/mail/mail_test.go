package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"todo/ent"
	"todo/ent/mailoutbox"
	"todo/platform/database"
	"todo/platform/database/dbtest"
)

// eachDB runs f on a fresh PostgreSQL database and a fresh SQLite one.
func eachDB(t *testing.T, f func(t *testing.T, db *database.DB)) {
	t.Run("postgres", func(t *testing.T) { t.Parallel(); f(t, dbtest.New(t)) })
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, dbtest.NewSQLite(t)) })
}

// testConfig sends to srv, trusting its certificate, polling often.
func testConfig(srv *testServer) Config {
	return Config{
		SMTPURL:      srv.url(),
		From:         "todo <no-reply@todo.test>",
		CAFile:       srv.caFile,
		Timeout:      5 * time.Second,
		PollInterval: 20 * time.Millisecond,
		GiveUpAfter:  72 * time.Hour,
	}
}

// testLog writes the worker's warnings and errors to the test's log.
func testLog(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func newTestWorker(t *testing.T, db *database.DB, cfg Config, now func() time.Time) *Worker {
	t.Helper()
	w, err := NewWorker(db.Ent, db.Dialect, cfg, testLog(t), now)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	return w
}

// enqueue queues ms in one committed transaction.
func enqueue(t *testing.T, db *database.DB, ms ...Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := Enqueue(ctx, tx, m); err != nil {
			_ = tx.Rollback()
			t.Fatalf("Enqueue(%+v): %v", m, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func rows(t *testing.T, db *database.DB) []*ent.MailOutbox {
	t.Helper()
	rs, err := db.Ent.MailOutbox.Query().Order(ent.Asc(mailoutbox.FieldID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func verifyMail(to, token string) Message {
	return Message{
		To:      to,
		Subject: "Confirm your email",
		Body:    "Confirm your address:\n\nhttp://127.0.0.1:8080/verify-email?token={{secret}}\n",
		Secret:  token,
	}
}

// TestDeliver: a mail goes out over STARTTLS with AUTH PLAIN, with its
// secret in the body, and its row keeps no secret afterwards.
func TestDeliver(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		srv := newTestServer(t, withAuth("mailer", "s3cret pass"))
		cfg := testConfig(srv)
		cfg.SMTPURL = "smtp://mailer:s3cret%20pass@" + srv.addr
		w := newTestWorker(t, db, cfg, time.Now)
		startWorker(t, w)

		token := "tok_ABCdef-0123456789"
		enqueue(t, db, verifyMail("Ann <ann@example.com>", token))
		w.Wake()
		waitFor(t, "the mail at the server", func() bool { return len(srv.mails()) == 1 })

		got := srv.mails()[0]
		if !got.TLS || got.AuthUser != "mailer" {
			t.Errorf("TLS %v, AUTH user %q; want STARTTLS and AUTH PLAIN as mailer", got.TLS, got.AuthUser)
		}
		if got.From != "no-reply@todo.test" || got.To != "ann@example.com" {
			t.Errorf("envelope %q → %q", got.From, got.To)
		}
		if s := got.Header.Get("Subject"); s != "Confirm your email" {
			t.Errorf("Subject %q", s)
		}
		if f := got.Header.Get("From"); !strings.Contains(f, "no-reply@todo.test") {
			t.Errorf("From %q", f)
		}
		if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
			t.Errorf("Content-Type %q", ct)
		}
		if !strings.Contains(got.Body, "/verify-email?token="+token+"\r\n") {
			t.Errorf("body does not carry the token:\n%s", got.Body)
		}
		if strings.Contains(got.Body, SecretMarker) {
			t.Errorf("the marker reached the mail:\n%s", got.Body)
		}

		waitFor(t, "the row marked sent", func() bool { return rows(t, db)[0].SentAt != nil })
		r := rows(t, db)[0]
		if r.Secret != nil || r.ClaimedUntil != nil || r.FailedAt != nil || r.Attempts != 1 || r.LastError != "" {
			t.Errorf("sent row: secret %v, claimed_until %v, failed_at %v, attempts %d, last_error %q",
				r.Secret, r.ClaimedUntil, r.FailedAt, r.Attempts, r.LastError)
		}
		assertNoSecretAtRest(t, db, token)
	})
}

// assertNoSecretAtRest reads every column of every row as text and fails
// when token is in any.
func assertNoSecretAtRest(t *testing.T, db *database.DB, token string) {
	t.Helper()
	q := `SELECT "id", COALESCE("secret", ''), "body", "last_error", "to_addr", "subject" FROM "mail_outbox"`
	rs, err := db.SQL.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var secret, body, lastErr, to, subj string
		if err := rs.Scan(&id, &secret, &body, &lastErr, &to, &subj); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{secret, body, lastErr, to, subj} {
			if strings.Contains(v, token) {
				t.Errorf("row %d still holds the token", id)
			}
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestImplicitTLS: smtps:// speaks TLS from the first byte.
func TestImplicitTLS(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t, withImplicitTLS())
	w := newTestWorker(t, db, testConfig(srv), time.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("bo@example.com", "tok1"))
	w.Wake()
	waitFor(t, "the mail at the server", func() bool { return len(srv.mails()) == 1 })
	if m := srv.mails()[0]; !m.TLS || !strings.Contains(m.Body, "token=tok1") {
		t.Errorf("TLS %v, body %q", m.TLS, m.Body)
	}
}

// TestOutageThenRecovery: with the SMTP server down, each attempt fails and
// the next waits longer; once the server is back, the mail is delivered,
// once.
func TestOutageThenRecovery(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		srv := newTestServer(t)
		srv.down()
		clock := newFakeClock()
		start := clock.Now()
		cfg := testConfig(srv)
		cfg.PollInterval = time.Hour // only Wake moves it: every attempt below is one the test asked for
		w := newTestWorker(t, db, cfg, clock.Now)
		startWorker(t, w)
		logf := func(format string, args ...any) {
			t.Logf("T+%-8s "+format, append([]any{clock.Now().Sub(start).Round(time.Second)}, args...)...)
		}

		token := "reset_tok-XYZ"
		enqueue(t, db, Message{To: "cy@example.com", Subject: "Reset your password",
			Body: "Reset it here: http://127.0.0.1:8080/reset-password?token={{secret}}\n", Secret: token})
		logf("queued mail to cy@example.com; SMTP server at %s is down (cuts every connection)", srv.addr)
		w.Wake()

		const failures = 3
		var prevWait time.Duration
		for attempt := 1; attempt <= failures; attempt++ {
			waitFor(t, fmt.Sprintf("attempt %d recorded", attempt), func() bool {
				r := rows(t, db)[0]
				return r.Attempts == attempt && r.ClaimedUntil == nil
			})
			r := rows(t, db)[0]
			wait := r.NextAttemptAt.Sub(clock.Now())
			nominal := retryBase << (attempt - 1)
			logf("attempt %d failed: %s; next attempt in %s", attempt, r.LastError, wait.Round(time.Second))
			if r.SentAt != nil || r.FailedAt != nil || r.Secret == nil {
				t.Fatalf("after a failed attempt: sent_at %v, failed_at %v, secret kept %v", r.SentAt, r.FailedAt, r.Secret != nil)
			}
			if !strings.Contains(r.LastError, "connect to smtp://") {
				t.Errorf("last_error %q does not say the connection failed", r.LastError)
			}
			if wait < nominal/2 || wait > nominal {
				t.Errorf("attempt %d: backoff %s, want within [%s, %s]", attempt, wait, nominal/2, nominal)
			}
			if wait < prevWait {
				t.Errorf("attempt %d: backoff %s shrank from %s", attempt, wait, prevWait)
			}
			prevWait = wait

			// Not yet due: a nudge a moment before sends nothing.
			clock.Advance(wait - time.Second)
			w.Wake()
			time.Sleep(30 * time.Millisecond)
			if n := rows(t, db)[0].Attempts; n != attempt {
				t.Fatalf("the mail was tried before it was due: %d attempts", n)
			}
			if attempt == failures {
				srv.up()
				logf("SMTP server is back")
			}
			clock.Advance(time.Second)
			w.Wake()
		}
		if c := srv.cutCount(); c != failures {
			t.Errorf("the server saw %d connections during the outage, want %d (one per attempt)", c, failures)
		}
		waitFor(t, "the mail at the server", func() bool { return len(srv.mails()) == 1 })
		waitFor(t, "the row marked sent", func() bool { return rows(t, db)[0].SentAt != nil })
		r := rows(t, db)[0]
		got := srv.mails()[0]
		logf("attempt %d delivered: sent_at set, secret cleared (%v), last_error %q", r.Attempts, r.Secret == nil, r.LastError)
		t.Logf("delivered message as the server received it:\n%s", got.Raw)

		// Nothing more goes out, however long we wait.
		clock.Advance(24 * time.Hour)
		w.Wake()
		time.Sleep(50 * time.Millisecond)
		if n := len(srv.mails()); n != 1 {
			t.Errorf("the server received %d mails, want exactly 1", n)
		}
		if !strings.Contains(got.Body, "token="+token) || r.Secret != nil || r.Attempts != failures+1 {
			t.Errorf("token delivered %v, secret left %v, attempts %d (want %d)", strings.Contains(got.Body, token), r.Secret != nil, r.Attempts, failures+1)
		}
		assertNoSecretAtRest(t, db, token)
	})
}

// TestRestartMidQueue: a worker stopped with mail queued hands back what it
// did not send; one that dies holding a claim loses it when the lease ends.
// Either way the next worker delivers every mail, none twice.
func TestRestartMidQueue(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		srv := newTestServer(t)
		clock := newFakeClock()
		cfg := testConfig(srv)
		const n = 30
		var ms []Message
		for i := range n {
			ms = append(ms, verifyMail(fmt.Sprintf("u%02d@example.com", i), fmt.Sprintf("tok%02d", i)))
		}
		enqueue(t, db, ms...)

		// A worker that dies holding a claim: it claimed a batch and never
		// came back to it.
		dead := newTestWorker(t, db, cfg, clock.Now)
		held, err := dead.claim(context.Background(), dead.clock(), dead.clock().Add(dead.lease))
		if err != nil || len(held) != batchSize {
			t.Fatalf("claim: %d rows, %v", len(held), err)
		}

		// A worker stopped gracefully after its first mails.
		first := newTestWorker(t, db, cfg, clock.Now)
		stop := startWorker(t, first)
		waitFor(t, "some mail sent by the first worker", func() bool { return len(srv.mails()) >= 3 })
		stop()
		sentByFirst := len(srv.mails())
		if sentByFirst >= n-batchSize {
			t.Logf("the first worker sent %d before it stopped", sentByFirst)
		}
		for _, r := range rows(t, db) {
			if r.ClaimedUntil != nil && r.SentAt == nil && !containsID(held, r.ID) {
				t.Errorf("mail %d is still claimed after a graceful stop", r.ID)
			}
		}

		second := newTestWorker(t, db, cfg, clock.Now)
		startWorker(t, second)
		waitFor(t, "every mail not held by the dead worker", func() bool { return len(srv.mails()) >= n-batchSize })
		if got := len(srv.mails()); got != n-batchSize {
			t.Errorf("before the dead worker's lease ended the server received %d mails, want %d", got, n-batchSize)
		}
		clock.Advance(second.lease) // the dead worker's lease ends
		second.Wake()
		waitFor(t, "every mail", func() bool { return len(srv.mails()) == n })
		time.Sleep(50 * time.Millisecond)
		assertEachOnce(t, srv, n)
		waitFor(t, "every row sent", func() bool {
			for _, r := range rows(t, db) {
				if r.SentAt == nil {
					return false
				}
			}
			return true
		})
	})
}

func containsID(ms []*ent.MailOutbox, id int64) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

// assertEachOnce checks the server received n mails, each address once.
func assertEachOnce(t *testing.T, srv *testServer, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range srv.mails() {
		seen[m.To]++
	}
	if len(srv.mails()) != n || len(seen) != n {
		t.Errorf("server received %d mails for %d addresses, want %d each once", len(srv.mails()), len(seen), n)
	}
	for to, c := range seen {
		if c != 1 {
			t.Errorf("%s received %d mails", to, c)
		}
	}
}

// TestTwoWorkersOnePostgres: two workers, each with its own pool, drain a
// burst together; each mail goes out exactly once, and both take part.
func TestTwoWorkersOnePostgres(t *testing.T) {
	db, url := dbtest.NewWithURL(t)
	other := dbtest.Open(t, dbtest.Config(url))
	srv := newTestServer(t)
	const n = 300
	var ms []Message
	for i := range n {
		ms = append(ms, verifyMail(fmt.Sprintf("p%03d@example.com", i), fmt.Sprintf("tok%03d", i)))
	}
	enqueue(t, db, ms...)

	// Each worker sends from its own address, so the server can tell them apart.
	cfgA, cfgB := testConfig(srv), testConfig(srv)
	cfgA.From, cfgB.From = "a@todo.test", "b@todo.test"
	a := newTestWorker(t, db, cfgA, time.Now)
	b := newTestWorker(t, other, cfgB, time.Now)
	startWorker(t, a)
	startWorker(t, b)
	waitFor(t, "every mail", func() bool { return len(srv.mails()) >= n })
	// The server has them all; the workers mark their batches sent after.
	waitFor(t, "every row marked sent", func() bool {
		for _, r := range rows(t, db) {
			if r.SentAt == nil {
				return false
			}
		}
		return true
	})
	assertEachOnce(t, srv, n)

	// Each row was claimed once.
	for _, r := range rows(t, db) {
		if r.Attempts != 1 || r.SentAt == nil {
			t.Errorf("row %d: attempts %d, sent %v", r.ID, r.Attempts, r.SentAt != nil)
		}
	}
	byWorker := map[string]int{}
	for _, m := range srv.mails() {
		byWorker[m.From]++
	}
	if byWorker["a@todo.test"] == 0 || byWorker["b@todo.test"] == 0 {
		t.Errorf("one worker sent everything: %v", byWorker)
	}
	conns := func() int { srv.mu.Lock(); defer srv.mu.Unlock(); return srv.conns }()
	t.Logf("%d mails over %d SMTP connections, by worker: %v", n, conns, byWorker)
}

// TestPermanentRejection: a 5xx to the recipient gives the mail up at once,
// with the reason, and it is never tried again; the other mails of its
// batch go out.
func TestPermanentRejection(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		srv := newTestServer(t, withReject("nobody@example.com"))
		clock := newFakeClock()
		w := newTestWorker(t, db, testConfig(srv), clock.Now)
		startWorker(t, w)
		enqueue(t, db, verifyMail("nobody@example.com", "tokbad"), verifyMail("dee@example.com", "tokgood"))
		w.Wake()
		waitFor(t, "both outcomes", func() bool {
			rs := rows(t, db)
			return rs[0].FailedAt != nil && rs[1].SentAt != nil
		})
		for range 5 { // days pass, the worker is nudged: no retry storm
			clock.Advance(24 * time.Hour)
			w.Wake()
			time.Sleep(20 * time.Millisecond)
		}
		r := rows(t, db)[0]
		if r.Secret != nil || r.SentAt != nil || r.Attempts != 1 || !strings.Contains(r.LastError, "550") ||
			!strings.Contains(r.LastError, "no such mailbox") {
			t.Errorf("rejected row: secret kept %v, sent %v, attempts %d, last_error %q", r.Secret != nil, r.SentAt != nil, r.Attempts, r.LastError)
		}
		if c := srv.rcptCount("nobody@example.com"); c != 1 {
			t.Errorf("the server was asked %d times for the rejected address, want 1", c)
		}
		if len(srv.mails()) != 1 || srv.mails()[0].To != "dee@example.com" {
			t.Errorf("server received %+v", srv.mails())
		}
		assertNoSecretAtRest(t, db, "tokbad")
	})
}

// TestGiveUpAfterMaxAge: a mail still failing MAIL_GIVE_UP_AFTER after it
// was queued is given up, its last attempt at that limit.
func TestGiveUpAfterMaxAge(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t)
	srv.down()
	clock := newFakeClock()
	cfg := testConfig(srv)
	cfg.GiveUpAfter = 10 * time.Minute
	cfg.PollInterval = time.Hour
	w := newTestWorker(t, db, cfg, clock.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("ed@example.com", "tokold"))
	created := rows(t, db)[0].CreatedAt
	w.Wake()
	for attempts := 0; ; {
		if attempts > 20 {
			t.Fatalf("not given up after %d attempts", attempts)
		}
		waitFor(t, fmt.Sprintf("attempt %d", attempts+1), func() bool {
			r := rows(t, db)[0]
			return r.Attempts > attempts && r.ClaimedUntil == nil
		})
		r := rows(t, db)[0]
		attempts = r.Attempts
		if r.FailedAt != nil {
			break
		}
		if r.NextAttemptAt.After(created.Add(cfg.GiveUpAfter)) {
			t.Errorf("next attempt %s is after the limit %s", r.NextAttemptAt, created.Add(cfg.GiveUpAfter))
		}
		clock.Advance(r.NextAttemptAt.Sub(clock.Now()))
		w.Wake()
	}
	r := rows(t, db)[0]
	if !strings.HasPrefix(r.LastError, "gave up after ") || r.Secret != nil {
		t.Errorf("last_error %q, secret kept %v", r.LastError, r.Secret != nil)
	}
	if r.FailedAt.Before(created.Add(cfg.GiveUpAfter)) {
		t.Errorf("given up at %s, before the limit %s", r.FailedAt, created.Add(cfg.GiveUpAfter))
	}
}

// TestCertificateVerified: a server whose certificate is not trusted gets
// no mail; the reason is recorded and the mail waits.
func TestCertificateVerified(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t)
	cfg := testConfig(srv)
	cfg.CAFile = ""
	w := newTestWorker(t, db, cfg, time.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("fay@example.com", "tokfay"))
	w.Wake()
	waitFor(t, "a failed attempt", func() bool { return rows(t, db)[0].LastError != "" })
	r := rows(t, db)[0]
	if len(srv.mails()) != 0 || !strings.Contains(r.LastError, "certificate") || r.SentAt != nil || r.FailedAt != nil {
		t.Errorf("mails %d, row sent %v failed %v, last_error %q", len(srv.mails()), r.SentAt != nil, r.FailedAt != nil, r.LastError)
	}
}

// TestWrongPassword: an AUTH refusal is the configuration's fault, not the
// mail's: it is retried, not given up.
func TestWrongPassword(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t, withAuth("mailer", "right"))
	cfg := testConfig(srv)
	cfg.SMTPURL = "smtp://mailer:wrong@" + srv.addr
	w := newTestWorker(t, db, cfg, time.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("gus@example.com", "tokgus"))
	w.Wake()
	waitFor(t, "a failed attempt", func() bool { return rows(t, db)[0].LastError != "" })
	r := rows(t, db)[0]
	if r.FailedAt != nil || r.Secret == nil || !strings.Contains(r.LastError, "535") {
		t.Errorf("failed_at %v, secret kept %v, last_error %q", r.FailedAt, r.Secret != nil, r.LastError)
	}
}

// TestWakeSendsAtOnce: with a poll an hour away, Wake alone sends new mail.
func TestWakeSendsAtOnce(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t)
	cfg := testConfig(srv)
	cfg.PollInterval = time.Hour
	w := newTestWorker(t, db, cfg, time.Now)
	startWorker(t, w)
	time.Sleep(50 * time.Millisecond) // past the first poll, at start
	enqueue(t, db, verifyMail("hal@example.com", "tokhal"))
	time.Sleep(50 * time.Millisecond)
	if len(srv.mails()) != 0 {
		t.Fatal("sent without a Wake or a poll")
	}
	w.Wake()
	waitFor(t, "the mail at the server", func() bool { return len(srv.mails()) == 1 })
}

// TestEnqueueRefuses: a message that could inject headers, or that cannot
// be sent as meant, is refused and writes nothing.
func TestEnqueueRefuses(t *testing.T) {
	good := verifyMail("ivy@example.com", "tok")
	cases := []struct {
		name string
		edit func(*Message)
	}{
		{"to/crlf-bcc", func(m *Message) { m.To = "ivy@example.com\r\nBcc: all@example.com" }},
		{"to/lf", func(m *Message) { m.To = "ivy@example.com\nX: y" }},
		{"to/two-addresses", func(m *Message) { m.To = "ivy@example.com, jo@example.com" }},
		{"to/not-an-address", func(m *Message) { m.To = "ivy" }},
		{"to/empty", func(m *Message) { m.To = "" }},
		{"to/dots-in-a-row", func(m *Message) { m.To = "ivy..jo@example.com" }}, // CheckAddress: no header can carry it
		{"to/too-long", func(m *Message) { m.To = strings.Repeat("a", 250) + "@example.com" }},
		{"subject/crlf", func(m *Message) { m.Subject = "Hi\r\nBcc: all@example.com" }},
		{"subject/cr", func(m *Message) { m.Subject = "Hi\rthere" }},
		{"subject/empty", func(m *Message) { m.Subject = " " }},
		{"body/empty", func(m *Message) { m.Body, m.Secret = "", "" }},
		{"secret/no-marker", func(m *Message) { m.Body = "no marker" }},
		{"marker/no-secret", func(m *Message) { m.Secret = "" }},
		{"secret/newline", func(m *Message) { m.Secret = "a\nb" }},
	}
	eachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		for _, c := range cases {
			m := good
			c.edit(&m)
			tx, err := db.Ent.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = Enqueue(ctx, tx, m)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%s: Enqueue = %v, want ErrInvalidMessage", c.name, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(rows(t, db)); n != 0 {
			t.Errorf("%d rows written by refused messages", n)
		}
		enqueue(t, db, good, Message{To: "Jo Smith <jo@example.com>", Subject: "Héllo ✓", Body: "no secret here"})
		if n := len(rows(t, db)); n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
	})
}

// TestEnqueueRollsBack: mail queued in a transaction that rolls back is
// never sent.
func TestEnqueueRollsBack(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		tx, err := db.Ent.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := Enqueue(ctx, tx, verifyMail("kim@example.com", "tok")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := len(rows(t, db)); n != 0 {
			t.Errorf("%d rows after a rollback", n)
		}
	})
}

// TestLogSender: with no SMTP URL each mail, secret in place, is written
// to the log and recorded sent.
func TestLogSender(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		var (
			mu  sync.Mutex
			buf bytes.Buffer
		)
		log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
		cfg := Config{From: "todo <no-reply@localhost>", Timeout: time.Second, PollInterval: 20 * time.Millisecond, GiveUpAfter: time.Hour}
		w, err := NewWorker(db.Ent, db.Dialect, cfg, log, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		startWorker(t, w)
		enqueue(t, db, verifyMail("lou@example.com", "toklog-123"))
		w.Wake()
		waitFor(t, "the row marked sent", func() bool { return rows(t, db)[0].SentAt != nil })
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		for _, want := range []string{`"to":"lou@example.com"`, `"subject":"Confirm your email"`, `verify-email?token=toklog-123`, "MAIL_SMTP_URL is empty"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %s:\n%s", want, out)
			}
		}
		if rows(t, db)[0].Secret != nil {
			t.Error("the secret stayed in the row")
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPurge: sent mail goes after a week, given-up mail after a month,
// pending mail never.
func TestPurge(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		w := newTestWorker(t, db, Config{From: "a@b.c", Timeout: time.Second, PollInterval: time.Second, GiveUpAfter: time.Hour}, clock.Now)
		now := w.clock()
		day := 24 * time.Hour
		mk := func(age time.Duration, sent, failed bool) {
			c := db.Ent.MailOutbox.Create().SetToAddr("x@example.com").SetSubject("s").SetBody("b").
				SetCreatedAt(now.Add(-age)).SetNextAttemptAt(now.Add(-age))
			if sent {
				c.SetSentAt(now.Add(-age))
			}
			if failed {
				c.SetFailedAt(now.Add(-age))
			}
			if err := c.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		mk(8*day, true, false)   // purged
		mk(6*day, true, false)   // kept: sent less than a week ago
		mk(31*day, false, true)  // purged
		mk(8*day, false, true)   // kept: given up less than a month ago
		mk(40*day, false, false) // kept: pending
		n, err := w.Purge(ctx)
		if err != nil || n != 2 {
			t.Fatalf("Purge = %d, %v; want 2", n, err)
		}
		if left := len(rows(t, db)); left != 3 {
			t.Errorf("%d rows left, want 3", left)
		}
		if job := w.PurgeJob(); job.Every != purgeEvery || job.Run(ctx) != nil {
			t.Errorf("PurgeJob: every %s", job.Every)
		}
	})
}

// TestNoPasswordWithoutTLS: credentials for a host that is not loopback
// need STARTTLS; a server that does not offer it gets neither password nor
// mail. On loopback, a server without TLS may take them.
func TestNoPasswordWithoutTLS(t *testing.T) {
	db := dbtest.NewSQLite(t)
	// 127.0.0.2 reaches this machine but is not a loopback name to the
	// sender (only localhost, 127.0.0.1 and ::1 are).
	remote := newTestServer(t, withoutTLS("127.0.0.2"), withAuth("mailer", "pw"))
	w := newTestWorker(t, db, testConfig(remote), time.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("ned@example.com", "tokned"))
	w.Wake()
	waitFor(t, "a failed attempt", func() bool { return rows(t, db)[0].LastError != "" })
	remote.mu.Lock()
	auths := remote.auths
	remote.mu.Unlock()
	if r := rows(t, db)[0]; auths != 0 || len(remote.mails()) != 0 || !strings.Contains(r.LastError, "STARTTLS") {
		t.Errorf("AUTH exchanges %d, mails %d, last_error %q; want none, none, a STARTTLS refusal", auths, len(remote.mails()), r.LastError)
	}

	db2 := dbtest.NewSQLite(t)
	local := newTestServer(t, withoutTLS("127.0.0.1"), withAuth("mailer", "pw"))
	w2 := newTestWorker(t, db2, testConfig(local), time.Now)
	startWorker(t, w2)
	enqueue(t, db2, verifyMail("ned@example.com", "tokned"))
	w2.Wake()
	waitFor(t, "the mail at the loopback server", func() bool { return len(local.mails()) == 1 })
	if m := local.mails()[0]; m.TLS || m.AuthUser != "mailer" {
		t.Errorf("TLS %v, AUTH user %q", m.TLS, m.AuthUser)
	}
}

// TestHungServer: a server that accepts and never answers costs one
// timeout, then the mail waits for its retry.
func TestHungServer(t *testing.T) {
	db := dbtest.NewSQLite(t)
	ln := hungListener(t)
	cfg := Config{SMTPURL: "smtp://" + ln.Addr().String(), From: "a@todo.test", Timeout: 300 * time.Millisecond,
		PollInterval: time.Hour, GiveUpAfter: time.Hour}
	w := newTestWorker(t, db, cfg, time.Now)
	startWorker(t, w)
	enqueue(t, db, verifyMail("olga@example.com", "tokolga"))
	began := time.Now()
	w.Wake()
	waitFor(t, "a failed attempt", func() bool { return rows(t, db)[0].LastError != "" })
	r := rows(t, db)[0]
	if took := time.Since(began); took > 5*time.Second || r.SentAt != nil || r.FailedAt != nil || r.ClaimedUntil != nil {
		t.Errorf("took %s; row sent %v failed %v claimed %v; last_error %q", took, r.SentAt != nil, r.FailedAt != nil, r.ClaimedUntil != nil, r.LastError)
	}
}

// TestStopWhileConnecting: a worker stopped while it waits for the server
// hands its batch back, due at once, instead of counting a failure.
func TestStopWhileConnecting(t *testing.T) {
	db := dbtest.NewSQLite(t)
	ln := hungListener(t)
	cfg := Config{SMTPURL: "smtp://" + ln.Addr().String(), From: "a@todo.test", Timeout: time.Minute,
		PollInterval: time.Hour, GiveUpAfter: time.Hour}
	w := newTestWorker(t, db, cfg, time.Now)
	stop := startWorker(t, w)
	enqueue(t, db, verifyMail("pia@example.com", "tokpia"))
	w.Wake()
	waitFor(t, "the claim", func() bool { return rows(t, db)[0].ClaimedUntil != nil })
	time.Sleep(50 * time.Millisecond) // connecting to the server that never greets
	stop()
	r := rows(t, db)[0]
	if r.ClaimedUntil != nil || r.Attempts != 0 || r.LastError != "" || r.NextAttemptAt.After(time.Now()) {
		t.Errorf("after the stop: claimed %v, attempts %d, last_error %q, next %s", r.ClaimedUntil != nil, r.Attempts, r.LastError, r.NextAttemptAt)
	}
}

// hungListener accepts connections and never answers them.
func hungListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return ln
}

// TestBodyIntact: lines SMTP treats specially (a lone dot, leading dots,
// "From "), long lines and non-ASCII text arrive as written.
func TestBodyIntact(t *testing.T) {
	db := dbtest.NewSQLite(t)
	srv := newTestServer(t)
	w := newTestWorker(t, db, testConfig(srv), time.Now)
	startWorker(t, w)
	body := "Hello Zoë,\n.\n..two dots\nFrom here on\n" + strings.Repeat("long-", 40) + "{{secret}}\n"
	enqueue(t, db, Message{To: "zoe@example.com", Subject: "Réinitialiser ✓", Body: body, Secret: "tok_zoe"})
	w.Wake()
	waitFor(t, "the mail at the server", func() bool { return len(srv.mails()) == 1 })
	got := srv.mails()[0]
	want := strings.ReplaceAll(strings.ReplaceAll(body, "{{secret}}", "tok_zoe"), "\n", "\r\n")
	if got.Body != want {
		t.Errorf("body:\n%q\nwant:\n%q", got.Body, want)
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(got.Header.Get("Subject")); err != nil || subj != "Réinitialiser ✓" {
		t.Errorf("Subject %q (%v)", subj, err)
	}
}

func TestTLSPolicy(t *testing.T) {
	for _, c := range []struct {
		url  string
		want gomail.TLSPolicy
	}{
		{"smtp://mail.example.com", gomail.TLSOpportunistic},
		{"smtp://u:p@mail.example.com", gomail.TLSMandatory},
		{"smtp://u:p@127.0.0.2:25", gomail.TLSMandatory},
		{"smtp://u:p@localhost:25", gomail.TLSOpportunistic},
		{"smtp://u:p@127.0.0.1:25", gomail.TLSOpportunistic},
		{"smtp://u:p@[::1]:25", gomail.TLSOpportunistic},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := tlsPolicy(u); got != c.want {
			t.Errorf("%s: %s, want %s", c.url, got, c.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempts, nominal := range map[int]time.Duration{0: retryMax, 1: 30 * time.Second, 2: time.Minute, 6: 16 * time.Minute, 7: retryMax, 40: retryMax} {
		for range 50 {
			if d := backoff(attempts); d < nominal/2 || d > nominal || d%time.Microsecond != 0 {
				t.Fatalf("backoff(%d) = %s, want whole µs within [%s, %s]", attempts, d, nominal/2, nominal)
			}
		}
	}
}

// TestDeliveredMailNotResentWhenRSETFails: a server that accepted a mail
// (250 to the end of its DATA) and then dropped the connection, so that
// the RSET after it failed, has the mail: it is recorded sent, not retried
// and delivered again at every retry until it is given up. The rest of the
// batch, which the dropped connection could not carry, goes out later,
// each mail once.
func TestDeliveredMailNotResentWhenRSETFails(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		srv := newTestServer(t, withHangUpAfterData())
		clock := newFakeClock()
		w := newTestWorker(t, db, testConfig(srv), clock.Now)
		startWorker(t, w)
		enqueue(t, db, verifyMail("first@example.com", "tok-first"), verifyMail("second@example.com", "tok-second"))
		w.Wake()
		settled := func(r *ent.MailOutbox) bool { return r.SentAt != nil || r.LastError != "" || r.FailedAt != nil }
		waitFor(t, "the first attempt recorded", func() bool {
			rs := rows(t, db)
			return settled(rs[0]) && settled(rs[1])
		})
		if r := rows(t, db)[0]; r.SentAt == nil || r.Secret != nil {
			t.Errorf("the mail the server accepted: sent_at %v, secret kept %v, last_error %q; want it recorded sent",
				r.SentAt, r.Secret != nil, r.LastError)
		}
		for range 4 { // the second mail's retries fall due
			before := rows(t, db)[1].Attempts
			clock.Advance(time.Hour)
			w.Wake()
			waitFor(t, "the second mail's next attempt", func() bool {
				r := rows(t, db)[1]
				return r.Attempts > before && r.ClaimedUntil == nil
			})
			if rows(t, db)[1].SentAt != nil {
				break
			}
		}
		if rs := rows(t, db); rs[0].SentAt == nil || rs[1].SentAt == nil {
			t.Fatalf("not every mail sent after four retries: %v, %v", rs[0].SentAt, rs[1].SentAt)
		}
		per := map[string]int{}
		for _, m := range srv.mails() {
			per[m.To]++
		}
		if per["first@example.com"] != 1 || per["second@example.com"] != 1 {
			t.Errorf("deliveries per address %v, want each mail once", per)
		}
	})
}

// TestStopMidMailRecordsIt: a worker stopped while the server is taking a
// mail (it has the mail, its answer to DATA is on the way) waits for that
// answer and records the mail sent, instead of cutting the connection and
// handing back a mail the server already has (which the next worker would
// deliver a second time); the rest of the batch is handed back, due at once.
func TestStopMidMailRecordsIt(t *testing.T) {
	eachDB(t, func(t *testing.T, db *database.DB) {
		arrived := make(chan struct{}, 8)
		release := make(chan struct{})
		srv := newTestServer(t, withHeldReply(func() {
			arrived <- struct{}{}
			<-release
		}))
		w := newTestWorker(t, db, testConfig(srv), time.Now)
		stop := startWorker(t, w)
		enqueue(t, db, verifyMail("held@example.com", "tok-held"), verifyMail("next@example.com", "tok-next"))
		w.Wake()
		select {
		case <-arrived:
		case <-time.After(time.Minute):
			t.Fatal("the server never received the first mail")
		}
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		time.Sleep(200 * time.Millisecond) // the stop has begun; the server still holds its answer
		close(release)
		<-stopped
		rs := rows(t, db)
		if rs[0].SentAt == nil || rs[0].ClaimedUntil != nil {
			t.Errorf("the mail the server took during the stop: sent_at %v, claimed %v, last_error %q; want it recorded sent",
				rs[0].SentAt, rs[0].ClaimedUntil != nil, rs[0].LastError)
		}
		if rs[1].SentAt != nil || rs[1].ClaimedUntil != nil || rs[1].Attempts != 0 || rs[1].NextAttemptAt.After(time.Now()) {
			t.Errorf("the mail not begun: sent_at %v, claimed %v, attempts %d, next %s; want it handed back, due at once",
				rs[1].SentAt, rs[1].ClaimedUntil != nil, rs[1].Attempts, rs[1].NextAttemptAt)
		}
		if got := len(srv.mails()); got != 1 {
			t.Errorf("the server received %d mails, want 1", got)
		}
	})
}
