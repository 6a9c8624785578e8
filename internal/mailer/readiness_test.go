package mailer_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// noCache makes a transport probe the server on every Check.
func noCache(c *mailer.SMTPConfig) { c.CheckInterval = time.Nanosecond }

func TestSMTPTransportCheckFollowsTheServer(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("ann", "pw"))
	tr := newSMTP(t, srv, noCache)
	ctx := context.Background()
	if err := tr.Check(ctx); err != nil {
		t.Fatalf("Check with the server up: %v", err)
	}
	srv.Stop()
	err := tr.Check(ctx)
	if err == nil {
		t.Fatal("Check with the server stopped succeeded")
	}
	if !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("error %q does not name the server", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(ctx); err != nil {
		t.Errorf("Check after the restart: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("a check sent %d messages", n)
	}
	waitFor(t, "check connections closed", func() bool { return srv.OpenConnections() == 0 })
}

func TestSMTPTransportCheckRefusals(t *testing.T) {
	tests := []struct {
		name string
		opts []smtptest.Option
		edit func(*mailer.SMTPConfig)
	}{
		{
			name: "wrong password",
			opts: []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("ann", "pw")},
			edit: func(c *mailer.SMTPConfig) { c.Password = "wrong" },
		},
		{
			name: "certificate not trusted",
			opts: []smtptest.Option{smtptest.WithImplicitTLS()},
			edit: func(c *mailer.SMTPConfig) { c.RootCAs = nil },
		},
		{
			name: "STARTTLS required but not offered",
			edit: func(c *mailer.SMTPConfig) { c.TLS = mailer.SMTPTLSStartTLS },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts...)
			tr := newSMTP(t, srv, noCache, tt.edit)
			if err := tr.Check(context.Background()); err == nil {
				t.Error("Check succeeded")
			}
			waitFor(t, "check connections closed", func() bool { return srv.OpenConnections() == 0 })
		})
	}
}

func TestSMTPTransportCheckIsCached(t *testing.T) {
	srv := smtptest.Start(t)
	tr := newSMTP(t, srv, func(c *mailer.SMTPConfig) { c.CheckInterval = time.Hour })
	for i := range 3 {
		if err := tr.Check(context.Background()); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	if c := srv.Connections(); c != 1 {
		t.Errorf("%d connections for three checks within the interval, want 1", c)
	}
	srv.Stop()
	if err := tr.Check(context.Background()); err != nil {
		t.Errorf("Check within the interval = %v, want the kept result", err)
	}
}

func TestSMTPTransportCheckGivesUpWithItsContext(t *testing.T) {
	// A server that accepts connections and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				c.Close()
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg, err := mailer.ParseSMTPURL("smtp://" + host + ":" + port + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout, cfg.CheckInterval = time.Hour, time.Nanosecond // only the context can end the check
	tr, err := mailer.NewSMTPTransport(cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tr.Check(ctx); err == nil {
		t.Error("Check against a silent server succeeded")
	}
}

func TestSMTPPoolCheck(t *testing.T) {
	srv := smtptest.Start(t)
	cfg, err := mailer.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.CheckInterval = time.Nanosecond
	pool, err := mailer.NewSMTPPool(cfg, 3, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	srv.Stop()
	if err := pool.Check(context.Background()); err == nil {
		t.Error("Check with the server stopped succeeded")
	}
}

func TestFileTransportCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Check left files behind: %v", entries)
	}
	// Tests run as root, for whom no mode makes a directory unwritable: take it away.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(context.Background()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Check without its directory = %v, want an error naming it", err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory was
		t.Fatal(err)
	}
	if err := tr.Check(context.Background()); err == nil {
		t.Error("Check with a file in place of its directory succeeded")
	}
}

// readyz returns the status and body of the service's /readyz.
func readyz(svc *mailer.Service) (int, string) {
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, rec.Body.String()
}

func TestReadinessFollowsTheSMTPServer(t *testing.T) {
	f := newFixture(t, func(t *testing.T, srv *smtptest.Server) mailer.Transport { return newSMTP(t, srv, noCache) })
	if code, body := readyz(f.svc); code != http.StatusOK {
		t.Fatalf("readyz with the server up = %d %s", code, body)
	}
	f.smtp.Stop()
	code, body := readyz(f.svc)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"dependency":"mail-transport"`) {
		t.Errorf("readyz with the server stopped = %d %s, want 503 naming the mail transport", code, body)
	}
	if err := f.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(f.svc); code != http.StatusOK {
		t.Errorf("readyz after the restart = %d %s", code, body)
	}
}

func TestReadinessFollowsTheMailDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := mailer.New(mailer.Config{}, mailer.Deps{Store: openSQLite(t), Transport: tr, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(svc); code != http.StatusOK {
		t.Fatalf("readyz = %d %s", code, body)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	code, body := readyz(svc)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"dependency":"mail-transport"`) || !strings.Contains(body, "not writable") {
		t.Errorf("readyz without the mail directory = %d %s, want 503 naming the mail transport", code, body)
	}
}
