package smtptest_test

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const raw = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?q?H=C3=A9llo?=\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
	"--inner\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"caf=C3=A9 =\r\nsoft break\r\n" +
	"--inner\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"PHA+Y2Fmw6k8L3A+\r\n" +
	"--inner--\r\n" +
	"--outer\r\nContent-Type: text/calendar; charset=utf-8; name=\"event.ics\"\r\n" +
	"Content-Disposition: attachment; filename=\"event.ics\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"QkVHSU46VkNBTEVOREFSDQo=\r\n" +
	"--outer--\r\n"

// send sends raw from a@example.com to b@example.com over c.
func send(c *smtp.Client) error {
	if err := c.Mail("a@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		return err
	}
	return w.Close()
}

func dial(t *testing.T, s *smtptest.Server, implicit bool) *smtp.Client {
	t.Helper()
	var (
		c   *smtp.Client
		err error
	)
	if implicit {
		conn, derr := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"})
		if derr != nil {
			t.Fatalf("dial: %v", derr)
		}
		c, err = smtp.NewClient(conn, "127.0.0.1")
	} else {
		c, err = smtp.Dial(s.Addr())
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServerModes(t *testing.T) {
	tests := []struct {
		name     string
		opts     []smtptest.Option
		tlsParam string
		startTLS bool
		implicit bool
		auth     bool
		wantTLS  bool
	}{
		{name: "plain", tlsParam: "none"},
		{name: "STARTTLS", opts: []smtptest.Option{smtptest.WithSTARTTLS()}, tlsParam: "starttls", startTLS: true, wantTLS: true},
		{name: "implicit TLS", opts: []smtptest.Option{smtptest.WithImplicitTLS()}, tlsParam: "tls", implicit: true, wantTLS: true},
		{
			name: "STARTTLS with AUTH", opts: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("u", "p w")},
			tlsParam: "starttls", startTLS: true, auth: true, wantTLS: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t, tt.opts...)
			u, err := url.Parse(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			if u.Host != s.Addr() || u.Query().Get("tls") != tt.tlsParam {
				t.Errorf("URL %s: want host %s and tls=%s", s.URL(), s.Addr(), tt.tlsParam)
			}
			c := dial(t, s, tt.implicit)
			if tt.startTLS {
				if err := c.StartTLS(&tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"}); err != nil {
					t.Fatalf("STARTTLS: %v", err)
				}
			}
			if tt.auth {
				if err := send(c); err == nil {
					t.Fatal("sent without AUTH, want refusal")
				}
				pass, _ := u.User.Password()
				if err := c.Auth(smtp.PlainAuth("", u.User.Username(), pass, "127.0.0.1")); err != nil {
					t.Fatalf("AUTH: %v", err)
				}
			}
			if err := send(c); err != nil {
				t.Fatalf("send: %v", err)
			}
			msgs, err := s.WaitForMessages(1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := smtptest.Message{From: "a@example.com", To: []string{"b@example.com"}, Data: []byte(raw), Conn: 1, TLS: tt.wantTLS}
			if tt.auth {
				want.User = "u"
			}
			if diff := cmp.Diff(want, msgs[0], cmpopts.IgnoreFields(smtptest.Message{}, "Received")); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if n := s.OpenConnections(); n != 1 {
				t.Errorf("%d open connections, want 1", n)
			}
			if err := c.Quit(); err != nil {
				t.Fatalf("QUIT: %v", err)
			}
			waitUntil(t, func() bool { return s.OpenConnections() == 0 })
		})
	}
}

// waitUntil polls cond until it holds, failing the test after 10 seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWrongCredentialsRefused(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithAuth("u", "p"))
	c := dial(t, s, false)
	if err := c.Auth(smtp.PlainAuth("", "u", "wrong", "127.0.0.1")); err == nil {
		t.Fatal("AUTH with a wrong password succeeded")
	}
}

func TestParse(t *testing.T) {
	p, err := smtptest.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Get("Subject"); got != "Héllo" {
		t.Errorf("Subject = %q, want Héllo", got)
	}
	if p.Text != "café soft break" {
		t.Errorf("Text = %q", p.Text)
	}
	if p.HTML != "<p>café</p>" {
		t.Errorf("HTML = %q", p.HTML)
	}
	want := map[string]smtptest.Attachment{"event.ics": {
		ContentType: "text/calendar", Params: map[string]string{"charset": "utf-8", "name": "event.ics"},
		Data: []byte("BEGIN:VCALENDAR\r\n"),
	}}
	if diff := cmp.Diff(want, p.Attachments); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}
	if _, err := smtptest.Parse([]byte("no header break")); err == nil {
		t.Error("Parse accepted a message without headers")
	}
}

func TestRejectNext(t *testing.T) {
	tests := []struct {
		name string
		code int
	}{
		{name: "transient", code: 451},
		{name: "permanent", code: 550},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t, smtptest.WithRejectNext(2, tt.code))
			c := dial(t, s, false)
			for i := range 2 {
				err := send(c)
				var te *textproto.Error
				if !errors.As(err, &te) || te.Code != tt.code {
					t.Fatalf("send %d: error %v, want code %d", i+1, err, tt.code)
				}
			}
			if err := send(c); err != nil {
				t.Fatalf("third send: %v", err)
			}
			if n := len(s.Messages()); n != 1 {
				t.Errorf("%d messages stored, want 1", n)
			}
			s.RejectNext(1, 554)
			var te *textproto.Error
			if err := send(c); !errors.As(err, &te) || te.Code != 554 {
				t.Errorf("after RejectNext: error %v, want 554", err)
			}
		})
	}
}

func TestStopRestart(t *testing.T) {
	s := smtptest.Start(t)
	c := dial(t, s, false)
	if err := send(c); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := send(c); err == nil {
		t.Fatal("send on a stopped server's connection succeeded")
	}
	if _, err := smtp.Dial(s.Addr()); err == nil {
		t.Fatal("dial to a stopped server succeeded")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, s, false)
	if err := send(c2); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.WaitForMessages(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Conn != 1 || msgs[1].Conn != 2 || s.Connections() != 2 {
		t.Errorf("connections: messages on %d and %d, %d in all; want 1, 2, 2", msgs[0].Conn, msgs[1].Conn, s.Connections())
	}
}

func TestWait(t *testing.T) {
	s := smtptest.Start(t)
	if msgs, err := s.WaitForMessages(1, 50*time.Millisecond); err == nil || len(msgs) != 0 {
		t.Errorf("WaitForMessages on an empty server = %d messages, %v; want a timeout", len(msgs), err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitFor(func(m smtptest.Message) bool { return strings.Contains(string(m.Data), "Subject:") }, 10*time.Second)
		done <- err
	}()
	c := dial(t, s, false)
	if err := send(c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("WaitFor: %v", err)
	}
	if _, err := s.WaitFor(func(smtptest.Message) bool { return false }, 50*time.Millisecond); err == nil {
		t.Error("WaitFor without a match succeeded")
	}
}

func TestIdleTimeout(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithIdleTimeout(100*time.Millisecond))
	c := dial(t, s, false)
	deadline := time.Now().Add(10 * time.Second)
	for c.Noop() == nil {
		if time.Now().After(deadline) {
			t.Fatal("idle connection still open after 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRejectRecipient(t *testing.T) {
	s := smtptest.Start(t, smtptest.WithRejectRecipient("B@Example.com", 550))
	c := dial(t, s, false)
	var te *textproto.Error
	if err := send(c); !errors.As(err, &te) || te.Code != 550 {
		t.Fatalf("send to a refused recipient: error %v, want 550 at RCPT TO", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b@example.com"}, s.RefusedRecipients()); diff != "" {
		t.Errorf("refused recipients (-want +got):\n%s", diff)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
	s.RejectRecipient("b@example.com", 0)
	if err := send(c); err != nil {
		t.Fatalf("send after accepting the recipient again: %v", err)
	}
	s.RejectRecipient("b@example.com", 450)
	if err := send(c); !errors.As(err, &te) || te.Code != 450 {
		t.Errorf("after RejectRecipient(450): error %v, want 450", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}
