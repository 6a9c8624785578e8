package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/eventpost/eventpost/internal/platform/broker"
)

// TLS modes of an SMTP connection, as in EVENTPOST_SMTP_URL's tls parameter.
const (
	// SMTPTLSNone sends in clear text.
	SMTPTLSNone = "none"
	// SMTPTLSStartTLS requires STARTTLS.
	SMTPTLSStartTLS = "starttls"
	// SMTPTLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	SMTPTLSImplicit = "tls"
	// SMTPTLSOpportunistic uses STARTTLS when the server offers it: the mode when the URL
	// names none.
	SMTPTLSOpportunistic = "opportunistic"
)

// SMTPConfig configures an SMTPTransport.
type SMTPConfig struct {
	// Host and Port of the server.
	Host string
	Port int
	// Username and Password for SMTP AUTH; no AUTH when Username is empty.
	Username string
	Password string
	// TLS is one of the SMTPTLS* modes.
	TLS string
	// RootCAs verifies the server's certificate; nil means the system pool.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate. For tests only.
	InsecureSkipVerify bool
	// Timeout bounds dialing and each SMTP command. Default 30s.
	Timeout time.Duration
	// IdleTimeout is how long an unused connection is kept open. Default 30s.
	IdleTimeout time.Duration
	// CheckInterval is how long Check keeps the result of its last probe of the server
	// before it probes again. Default 5s.
	CheckInterval time.Duration
}

// Redacted returns the configuration as a URL without the password, for logs.
func (c SMTPConfig) Redacted() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), RawQuery: "tls=" + c.TLS}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	return u.String()
}

// ParseSMTPURL parses an EVENTPOST_SMTP_URL: smtp://[user:pass@]host[:port][?tls=none|starttls|tls].
// User and password are percent-decoded. Without tls, STARTTLS is used when the server offers
// it. The port defaults to 465 with tls=tls and to 587 otherwise.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	u, err := parseSMTPURLShape(s)
	if err != nil {
		return SMTPConfig{}, err
	}
	c := SMTPConfig{Host: u.Hostname()}
	if c.Host == "" {
		return SMTPConfig{}, errors.New("smtp url: host is missing")
	}
	if c.TLS, err = parseSMTPTLS(u.RawQuery); err != nil {
		return SMTPConfig{}, err
	}
	if c.Port, err = parseSMTPPort(u, c.TLS); err != nil {
		return SMTPConfig{}, err
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, errors.New("smtp url: empty user name")
		}
	}
	return c, nil
}

// parseSMTPURLShape parses s as a URL and checks that it has the smtp scheme and nothing but
// user information, host, port and query.
func parseSMTPURLShape(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	if u.Scheme != "smtp" {
		return nil, fmt.Errorf("smtp url: scheme must be smtp, not %q", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("smtp url: must be smtp://[user:pass@]host[:port][?tls=none|starttls|tls]")
	}
	return u, nil
}

// parseSMTPTLS returns the TLS mode of an SMTP URL's raw query: its one tls parameter, or
// SMTPTLSOpportunistic without one. Any other parameter is an error.
func parseSMTPTLS(rawQuery string) (string, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("smtp url: %w", err)
	}
	mode := SMTPTLSOpportunistic
	for k, v := range q {
		if k != "tls" || len(v) != 1 {
			return "", fmt.Errorf("smtp url: unknown or repeated parameter %q", k)
		}
		switch v[0] {
		case SMTPTLSNone, SMTPTLSStartTLS, SMTPTLSImplicit:
			mode = v[0]
		default:
			return "", fmt.Errorf("smtp url: tls must be none, starttls or tls, not %q", v[0])
		}
	}
	return mode, nil
}

// parseSMTPPort returns the port of an SMTP URL: the one given, else 465 with implicit TLS
// and 587 otherwise. An empty port after a colon is an error.
func parseSMTPPort(u *url.URL, tlsMode string) (int, error) {
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("smtp url: invalid port %q", p)
		}
		return n, nil
	}
	if u.Host != "" && u.Host[len(u.Host)-1] == ':' {
		return 0, errors.New("smtp url: empty port")
	}
	if tlsMode == SMTPTLSImplicit {
		return 465, nil
	}
	return 587, nil
}

// SMTPTransport sends over SMTP, reusing one connection for successive messages: it dials on
// the first send, sends every later message over the same connection, dials again after an
// error or when the server closed the connection, and closes it after IdleTimeout unused.
// Sends are serialized; the transport is safe for concurrent use.
type SMTPTransport struct {
	cfg    SMTPConfig
	tlsCfg *tls.Config
	client *gomail.Client // holds the configuration; connections are kept here
	log    *slog.Logger

	mu       sync.Mutex
	conn     *gosmtp.Client
	raw      net.Conn // the TCP connection under conn, to abort a send
	lastUsed time.Time
	idle     *time.Timer
	closed   bool

	checkMu   sync.Mutex // held by Check; serializes probes
	checkedAt time.Time  // when the last probe ended; zero before the first
	checkErr  error      // the last probe's result
}

var _ Transport = (*SMTPTransport)(nil)

// NewSMTPTransport returns a transport for cfg. It does not connect until the first Send.
func NewSMTPTransport(cfg SMTPConfig, log *slog.Logger) (*SMTPTransport, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 5 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = SMTPTLSOpportunistic
	}
	t := &SMTPTransport{
		cfg: cfg,
		log: log,
		tlsCfg: &tls.Config{
			ServerName:         cfg.Host,
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.InsecureSkipVerify, // for tests only, see SMTPConfig
			MinVersion:         tls.VersionTLS12,
		},
	}
	client, err := t.newClient(t.dial)
	if err != nil {
		return nil, err
	}
	t.client = client
	return t, nil
}

// newClient returns a go-mail client for the transport's server that connects with dial.
func (t *SMTPTransport) newClient(dial gomail.DialContextFunc) (*gomail.Client, error) {
	cfg := t.cfg
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(t.tlsCfg),
		gomail.WithDialContextFunc(dial),
		// A delivered message ends its SMTP transaction; after any error the connection is
		// dropped. A RSET after each message would only cost a round trip.
		gomail.WithoutRset(),
		// Nor a NOOP before each message: a kept connection that went away fails at MAIL
		// FROM, before anything of the message was sent, and Send then reconnects.
		gomail.WithoutNoop(),
	}
	switch cfg.TLS {
	case SMTPTLSNone, SMTPTLSImplicit: // implicit TLS is done by dial
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case SMTPTLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SMTPTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		return nil, fmt.Errorf("smtp transport: unknown tls mode %q", cfg.TLS)
	}
	if cfg.Username != "" {
		// PLAIN and LOGIN are refused on a clear-text connection except to localhost.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp transport: %w", err)
	}
	return client, nil
}

// dial connects to the server and keeps the TCP connection so that a cancelled send can be
// aborted. It runs with t.mu held.
func (t *SMTPTransport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, raw, err := t.connect(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	t.raw = raw
	return conn, nil
}

// connect dials the server, with TLS from the first byte in implicit mode. It returns the
// connection to speak SMTP over and the TCP connection under it.
func (t *SMTPTransport) connect(ctx context.Context, network, addr string) (conn, raw net.Conn, err error) {
	d := net.Dialer{Timeout: t.cfg.Timeout}
	raw, err = d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, nil, err
	}
	conn = raw
	if t.cfg.TLS == SMTPTLSImplicit {
		tc := tls.Client(raw, t.tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, nil, err
		}
		conn = tc
	}
	return conn, raw, nil
}

// Check implements Transport. It probes the server on a connection of its own (connect,
// EHLO, STARTTLS and AUTH as sends do them, then QUIT), so that it never waits for a send,
// and keeps the result for CheckInterval: readiness probes cost the server at most one
// connection per interval.
func (t *SMTPTransport) Check(ctx context.Context) error {
	t.checkMu.Lock()
	defer t.checkMu.Unlock()
	if !t.checkedAt.IsZero() && time.Since(t.checkedAt) < t.cfg.CheckInterval {
		return t.checkErr
	}
	t.checkErr = t.probe(ctx)
	t.checkedAt = time.Now()
	return t.checkErr
}

// probe opens a connection to the server as a send would, and closes it with QUIT. When
// ctx ends first, the connection is cut.
func (t *SMTPTransport) probe(ctx context.Context) error {
	var (
		mu  sync.Mutex
		raw net.Conn
		cut bool
	)
	closeRaw := func() {
		mu.Lock()
		defer mu.Unlock()
		cut = true
		if raw != nil {
			raw.Close()
		}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, r, err := t.connect(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if cut {
			r.Close()
			return nil, context.Cause(ctx)
		}
		raw = r
		return conn, nil
	}
	client, err := t.newClient(dial)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, closeRaw)
	defer stop()
	defer closeRaw() // go-mail leaves the connection open when the greeting, TLS or AUTH fails
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp %s: no answer in time: %w", client.ServerAddr(), context.Cause(ctx))
		}
		return fmt.Errorf("smtp %s: %w", client.ServerAddr(), err)
	}
	// The server answered and took the credentials: a failed goodbye does not matter.
	_ = client.CloseWithSMTPClient(c)
	return nil
}

// Send implements Transport.
func (t *SMTPTransport) Send(ctx context.Context, e Email) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("smtp send: transport closed")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	if t.idle != nil {
		t.idle.Stop()
	}
	for attempt := 1; ; attempt++ {
		reused := t.conn != nil
		if t.conn == nil {
			conn, err := t.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				if t.raw != nil {
					t.raw.Close()
					t.raw = nil
				}
				return fmt.Errorf("smtp connect %s: %w", t.client.ServerAddr(), err)
			}
			t.conn = conn
		}
		raw := t.raw
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		err := t.transact(e)
		aborted := !stop()
		if err == nil {
			t.lastUsed = time.Now()
			t.idle = time.AfterFunc(t.cfg.IdleTimeout, t.closeIdle)
			return nil
		}
		t.drop()
		if aborted {
			return fmt.Errorf("smtp send: %w", context.Cause(ctx))
		}
		var se *SMTPError
		if attempt == 1 && reused && errors.As(err, &se) && se.Step == StepMailFrom {
			// MAIL FROM, the first command of a message, failed on a kept connection: it
			// probably went away (server restart, idle close). Nothing of the message was
			// sent, so connect again and send it once more.
			t.log.DebugContext(ctx, "smtp connection lost; reconnecting", "err", err)
			continue
		}
		return classify(err)
	}
}

// transact sends e over the current connection: MAIL FROM, RCPT TO, DATA and the message as
// it is. t.mu is held.
func (t *SMTPTransport) transact(e Email) error {
	c := t.conn
	if err := c.UpdateDeadline(t.cfg.Timeout); err != nil {
		return &SMTPError{Step: StepMailFrom, Err: err}
	}
	if err := c.Mail("<" + e.From + ">"); err != nil {
		return newSMTPError(StepMailFrom, err)
	}
	if err := c.Rcpt("<" + e.To + ">"); err != nil {
		return newSMTPError(StepRcptTo, err)
	}
	w, err := c.Data()
	if err != nil {
		return newSMTPError(StepData, err)
	}
	if _, err := w.Write(e.Data); err != nil {
		_ = w.Close()
		return &SMTPError{Step: StepData, Err: err}
	}
	if err := w.Close(); err != nil {
		return newSMTPError(StepEndOfData, err)
	}
	return nil
}

// Steps of an SMTP transaction, as SMTPError.Step names them.
const (
	StepMailFrom  = "MAIL FROM"
	StepRcptTo    = "RCPT TO"
	StepData      = "DATA"
	StepEndOfData = "end of DATA"
)

// SMTPError is the failure of one step of sending a message over SMTP: a reply of the server
// that refuses it, or a failure of the connection.
type SMTPError struct {
	// Step is the step that failed: StepMailFrom, StepRcptTo, StepData or StepEndOfData.
	Step string
	// Code is the server's reply code; 0 when no reply came (the connection failed).
	Code int
	// Reply is the server's reply as it gave it ("550 5.1.1 no such user"); empty without
	// one.
	Reply string
	// Err is the underlying error.
	Err error
}

func newSMTPError(step string, err error) *SMTPError {
	se := &SMTPError{Step: step, Err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		se.Code = te.Code
		se.Reply = oneLine(fmt.Sprintf("%03d %s", te.Code, te.Msg))
	}
	return se
}

func (e *SMTPError) Error() string {
	if e.Reply != "" {
		return fmt.Sprintf("%s: %s", e.Step, e.Reply)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

func (e *SMTPError) Unwrap() error { return e.Err }

// Permanent reports whether the server refused for good (a 5xx reply).
func (e *SMTPError) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

// RecipientRejected reports whether the server refused the recipient for good: a 5xx reply
// to RCPT TO, or at the end of DATA (an email has one recipient, so such a refusal is that
// recipient's).
func (e *SMTPError) RecipientRejected() bool {
	return e.Permanent() && (e.Step == StepRcptTo || e.Step == StepEndOfData)
}

// classify marks an SMTP 5xx reply to the message as permanent; every other error (4xx
// replies, network errors, timeouts) stays transient.
func classify(err error) error {
	var se *SMTPError
	if errors.As(err, &se) && se.Permanent() {
		return broker.Permanent(fmt.Errorf("smtp send: %w", err))
	}
	return fmt.Errorf("smtp send: %w", err)
}

// drop closes the current connection without ceremony. t.mu is held.
func (t *SMTPTransport) drop() {
	if t.conn != nil {
		_ = t.conn.Close()
		t.conn = nil
	}
	if t.raw != nil {
		_ = t.raw.Close()
		t.raw = nil
	}
}

// quit says goodbye on the current connection and closes it. t.mu is held.
func (t *SMTPTransport) quit() {
	if t.conn == nil {
		return
	}
	_ = t.conn.UpdateDeadline(5 * time.Second)
	_ = t.client.CloseWithSMTPClient(t.conn)
	t.drop()
}

func (t *SMTPTransport) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil || time.Since(t.lastUsed) < t.cfg.IdleTimeout {
		return
	}
	t.quit()
}

// Close implements Transport: it quits the open connection, if any. Later sends fail.
func (t *SMTPTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.idle != nil {
		t.idle.Stop()
	}
	t.quit()
	return nil
}
