package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// outgoing is a claimed mail ready to send: the body has its secret in
// place.
type outgoing struct {
	id        int64
	to        string
	subject   string
	body      string
	secret    string // already in body; kept to redact it from errors
	attempts  int
	createdAt time.Time
}

// sender sends a batch of mails.
type sender interface {
	// send sends ms in order and returns one error per mail, nil for a
	// mail sent. Before each mail it calls proceed; once that reports
	// false, the remaining mails are not attempted and get errNotAttempted.
	// A *permanentError marks a mail the server refused for good.
	send(ctx context.Context, ms []outgoing, proceed func() bool) []error
	// describe names where mail goes, for the log: never credentials.
	describe() string
}

// errNotAttempted marks a mail of a batch that the sender did not try.
var errNotAttempted = errors.New("not attempted")

// permanentError is a refusal that sending again cannot change: a 5xx
// reply to the recipient or to the content, or an address that cannot be
// written.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// newSender returns the SMTP sender of cfg, or the log sender when cfg has
// no SMTP URL.
func newSender(cfg Config, log *slog.Logger) (sender, error) {
	if cfg.SMTPURL == "" {
		return logSender{log: log}, nil
	}
	return newSMTPSender(cfg)
}

// logSender is the embedded default: each mail, secret included, is written
// to the log, and counts as sent.
type logSender struct{ log *slog.Logger }

func (s logSender) send(ctx context.Context, ms []outgoing, proceed func() bool) []error {
	errs := make([]error, len(ms))
	for i, m := range ms {
		if !proceed() {
			errs[i] = errNotAttempted
			continue
		}
		s.log.InfoContext(ctx, "mail (MAIL_SMTP_URL is empty: written to the log, not sent)",
			"mail_id", m.id, "to", m.to, "subject", m.subject, "body", m.body)
	}
	return errs
}

func (logSender) describe() string { return "the log (MAIL_SMTP_URL is empty)" }

// smtpSender sends through an SMTP server with go-mail, one connection
// per batch.
type smtpSender struct {
	host        string
	opts        []gomail.Option
	tlsConfig   *tls.Config
	implicitTLS bool
	from        string
	domain      string // of the From address, for Message-IDs
	where       string // the URL without credentials
}

// Default ports: submission with STARTTLS, and implicit TLS.
const (
	defaultSMTPPort  = 587
	defaultSMTPSPort = 465
)

// stopGrace is how long a stopping worker waits for the server's answer to
// the mail in flight before it cuts the connection.
const stopGrace = 3 * time.Second

func newSMTPSender(cfg Config) (*smtpSender, error) {
	u, err := url.Parse(cfg.SMTPURL)
	if err != nil {
		return nil, errors.New("MAIL_SMTP_URL: not a URL")
	}
	host := u.Hostname()
	implicitTLS := u.Scheme == "smtps"
	port := defaultSMTPPort
	if implicitTLS {
		port = defaultSMTPSPort
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("MAIL_SMTP_URL: port %q: %w", p, err)
		}
	}
	roots, err := rootCAs(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	tlsConfig := &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithTLSPolicy(tlsPolicy(u)),
	}
	if implicitTLS {
		opts = append(opts, gomail.WithSSL())
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		// AUTH PLAIN: go-mail sends it only over TLS or to a loopback
		// name, and tlsPolicy makes TLS mandatory for any other host.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("MAIL_SMTP_URL: %w", err)
	}
	where := (&url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}).String()
	return &smtpSender{host: host, opts: opts, tlsConfig: tlsConfig, implicitTLS: implicitTLS,
		from: cfg.From, domain: domain, where: where}, nil
}

// tlsPolicy is STARTTLS when the server offers it, and required when the
// URL has credentials for a host that is not loopback: a password is never
// sent in the clear across a network. (smtps:// is TLS from the start and
// ignores the policy.)
func tlsPolicy(u *url.URL) gomail.TLSPolicy {
	if u.User != nil && !isLoopback(u.Hostname()) {
		return gomail.TLSMandatory
	}
	return gomail.TLSOpportunistic
}

// isLoopback reports whether host is a loopback name go-mail also treats as
// one (its AUTH PLAIN refuses any other host without TLS).
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// rootCAs is the system's roots plus the certificates of file, if any.
func rootCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil // crypto/tls uses the system's roots
	}
	pem, err := os.ReadFile(file) //nolint:gosec // G304: MAIL_SMTP_CA_FILE is the operator's setting
	if err != nil {
		return nil, fmt.Errorf("MAIL_SMTP_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("MAIL_SMTP_CA_FILE: %s holds no PEM certificate", file)
	}
	return pool, nil
}

func (s *smtpSender) describe() string { return s.where }

func (s *smtpSender) send(ctx context.Context, ms []outgoing, proceed func() bool) []error {
	errs := make([]error, len(ms))
	if len(ms) == 0 {
		return errs
	}
	// go-mail heeds ctx only while dialing; past that its deadlines are
	// the timeout's. When ctx ends, the connection is closed at once unless
	// a mail is in flight: the server may already have that mail, and
	// cutting it off before its answer would hand it back to be delivered a
	// second time. That mail gets up to stopGrace to be answered; then the
	// connection is closed (so a shutdown never waits on a slow server
	// longer), and no further mail is begun. What was not answered is
	// handed back (see sendBatch).
	var (
		mu       sync.Mutex
		conn     net.Conn
		inFlight bool // a mail is between MAIL FROM and the answer to its DATA
		stopping bool
		grace    *time.Timer
	)
	cut := func() {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
	}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var (
			c   net.Conn
			err error
		)
		if s.implicitTLS {
			c, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig}).DialContext(dctx, network, addr)
		} else {
			c, err = d.DialContext(dctx, network, addr)
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		return c, err
	}
	stopCutting := context.AfterFunc(ctx, func() {
		mu.Lock()
		stopping = true
		if inFlight {
			grace = time.AfterFunc(stopGrace, cut)
			mu.Unlock()
			return
		}
		mu.Unlock()
		cut()
	})
	defer func() {
		stopCutting()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
	}()
	client, err := gomail.NewClient(s.host, append(s.opts, gomail.WithDialContextFunc(dial))...)
	var c *smtp.Client
	if err == nil {
		c, err = client.DialToSMTPClientWithContext(ctx)
	}
	if err != nil {
		cut()
		for i := range errs {
			errs[i] = fmt.Errorf("connect to %s: %w", s.where, err)
		}
		return errs
	}
	defer func() { _ = client.CloseWithSMTPClient(c) }()
	for i, m := range ms {
		if !proceed() {
			errs[i] = errNotAttempted
			continue
		}
		msg, err := s.message(m)
		if err != nil {
			errs[i] = err
			continue
		}
		mu.Lock()
		inFlight = !stopping
		mu.Unlock()
		if !inFlight {
			errs[i] = errNotAttempted
			continue
		}
		err = client.SendWithSMTPClient(c, msg)
		mu.Lock()
		inFlight = false
		if stopping && conn != nil {
			_ = conn.Close() // the answer is in; nothing more to say
		}
		mu.Unlock()
		if err != nil && msg.IsDelivered() {
			// The server answered the end of DATA with a 2xx: it has the
			// mail. Only what followed failed (the RSET that readies the
			// connection for the next mail, on a server that hung up):
			// trying again would deliver it again at every retry.
			err = nil
		}
		errs[i] = classify(err)
	}
	return errs
}

// message builds the MIME message of m: a text/plain UTF-8 body, quoted-
// printable, and a Message-ID made of the outbox row's id, the same on
// every attempt, so that a receiver can tell a repeated mail.
func (s *smtpSender) message(m outgoing) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %w", err)
	}
	if err := msg.To(m.to); err != nil {
		return nil, &permanentError{fmt.Errorf("recipient: %w", err)}
	}
	msg.Subject(m.subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.body)
	msg.SetDate()
	msg.SetMessageIDWithValue(fmt.Sprintf("todo-mail-%d.%d@%s", m.id, m.createdAt.UnixMicro(), s.domain))
	return msg, nil
}

// classify marks a server's 5xx reply to the recipient or to the content
// permanent. Anything else is worth trying again: a refused connection, a
// 4xx, a timeout, and also a 5xx to MAIL FROM or AUTH, which says the
// configuration is wrong (every mail would fail the same way) rather than
// this mail.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() {
		switch {
		case se.Reason == gomail.ErrGetRcpts:
			return &permanentError{err}
		case se.ErrorCode() >= 500 && se.ErrorCode() < 600 &&
			(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose):
			return &permanentError{err}
		}
	}
	return err
}
