package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testServer is a real SMTP server in the test process (go-smtp): it
// offers STARTTLS with a self-signed certificate that the test trusts
// through MAIL_SMTP_CA_FILE, requires AUTH PLAIN (over TLS) when it has
// credentials, refuses the addresses of reject with 550, and records what it
// received. down makes it an outage: every connection is cut before the
// greeting (the port stays bound, so that no other test's server takes it
// meanwhile) until up.
type testServer struct {
	t           *testing.T
	addr        string
	caFile      string
	tlsConfig   *tls.Config
	implicitTLS bool
	noTLS       bool   // offer no STARTTLS (and take AUTH in the clear)
	host        string // listen address; 127.0.0.1 unless set
	user, pass  string
	// hangUpAfterData closes each connection right after the server has
	// answered a mail's DATA (a server that takes one mail per connection,
	// or a connection lost then): the next command, RSET, fails. It needs
	// the clear (withoutTLS) to see the answer.
	hangUpAfterData bool
	reject          map[string]bool
	// holdReply, when set, is called once a mail's DATA has been received
	// and recorded, before the server answers it.
	holdReply func()

	mu       sync.Mutex
	srv      *smtp.Server
	isDown   bool
	cut      int // connections cut while down
	received []received
	rcpts    map[string]int // RCPT TO commands per address, refused ones included
	conns    int
	auths    int // AUTH exchanges the server saw
}

// received is one mail the server accepted.
type received struct {
	From, To      string
	TLS           bool
	AuthUser      string
	Header        netmail.Header
	Body          string // decoded from quoted-printable
	Raw           []byte
	ReceivedAtSeq int
}

type serverOption func(*testServer)

func withAuth(user, pass string) serverOption {
	return func(s *testServer) { s.user, s.pass = user, pass }
}

func withReject(addrs ...string) serverOption {
	return func(s *testServer) {
		for _, a := range addrs {
			s.reject[a] = true
		}
	}
}

// withHangUpAfterData makes a server without TLS that closes the
// connection once it has accepted a mail.
func withHangUpAfterData() serverOption {
	return func(s *testServer) { s.noTLS, s.host, s.hangUpAfterData = true, "127.0.0.1", true }
}

// withHeldReply makes a server that records each mail and then calls hold
// before it answers the DATA: the mail is the server's, the client does not
// know it yet.
func withHeldReply(hold func()) serverOption {
	return func(s *testServer) { s.holdReply = hold }
}

func withImplicitTLS() serverOption { return func(s *testServer) { s.implicitTLS = true } }

// withoutTLS makes a server that offers no STARTTLS and accepts AUTH in the
// clear, listening on host.
func withoutTLS(host string) serverOption {
	return func(s *testServer) { s.noTLS, s.host = true, host }
}

// newTestServer starts a server on a free loopback port; it is stopped when
// the test ends.
func newTestServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	s := &testServer{t: t, reject: map[string]bool{}, rcpts: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	s.tlsConfig, s.caFile = selfSigned(t)
	host := "127.0.0.1"
	if s.host != "" {
		host = s.host
	}
	s.start(net.JoinHostPort(host, "0"))
	t.Cleanup(s.stop)
	return s
}

// url is the MAIL_SMTP_URL of the server, with its credentials if any.
func (s *testServer) url() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	if s.user != "" {
		return scheme + "://" + s.user + ":" + s.pass + "@" + s.addr
	}
	return scheme + "://" + s.addr
}

func (s *testServer) start(addr string) {
	s.t.Helper()
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("test SMTP server: listen on %s: %v", addr, err)
	}
	var ln net.Listener = &gateListener{Listener: raw, s: s}
	if s.implicitTLS {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &testSession{s: s, c: c}, nil
	}))
	srv.Domain = "smtp.todo.test"
	if s.noTLS {
		srv.AllowInsecureAuth = true
	} else {
		srv.TLSConfig = s.tlsConfig
	}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	s.mu.Lock()
	s.srv, s.addr = srv, raw.Addr().String()
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// gateListener cuts every connection while its server is down.
type gateListener struct {
	net.Listener
	s *testServer
}

func (g *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.s.mu.Lock()
		down := g.s.isDown
		if down {
			g.s.cut++
		}
		g.s.mu.Unlock()
		if !down {
			if g.s.hangUpAfterData {
				return &hangUpConn{Conn: c}, nil
			}
			return c, nil
		}
		_ = c.Close()
	}
}

// hangUpConn closes itself once it has written the server's acceptance of
// a mail (go-smtp's "250 2.0.0 OK: queued").
type hangUpConn struct{ net.Conn }

func (c *hangUpConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if bytes.Contains(p, []byte("OK: queued")) {
		_ = c.Close()
	}
	return n, err
}

// down starts an outage: new connections are cut at once.
func (s *testServer) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isDown = true
}

// up ends the outage.
func (s *testServer) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isDown = false
}

// cutCount is how many connections the outage cut.
func (s *testServer) cutCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut
}

// stop closes the server for good.
func (s *testServer) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *testServer) mails() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

func (s *testServer) rcptCount(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcpts[addr]
}

// testSession is one SMTP connection to the test server.
type testSession struct {
	s        *testServer
	c        *smtp.Conn
	authUser string
	from, to string
}

func (ss *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *testSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		ss.s.mu.Lock()
		ss.s.auths++
		ss.s.mu.Unlock()
		if ss.s.user == "" || user != ss.s.user || pass != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.authUser = user
		return nil
	}), nil
}

func (ss *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.rcpts[to]++
	ss.s.mu.Unlock()
	if ss.s.reject[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox: " + to}
	}
	if ss.to != "" {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "one recipient per mail here"}
	}
	ss.to = to
	return nil
}

func (ss *testSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable message: " + err.Error()}
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		if body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
			return err
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, received{
		From: ss.from, To: ss.to, TLS: isTLS, AuthUser: ss.authUser, Header: msg.Header,
		Body: string(body), Raw: raw, ReceivedAtSeq: len(ss.s.received),
	})
	hold := ss.s.holdReply
	ss.s.mu.Unlock()
	if hold != nil {
		hold()
	}
	return nil
}

func (ss *testSession) Reset()        { ss.from, ss.to = "", "" }
func (ss *testSession) Logout() error { return nil }

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost,
// and writes it to a PEM file for MAIL_SMTP_CA_FILE.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "todo test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, file
}

// fakeClock is a settable clock, started at the wall clock (rows are
// stamped with the wall clock when they are queued).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitFor polls cond until it holds, failing the test after two minutes: a
// guard against a hang, far beyond what a loaded machine needs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startWorker runs w until the returned stop is called (or the test ends).
func startWorker(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
