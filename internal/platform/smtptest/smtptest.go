// Package smtptest runs a real SMTP server inside a test process, so that mail transports and
// end-to-end tests can send mail over the wire and read what arrived. The server listens on
// 127.0.0.1 on a free port and can offer STARTTLS or implicit TLS with a certificate generated
// for the test, require AUTH PLAIN credentials, reject the next messages with a chosen reply
// code, refuse chosen recipients at RCPT TO, and be stopped and restarted on the same address
// to simulate an outage.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of a Server, named as in an EVENTPOST_SMTP_URL's tls parameter.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	tlsMode     string
	user, pass  string
	rejectN     int
	rejectCode  int
	rejectRcpt  map[string]int
	readTimeout time.Duration
}

// WithSTARTTLS makes the server offer STARTTLS with a self-signed certificate.
func WithSTARTTLS() Option { return func(o *options) { o.tlsMode = TLSStartTLS } }

// WithImplicitTLS makes the server speak TLS from the first byte (SMTPS).
func WithImplicitTLS() Option { return func(o *options) { o.tlsMode = TLSImplicit } }

// WithAuth makes the server require AUTH PLAIN with these credentials before MAIL FROM.
func WithAuth(username, password string) Option {
	return func(o *options) { o.user, o.pass = username, password }
}

// WithRejectNext makes the server reject the next n messages at the end of DATA with the SMTP
// reply code (such as 451 or 550).
func WithRejectNext(n, code int) Option {
	return func(o *options) { o.rejectN, o.rejectCode = n, code }
}

// WithRejectRecipient makes the server refuse the recipient addr (compared without regard to
// case) at RCPT TO with the SMTP reply code (such as 550 or 450), every time, as a server
// does with a mailbox that does not exist.
func WithRejectRecipient(addr string, code int) Option {
	return func(o *options) {
		if o.rejectRcpt == nil {
			o.rejectRcpt = make(map[string]int)
		}
		o.rejectRcpt[strings.ToLower(addr)] = code
	}
}

// WithIdleTimeout makes the server close a connection on which the client sent nothing for d,
// as real servers do with idle clients.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.readTimeout = d } }

// Message is one message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO).
	To []string
	// Data is the message as transmitted (RFC 5322 with CRLF line endings).
	Data []byte
	// Conn is the number of the connection that carried the message, counting from 1 over the
	// server's lifetime, restarts included.
	Conn int
	// TLS reports whether the connection was encrypted when the message was sent.
	TLS bool
	// User is the authenticated username, if any.
	User string
	// Received is when the server accepted the message.
	Received time.Time
}

// Parse parses the message's data; see Parse.
func (m Message) Parse() (*Parsed, error) { return Parse(m.Data) }

// Server is a running SMTP server for tests. Its methods are safe for concurrent use.
type Server struct {
	opts   options
	tlsCfg *tls.Config
	pool   *x509.CertPool
	addr   string

	mu       sync.Mutex
	messages []Message
	conns    int
	open     int
	rejectN  int
	rejCode  int
	rejRcpt  map[string]int // recipients refused at RCPT TO, lower-cased, with the code
	refused  []string       // recipients refused so far, as given
	changed  chan struct{}  // closed and replaced whenever a message arrives
	srv      *smtp.Server
	ln       net.Listener  // the current server's listener
	served   chan struct{} // closed when the current server's Serve returns
}

// Start starts a server on 127.0.0.1 on a free port. It is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{opts: options{tlsMode: TLSNone}, changed: make(chan struct{})}
	for _, o := range opts {
		o(&s.opts)
	}
	s.rejectN, s.rejCode = s.opts.rejectN, s.opts.rejectCode
	s.rejRcpt = make(map[string]int)
	for addr, code := range s.opts.rejectRcpt {
		s.rejRcpt[addr] = code
	}
	if s.opts.tlsMode != TLSNone {
		cfg, pool, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.tlsCfg, s.pool = cfg, pool
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns an EVENTPOST_SMTP_URL for the server, with its credentials and TLS mode.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr, RawQuery: "tls=" + s.opts.tlsMode}
	if s.opts.user != "" {
		u.User = url.UserPassword(s.opts.user, s.opts.pass)
	}
	return u.String()
}

// CertPool returns a pool that trusts the server's certificate, or nil when the server does
// not use TLS.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Connections returns how many connections the server accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// OpenConnections returns how many connections are open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// RejectNext makes the server reject the next n messages at the end of DATA with code.
func (s *Server) RejectNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectN, s.rejCode = n, code
}

// RejectRecipient makes the server refuse addr (compared without regard to case) at RCPT TO
// with code from now on; code 0 accepts it again.
func (s *Server) RejectRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.rejRcpt, strings.ToLower(addr))
		return
	}
	s.rejRcpt[strings.ToLower(addr)] = code
}

// RefusedRecipients returns the recipients the server refused at RCPT TO so far, oldest
// first.
func (s *Server) RefusedRecipients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

// WaitForMessages waits until at least n messages have arrived and returns all of them; after
// timeout it returns those that arrived with an error.
func (s *Server) WaitForMessages(n int, timeout time.Duration) ([]Message, error) {
	msgs, ok := s.wait(timeout, func(msgs []Message) bool { return len(msgs) >= n })
	if !ok {
		return msgs, fmt.Errorf("smtptest: %d of %d messages arrived within %s", len(msgs), n, timeout)
	}
	return msgs, nil
}

// WaitFor waits until a message for which match returns true has arrived and returns the first
// such message; after timeout it returns an error.
func (s *Server) WaitFor(match func(Message) bool, timeout time.Duration) (Message, error) {
	var found Message
	msgs, ok := s.wait(timeout, func(msgs []Message) bool {
		for _, m := range msgs {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	if !ok {
		return Message{}, fmt.Errorf("smtptest: no matching message among %d within %s", len(msgs), timeout)
	}
	return found, nil
}

// wait passes the messages arrived so far to done, and again each time more arrive, until it
// returns true or timeout passes. It returns the messages done saw last and whether it
// returned true.
func (s *Server) wait(timeout time.Duration, done func([]Message) bool) ([]Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, changed := slices.Clone(s.messages), s.changed
		s.mu.Unlock()
		if done(msgs) {
			return msgs, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return msgs, false
		}
	}
}

// Stop closes the listener and every open connection. Clients see connection errors until
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln, served := s.srv, s.ln, s.served
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	// srv.Close closes only the listeners Serve has registered; Serve may not have started.
	_ = ln.Close()
	<-served
}

// Restart stops the server if it runs and starts it again on the same address, keeping the
// messages received so far.
func (s *Server) Restart() error {
	s.Stop()
	var (
		ln  net.Listener
		err error
	)
	for range 50 { // the port can take a moment to be free again
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("smtptest: restart on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	var l net.Listener = &countingListener{Listener: ln, s: s}
	if s.opts.tlsMode == TLSImplicit {
		l = tls.NewListener(l, s.tlsCfg)
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = s.tlsCfg
	srv.AllowInsecureAuth = s.opts.tlsMode == TLSNone
	srv.ReadTimeout = s.opts.readTimeout
	srv.MaxMessageBytes = 32 << 20
	served := make(chan struct{})
	s.mu.Lock()
	s.srv, s.ln, s.served = srv, l, served
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
}

type countingListener struct {
	net.Listener
	s *Server
}

// numberedConn is an accepted connection with its number.
type numberedConn struct {
	net.Conn
	n    int
	s    *Server
	once sync.Once
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns++
	l.s.open++
	n := l.s.conns
	l.s.mu.Unlock()
	return &numberedConn{Conn: c, n: n, s: l.s}, nil
}

func (c *numberedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.open--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

func connNumber(c net.Conn) int {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if nc, ok := c.(*numberedConn); ok {
		return nc.n
	}
	return 0
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: s, conn: connNumber(c.Conn()), tls: isTLS}, nil
}

type session struct {
	s      *Server
	conn   int
	tls    bool
	user   string
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.user || password != ss.s.opts.pass {
			return smtp.ErrAuthFailed
		}
		ss.user, ss.authed = username, true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, ok := s.rejRcpt[strings.ToLower(to)]; ok {
		s.refused = append(s.refused, to)
		return &smtp.SMTPError{
			Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1},
			Message: "no such recipient here (smtptest)",
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rejectN > 0 {
		s.rejectN--
		code := s.rejCode
		return &smtp.SMTPError{
			Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0},
			Message: "rejected by smtptest",
		}
	}
	s.messages = append(s.messages, Message{
		From: ss.from, To: slices.Clone(ss.to), Data: data, Conn: ss.conn, TLS: ss.tls,
		User: ss.user, Received: time.Now(),
	})
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// selfSigned returns a server TLS config with a fresh self-signed certificate for 127.0.0.1,
// ::1 and localhost, and a pool that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pool, nil
}
