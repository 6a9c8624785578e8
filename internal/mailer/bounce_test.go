package mailer_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// startMailer starts an email-sender on the database of dialect d at dsn, sending to srv,
// as a process would: its own store and transport, closed when the test ends or when the
// returned stop is called. edit changes its configuration.
func startMailer(t *testing.T, d database.Dialect, dsn string, srv *smtptest.Server, now func() time.Time, edit ...func(*mailer.Config)) (*mailer.Service, *mailer.SQLStore, func()) {
	t.Helper()
	st, err := mailer.Open(context.Background(), d, dsn, logging.Discard())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	tr := newSMTP(t, srv)
	cfg := mailer.DefaultConfig()
	cfg.PublicURL = testPublicURL
	for _, e := range edit {
		e(&cfg)
	}
	svc, err := mailer.New(cfg, mailer.Deps{
		Common: svcdeps.Common{Outbox: &countingNotifier{}, Log: logging.Discard(), Registry: prometheus.NewRegistry(), Now: now},
		Store:  st, Transport: tr,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			tr.Close()
			st.Close()
		}
	}
	t.Cleanup(stop)
	return svc, st, stop
}

// resultOf returns the email.result of key in st's outbox.
func resultOf(t *testing.T, st *mailer.SQLStore, key string) messages.EmailResult {
	t.Helper()
	f := &fixture{store: st}
	for _, r := range f.results(t) {
		if r.IdempotencyKey == key {
			return r
		}
	}
	t.Fatalf("no email.result for %s", key)
	return messages.EmailResult{}
}

// TestRecipientRejectedAtRCPTIsSuppressed: a 550 to RCPT TO fails the email with the
// server's reply and suppresses the address; a later email to it, of any kind and in any
// case, is not attempted (the server sees no new connection and no new RCPT TO), also after
// the email-sender restarts on the same database.
func TestRecipientRejectedAtRCPTIsSuppressed(t *testing.T) {
	stores := map[string]func(t *testing.T) (database.Dialect, string){
		"SQLite": func(t *testing.T) (database.Dialect, string) {
			return database.SQLite, filepath.Join(t.TempDir(), "mailer.db")
		},
		"PostgreSQL": func(t *testing.T) (database.Dialect, string) {
			return database.Postgres, pgtest.URL(t, mailer.PostgresSchemas()...)
		},
	}
	for name, db := range stores {
		t.Run(name, func(t *testing.T) {
			d, dsn := db(t)
			srv := smtptest.Start(t, smtptest.WithRejectRecipient("gone@example.com", 550))
			clk := &clock{now: time.Date(2027, 3, 1, 17, 30, 0, 0, time.UTC)}
			svc, st, stop := startMailer(t, d, dsn, srv, clk.Now)
			ctx := context.Background()

			req := reminderRequest("rem1")
			req.To = "Gone@Example.com"
			if err := svc.HandleSend(ctx, sendMessage(t, req, 1)); err != nil {
				t.Fatalf("HandleSend: %v, want the failure recorded", err)
			}
			r := resultOf(t, st, "rem1")
			if r.Status != messages.ResultFailed || !strings.Contains(r.Error, "rejected the address Gone@Example.com permanently") ||
				!strings.Contains(r.Error, "550 5.1.1 no such recipient here") {
				t.Errorf("result %+v, want failed with the rejection and the server's reply", r)
			}
			sup, err := st.Suppression(ctx, "gone@example.com")
			if err != nil || sup.Address != "gone@example.com" || !strings.Contains(sup.Reason, "550 5.1.1") || !sup.At.Equal(clk.Now()) {
				t.Fatalf("suppression %+v, %v; want gone@example.com with the reply, now", sup, err)
			}
			conns, refused := srv.Connections(), len(srv.RefusedRecipients())
			if refused != 1 {
				t.Fatalf("%d recipients refused, want 1", refused)
			}

			// The next email to the address is not attempted.
			clk.Add(time.Hour)
			next := reminderRequest("rem2")
			next.To = "gone@example.com"
			if err := svc.HandleSend(ctx, sendMessage(t, next, 1)); err != nil {
				t.Fatalf("HandleSend to a suppressed address: %v", err)
			}
			wantErr := "the address gone@example.com is suppressed: the mail server rejected it permanently on 2027-03-01 17:30 UTC: 550 5.1.1"
			if r := resultOf(t, st, "rem2"); r.Status != messages.ResultFailed || !strings.HasPrefix(r.Error, wantErr) {
				t.Errorf("result %+v, want failed with %q", r, wantErr)
			}

			// Nor after a restart, nor an email about the account.
			stop()
			svc, st, _ = startMailer(t, d, dsn, srv, clk.Now)
			welcome := messages.EmailSend{IdempotencyKey: "welcome:1", Kind: messages.EmailWelcome, To: "GONE@example.com"}
			if err := svc.HandleSend(ctx, sendMessage(t, welcome, 1)); err != nil {
				t.Fatalf("HandleSend after the restart: %v", err)
			}
			if r := resultOf(t, st, "welcome:1"); r.Status != messages.ResultFailed || !strings.Contains(r.Error, "is suppressed") {
				t.Errorf("result after the restart %+v, want failed: suppressed", r)
			}
			if c, n, m := srv.Connections(), len(srv.RefusedRecipients()), len(srv.Messages()); c != conns || n != refused || m != 0 {
				t.Errorf("server saw %d connections, %d refused recipients and %d messages; want %d, %d and 0",
					c, n, m, conns, refused)
			}

			// Other addresses are not affected.
			if err := svc.HandleSend(ctx, sendMessage(t, reminderRequest("rem3"), 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.WaitForMessages(1, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecipientRejectedAtEndOfDataIsSuppressed: a 5xx after the message (one recipient)
// suppresses the address too.
func TestRecipientRejectedAtEndOfDataIsSuppressed(t *testing.T) {
	f := newFixture(t, nil)
	f.smtp.RejectNext(1, 554)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}
	sup, err := f.store.Suppression(context.Background(), "ann@example.com")
	if err != nil || !strings.HasPrefix(sup.Reason, "554 ") || !strings.Contains(sup.Reason, "end of DATA") {
		t.Errorf("suppression %+v, %v; want the 554 at the end of DATA", sup, err)
	}
	if got := f.metric(t, "emails_failed_total", "reminder"); got != 1 {
		t.Errorf("emails_failed_total = %v, want 1", got)
	}
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem2"), 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.metric(t, "emails_suppressed_total", "reminder"); got != 1 {
		t.Errorf("emails_suppressed_total = %v, want 1", got)
	}
	if n := len(f.smtp.Messages()); n != 0 {
		t.Errorf("%d messages arrived, want none", n)
	}
}

// TestTransientRecipientRefusalIsRetried: a 4xx to RCPT TO suppresses nothing and is left
// to a later delivery, which goes through once the server accepts the address.
func TestTransientRecipientRefusalIsRetried(t *testing.T) {
	f := newFixture(t, nil)
	f.smtp.RejectRecipient("ann@example.com", 450)
	err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1))
	if err == nil || broker.IsPermanent(err) || !strings.Contains(err.Error(), "450") {
		t.Fatalf("HandleSend = %v, want a transient error naming 450", err)
	}
	if _, err := f.store.Suppression(context.Background(), "ann@example.com"); !errors.Is(err, mailer.ErrNotSuppressed) {
		t.Errorf("suppression after a 450: %v, want none", err)
	}
	if _, err := f.record(t, "rem1"); !errors.Is(err, mailer.ErrNotFound) {
		t.Errorf("record after a transient failure: %v, want none", err)
	}
	f.smtp.RejectRecipient("ann@example.com", 0)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 2)); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if rec, err := f.record(t, "rem1"); err != nil || rec.State != mailer.StateSent {
		t.Errorf("record %+v, %v; want sent", rec, err)
	}
}

// TestRejectedSenderSuppressesNothing: a 5xx to MAIL FROM refuses the sender, not the
// recipient: the email fails for good, and the address stays usable.
func TestRejectedSenderSuppressesNothing(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithAuth("ann", "pw"))
	f := newFixture(t, func(t *testing.T, _ *smtptest.Server) mailer.Transport {
		return newSMTP(t, srv, func(c *mailer.SMTPConfig) { c.Username, c.Password = "", "" })
	})
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}
	if rec, err := f.record(t, "rem1"); err != nil || rec.State != mailer.StateFailed || !strings.Contains(rec.Error, "MAIL FROM: 502") {
		t.Errorf("record %+v, %v; want failed at MAIL FROM", rec, err)
	}
	if _, err := f.store.Suppression(context.Background(), "ann@example.com"); !errors.Is(err, mailer.ErrNotSuppressed) {
		t.Errorf("suppression after a refused sender: %v, want none", err)
	}
}
