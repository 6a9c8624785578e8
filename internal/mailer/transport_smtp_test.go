package mailer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url     string
		want    mailer.SMTPConfig
		wantErr bool
	}{
		{url: "smtp://mail.example.com", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 587, TLS: mailer.SMTPTLSOpportunistic}},
		{url: "smtp://mail.example.com:2525", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 2525, TLS: mailer.SMTPTLSOpportunistic}},
		{url: "smtp://mail.example.com?tls=none", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 587, TLS: mailer.SMTPTLSNone}},
		{url: "smtp://mail.example.com?tls=starttls", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 587, TLS: mailer.SMTPTLSStartTLS}},
		{url: "smtp://mail.example.com?tls=tls", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 465, TLS: mailer.SMTPTLSImplicit}},
		{url: "smtp://mail.example.com:4650?tls=tls", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 4650, TLS: mailer.SMTPTLSImplicit}},
		{url: "smtp://mail.example.com/", want: mailer.SMTPConfig{Host: "mail.example.com", Port: 587, TLS: mailer.SMTPTLSOpportunistic}},
		{
			url:  "smtp://user%40example.com:p%40ss%3Aw%2Fd@127.0.0.1:25?tls=none",
			want: mailer.SMTPConfig{Host: "127.0.0.1", Port: 25, Username: "user@example.com", Password: "p@ss:w/d", TLS: mailer.SMTPTLSNone},
		},
		{url: "smtp://user@[::1]:25", want: mailer.SMTPConfig{Host: "::1", Port: 25, Username: "user", TLS: mailer.SMTPTLSOpportunistic}},
		{url: "", wantErr: true},
		{url: "mail.example.com:25", wantErr: true},
		{url: "smtps://mail.example.com", wantErr: true},
		{url: "http://mail.example.com", wantErr: true},
		{url: "smtp://", wantErr: true},
		{url: "smtp://:25", wantErr: true},
		{url: "smtp://mail.example.com:", wantErr: true},
		{url: "smtp://mail.example.com:0", wantErr: true},
		{url: "smtp://mail.example.com:70000", wantErr: true},
		{url: "smtp://mail.example.com:abc", wantErr: true},
		{url: "smtp://mail.example.com?tls=ssl", wantErr: true},
		{url: "smtp://mail.example.com?tls=", wantErr: true},
		{url: "smtp://mail.example.com?tls=none&tls=tls", wantErr: true},
		{url: "smtp://mail.example.com?tsl=none", wantErr: true},
		{url: "smtp://mail.example.com/path", wantErr: true},
		{url: "smtp://mail.example.com#frag", wantErr: true},
		{url: "smtp://:pass@mail.example.com", wantErr: true},
		{url: "smtp:mail.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := mailer.ParseSMTPURL(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSMTPURL = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSMTPURL: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPConfigRedactedHidesPassword(t *testing.T) {
	c, err := mailer.ParseSMTPURL("smtp://user:secret@mail.example.com?tls=tls")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Redacted(); strings.Contains(got, "secret") || got != "smtp://user@mail.example.com:465?tls=tls" {
		t.Errorf("Redacted = %q", got)
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{"smtp://a:b@h:25?tls=tls", "smtp://h", "smtp://[::1]:1?tls=none", "smtp://%zz@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := mailer.ParseSMTPURL(s)
		if err != nil {
			return
		}
		if c.Host == "" || c.Port < 1 || c.Port > 65535 {
			t.Errorf("ParseSMTPURL(%q) = %+v: invalid host or port", s, c)
		}
		switch c.TLS {
		case mailer.SMTPTLSNone, mailer.SMTPTLSStartTLS, mailer.SMTPTLSImplicit, mailer.SMTPTLSOpportunistic:
		default:
			t.Errorf("ParseSMTPURL(%q) TLS = %q", s, c.TLS)
		}
	})
}

// newSMTP returns a transport for srv, configured from its URL, closed when the test ends.
func newSMTP(t *testing.T, srv *smtptest.Server, edit ...func(*mailer.SMTPConfig)) *mailer.SMTPTransport {
	t.Helper()
	cfg, err := mailer.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = srv.CertPool()
	cfg.Timeout = 10 * time.Second
	for _, e := range edit {
		e(&cfg)
	}
	tr, err := mailer.NewSMTPTransport(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func welcomeMsg(t *testing.T, to string) mailer.Email {
	t.Helper()
	return renderEmail(t, messages.EmailSend{Kind: messages.EmailWelcome, To: to, Name: "Ann"})
}

func reminderMsg(t *testing.T, to string) mailer.Email {
	t.Helper()
	return renderEmail(t, messages.EmailSend{Kind: messages.EmailReminder, To: to, Event: testEvent()})
}

// renderEmail renders req into an email ready to send.
func renderEmail(t *testing.T, req messages.EmailSend) mailer.Email {
	t.Helper()
	m, _, err := newRenderer(t).Render(req, renderNow)
	if err != nil {
		t.Fatal(err)
	}
	e, err := mailer.EmailOf(m)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSMTPTransportModes(t *testing.T) {
	tests := []struct {
		name     string
		opts     []smtptest.Option
		url      func(*smtptest.Server) string // nil: the server's URL
		wantTLS  bool
		wantUser string
	}{
		{name: "clear text", opts: nil},
		{name: "STARTTLS", opts: []smtptest.Option{smtptest.WithSTARTTLS()}, wantTLS: true},
		{name: "implicit TLS", opts: []smtptest.Option{smtptest.WithImplicitTLS()}, wantTLS: true},
		{name: "clear text with AUTH to localhost", opts: []smtptest.Option{smtptest.WithAuth("ann", "pw")}, wantUser: "ann"},
		{name: "STARTTLS with AUTH", opts: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("ann", "s3cr:t@")}, wantTLS: true, wantUser: "ann"},
		{name: "implicit TLS with AUTH", opts: []smtptest.Option{smtptest.WithImplicitTLS(), smtptest.WithAuth("ann", "pw")}, wantTLS: true, wantUser: "ann"},
		{
			name: "no tls parameter upgrades when offered", opts: []smtptest.Option{smtptest.WithSTARTTLS()},
			url: func(s *smtptest.Server) string { return "smtp://" + s.Addr() }, wantTLS: true,
		},
		{
			name: "no tls parameter stays clear when not offered",
			url:  func(s *smtptest.Server) string { return "smtp://" + s.Addr() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			tr := newSMTP(t, srv, func(c *mailer.SMTPConfig) {
				if tt.url != nil {
					u, err := mailer.ParseSMTPURL(tt.url(srv))
					if err != nil {
						t.Fatal(err)
					}
					u.RootCAs, u.Timeout = c.RootCAs, c.Timeout
					*c = u
				}
			})
			const n = 3
			for i := range n {
				if err := tr.Send(context.Background(), reminderMsg(t, fmt.Sprintf("p%d@example.com", i))); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
			}
			msgs, err := srv.WaitForMessages(n, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range msgs {
				want := []string{fmt.Sprintf("p%d@example.com", i)}
				if diff := cmp.Diff(want, m.To); diff != "" || m.From != "no-reply@eventpost.local" {
					t.Errorf("message %d envelope from %q to %v, want no-reply@eventpost.local to %v", i, m.From, m.To, want)
				}
				if m.TLS != tt.wantTLS || m.User != tt.wantUser {
					t.Errorf("message %d: TLS %t user %q, want TLS %t user %q", i, m.TLS, m.User, tt.wantTLS, tt.wantUser)
				}
				if m.Conn != 1 {
					t.Errorf("message %d came over connection %d, want all over connection 1", i, m.Conn)
				}
				p, err := m.Parse()
				if err != nil {
					t.Fatal(err)
				}
				if p.Text == "" || p.HTML == "" || p.Attachments["event.ics"].Data == nil {
					t.Errorf("message %d incomplete", i)
				}
			}
			if c := srv.Connections(); c != 1 {
				t.Errorf("%d connections for %d messages, want 1", c, n)
			}
		})
	}
}

func TestSMTPTransportRefusesToConnect(t *testing.T) {
	tests := []struct {
		name string
		opts []smtptest.Option
		edit func(*mailer.SMTPConfig)
	}{
		{
			name: "STARTTLS required but not offered",
			edit: func(c *mailer.SMTPConfig) { c.TLS = mailer.SMTPTLSStartTLS },
		},
		{
			name: "certificate not trusted",
			opts: []smtptest.Option{smtptest.WithSTARTTLS()},
			edit: func(c *mailer.SMTPConfig) { c.RootCAs = nil },
		},
		{
			name: "implicit TLS certificate not trusted",
			opts: []smtptest.Option{smtptest.WithImplicitTLS()},
			edit: func(c *mailer.SMTPConfig) { c.RootCAs = nil },
		},
		{
			name: "wrong password",
			opts: []smtptest.Option{smtptest.WithAuth("ann", "pw")},
			edit: func(c *mailer.SMTPConfig) { c.Password = "wrong" },
		},
		{
			name: "credentials missing",
			opts: []smtptest.Option{smtptest.WithAuth("ann", "pw")},
			edit: func(c *mailer.SMTPConfig) { c.Username, c.Password = "", "" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			tr := newSMTP(t, srv, tt.edit)
			err := tr.Send(context.Background(), welcomeMsg(t, "ann@example.com"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message arrived")
			}
			if tt.name == "credentials missing" {
				if !broker.IsPermanent(err) {
					t.Errorf("error %v: a 5xx refusal of MAIL FROM should be permanent", err)
				}
				return
			}
			if broker.IsPermanent(err) {
				t.Errorf("error %v is permanent; a connection or setup failure must stay transient", err)
			}
		})
	}
}

func TestSMTPTransportInsecureSkipVerify(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithImplicitTLS())
	tr := newSMTP(t, srv, func(c *mailer.SMTPConfig) { c.RootCAs, c.InsecureSkipVerify = nil, true })
	if err := tr.Send(context.Background(), welcomeMsg(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPTransportClassifiesReplies(t *testing.T) {
	tests := []struct {
		code          int
		wantPermanent bool
	}{
		{code: 421}, {code: 450}, {code: 451}, {code: 452},
		{code: 550, wantPermanent: true}, {code: 552, wantPermanent: true}, {code: 554, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.WithRejectNext(1, tt.code))
			tr := newSMTP(t, srv)
			err := tr.Send(context.Background(), welcomeMsg(t, "ann@example.com"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := broker.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("permanent = %t, want %t (err %v)", got, tt.wantPermanent, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.code)) {
				t.Errorf("error %q does not name the reply code", err)
			}
			// The next message goes through, over a new connection.
			if err := tr.Send(context.Background(), welcomeMsg(t, "ann@example.com")); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if n := len(srv.Messages()); n != 1 {
				t.Errorf("%d messages arrived, want 1", n)
			}
		})
	}
}

func TestSMTPTransportReconnects(t *testing.T) {
	tests := []struct {
		name   string
		opts   []smtptest.Option
		outage func(t *testing.T, srv *smtptest.Server)
	}{
		{
			name: "after a server restart",
			outage: func(t *testing.T, srv *smtptest.Server) {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "after the server closed the idle connection",
			opts: []smtptest.Option{smtptest.WithIdleTimeout(100 * time.Millisecond)},
			outage: func(t *testing.T, srv *smtptest.Server) {
				waitFor(t, "server closes the idle connection", func() bool { return srv.OpenConnections() == 0 })
			},
		},
		{
			name: "after a TLS server restart",
			opts: []smtptest.Option{smtptest.WithSTARTTLS()},
			outage: func(t *testing.T, srv *smtptest.Server) {
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			tr := newSMTP(t, srv)
			if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
				t.Fatal(err)
			}
			tt.outage(t, srv)
			if err := tr.Send(context.Background(), welcomeMsg(t, "b@example.com")); err != nil {
				t.Fatalf("Send after the outage: %v", err)
			}
			msgs, err := srv.WaitForMessages(2, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if msgs[0].Conn != 1 || msgs[1].Conn != 2 {
				t.Errorf("messages over connections %d and %d, want 1 and 2", msgs[0].Conn, msgs[1].Conn)
			}
		})
	}
}

func TestSMTPTransportServerDown(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv)
	srv.Stop()
	err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com"))
	if err == nil || broker.IsPermanent(err) {
		t.Fatalf("Send to a stopped server = %v, want a transient error", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
		t.Fatalf("Send after the restart: %v", err)
	}
}

func TestSMTPTransportClosesIdleConnection(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv, func(c *mailer.SMTPConfig) { c.IdleTimeout = 50 * time.Millisecond })
	if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "transport closes the idle connection", func() bool { return srv.OpenConnections() == 0 })
	if err := tr.Send(context.Background(), welcomeMsg(t, "b@example.com")); err != nil {
		t.Fatal(err)
	}
	if c := srv.Connections(); c != 2 {
		t.Errorf("%d connections, want 2", c)
	}
}

func TestSMTPTransportConcurrentSends(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv)
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tr.Send(context.Background(), welcomeMsg(t, fmt.Sprintf("p%d@example.com", i))); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if _, err := srv.WaitForMessages(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := srv.Connections(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}

func TestSMTPPoolSpreadsConcurrentSendsOverItsConnections(t *testing.T) {
	srv := smtptest.Start(t)
	cfg, err := mailer.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := mailer.NewSMTPPool(cfg, 3, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pool.Send(context.Background(), welcomeMsg(t, fmt.Sprintf("p%d@example.com", i))); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	msgs, err := srv.WaitForMessages(n, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Errorf("%d messages arrived, want %d", len(msgs), n)
	}
	if c := srv.Connections(); c < 2 || c > 3 {
		t.Errorf("%d connections for 30 concurrent sends through a pool of 3, want 2 or 3", c)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connections closed", func() bool { return srv.OpenConnections() == 0 })
}

func TestSMTPTransportClose(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv)
	if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection closed", func() bool { return srv.OpenConnections() == 0 })
	if err := tr.Send(context.Background(), welcomeMsg(t, "b@example.com")); err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestNewTransport(t *testing.T) {
	dir := t.TempDir()
	tr, err := mailer.NewTransport(mailer.Config{MailDir: dir}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if ft, ok := tr.(*mailer.FileTransport); !ok || ft.Dir() != dir {
		t.Errorf("NewTransport without SMTP URL = %T, want a file transport in %s", tr, dir)
	}
	srv := smtptest.Start(t, smtptest.WithSTARTTLS())
	tr, err = mailer.NewTransport(mailer.Config{MailDir: dir, SMTPURL: srv.URL(), SMTPRootCAs: srv.CertPool()}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	if msgs, err := srv.WaitForMessages(1, 10*time.Second); err != nil || !msgs[0].TLS {
		t.Errorf("message over SMTP: %v, %v", msgs, err)
	}
	if _, err := mailer.NewTransport(mailer.Config{SMTPURL: "smtp://h?tls=bogus"}, logging.Discard()); err == nil {
		t.Error("NewTransport accepted a bad SMTP URL")
	}
	if _, err := mailer.NewTransport(mailer.Config{}, logging.Discard()); err == nil {
		t.Error("NewTransport accepted neither an SMTP URL nor a mail dir")
	}
}

func TestSMTPTransportCancelledSend(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv)
	if err := tr.Send(context.Background(), welcomeMsg(t, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tr.Send(ctx, welcomeMsg(t, "b@example.com"))
	if err == nil || broker.IsPermanent(err) {
		t.Fatalf("Send with a cancelled context = %v, want a transient error", err)
	}
	if err := tr.Send(context.Background(), welcomeMsg(t, "c@example.com")); err != nil {
		t.Fatalf("Send after the cancelled one: %v", err)
	}
	msgs, err := srv.WaitForMessages(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.To[0] == "b@example.com" {
			t.Error("the cancelled message arrived")
		}
	}
}
