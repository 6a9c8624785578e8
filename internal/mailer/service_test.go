package mailer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type countingNotifier struct{ n atomic.Int32 }

func (c *countingNotifier) Notify() { c.n.Add(1) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	svc    *mailer.Service
	store  *mailer.SQLStore
	smtp   *smtptest.Server
	notify *countingNotifier
	reg    *prometheus.Registry
	clock  *clock
}

const maxAttempts = 3

func newFixture(t *testing.T, transport func(t *testing.T, srv *smtptest.Server) mailer.Transport) *fixture {
	t.Helper()
	return newFixtureWith(t, transport, fixtureOptions{})
}

// fixtureOptions change what newFixtureWith builds.
type fixtureOptions struct {
	// lease, when set, is the claim lease instead of the default.
	lease time.Duration
	// realClock has the service read the time instead of f.clock, for tests that wait for
	// a lease to run out.
	realClock bool
	// store, when set, wraps the store the service uses; f.store stays the store itself.
	store func(mailer.Store) mailer.Store
}

// newFixtureWith returns a fixture with the default configuration, changed by opts.
func newFixtureWith(t *testing.T, transport func(t *testing.T, srv *smtptest.Server) mailer.Transport, opts fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{
		store:  openSQLite(t),
		smtp:   smtptest.Start(t),
		notify: &countingNotifier{},
		reg:    prometheus.NewRegistry(),
		clock:  &clock{now: time.Date(2027, 3, 1, 17, 30, 0, 0, time.UTC)},
	}
	var tr mailer.Transport
	if transport != nil {
		tr = transport(t, f.smtp)
	} else {
		tr = newSMTP(t, f.smtp)
	}
	cfg := mailer.DefaultConfig()
	cfg.PublicURL = testPublicURL
	cfg.MaxAttempts = maxAttempts
	if opts.lease > 0 {
		cfg.ClaimLease = opts.lease
	}
	now := f.clock.Now
	if opts.realClock {
		now = time.Now
	}
	var store mailer.Store = f.store
	if opts.store != nil {
		store = opts.store(store)
	}
	svc, err := mailer.New(cfg, mailer.Deps{
		Common: svcdeps.Common{Outbox: f.notify, Log: logging.Discard(), Registry: f.reg, Now: now},
		Store:  store, Transport: tr,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.svc = svc
	return f
}

func sendMessage(t *testing.T, req messages.EmailSend, attempt int) broker.Message {
	t.Helper()
	m, err := broker.NewMessage(context.Background(), messages.TypeEmailSend, req)
	if err != nil {
		t.Fatal(err)
	}
	m.Attempt = attempt
	return m
}

func reminderRequest(key string) messages.EmailSend {
	return messages.EmailSend{
		IdempotencyKey: key, Kind: messages.EmailReminder, To: "ann@example.com", Name: "Ann",
		ReminderID: key, Event: testEvent(), Note: "bring tickets",
	}
}

// results returns the email.result payloads in the outbox, oldest first.
func (f *fixture) results(t *testing.T) []messages.EmailResult {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), f.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	var out []messages.EmailResult
	for _, m := range msgs {
		if m.Type != messages.TypeEmailResult {
			t.Fatalf("outbox message of type %q", m.Type)
		}
		var r messages.EmailResult
		if err := m.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (f *fixture) record(t *testing.T, key string) (mailer.Record, error) {
	t.Helper()
	return f.store.Get(context.Background(), key)
}

func (f *fixture) metric(t *testing.T, name, kind string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestSendsEveryKindAndReportsIt(t *testing.T) {
	tests := []struct {
		name        string
		req         messages.EmailSend
		wantSubject string
	}{
		{
			name:        "welcome",
			req:         messages.EmailSend{IdempotencyKey: "welcome:acc1", Kind: messages.EmailWelcome, To: "ann@example.com", Name: "Ann"},
			wantSubject: "Welcome to EventPost",
		},
		{name: "reminder", req: reminderRequest("rem1"), wantSubject: "Reminder: Jazz night"},
		{
			name: "event changed",
			req: messages.EmailSend{
				IdempotencyKey: "changed:rem1:1", Kind: messages.EmailEventChanged, To: "ann@example.com",
				ReminderID: "rem1", Event: testEvent(), PreviousStartsAt: ptr(time.Date(2027, 2, 27, 19, 0, 0, 0, time.UTC)),
			},
			wantSubject: "Changed: Jazz night",
		},
		{
			name: "event cancelled",
			req: messages.EmailSend{
				IdempotencyKey: "cancelled:rem1", Kind: messages.EmailEventCancelled, To: "ann@example.com",
				ReminderID: "rem1", Event: testEvent(),
			},
			wantSubject: "Cancelled: Jazz night",
		},
		{
			name: "confirm",
			req: messages.EmailSend{
				IdempotencyKey: "confirm:acc1:1", Kind: messages.EmailConfirm, To: "ann@example.com",
				Token: "Abc-def_0123456789abcdefghijklmnopqrstuvwxy", ExpiresAt: ptr(time.Date(2027, 3, 3, 17, 30, 0, 0, time.UTC)),
			},
			wantSubject: "Confirm your email address for EventPost",
		},
		{
			name: "email changed",
			req: messages.EmailSend{
				IdempotencyKey: "email_changed:acc1:1", Kind: messages.EmailChanged, To: "ann@example.com", NewEmail: "ann@new.example",
			},
			wantSubject: "Your EventPost email address is changing",
		},
		{
			name: "consent request",
			req: messages.EmailSend{
				IdempotencyKey: "consent:acc1:bob", Kind: messages.EmailConsentRequest, To: "bob@example.com",
				Requester: "Ann", Token: "Abc-def_0123456789abcdefghijklmnopqrstuvwxy", Event: testEvent(),
			},
			wantSubject: "Someone wants EventPost to email you reminders",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if err := f.svc.HandleSend(context.Background(), sendMessage(t, tt.req, 1)); err != nil {
				t.Fatalf("HandleSend: %v", err)
			}
			msgs, err := f.smtp.WaitForMessages(1, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p, err := msgs[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Get("Subject"); got != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", got, tt.wantSubject)
			}
			if diff := cmp.Diff([]string{tt.req.To}, msgs[0].To); diff != "" {
				t.Errorf("envelope recipients (-want +got):\n%s", diff)
			}
			rec, err := f.record(t, tt.req.IdempotencyKey)
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != mailer.StateSent || "<"+rec.MessageID+">" != p.Header.Get("Message-Id") {
				t.Errorf("record %+v; want sent with the email's Message-ID %s", rec, p.Header.Get("Message-Id"))
			}
			want := []messages.EmailResult{{
				IdempotencyKey: tt.req.IdempotencyKey, Kind: tt.req.Kind, ReminderID: tt.req.ReminderID,
				Status: messages.ResultSent, At: f.clock.Now(),
			}}
			if diff := cmp.Diff(want, f.results(t)); diff != "" {
				t.Errorf("email.result in the outbox (-want +got):\n%s", diff)
			}
			if n := f.notify.n.Load(); n != 1 {
				t.Errorf("outbox notified %d times, want 1", n)
			}
			if got := f.metric(t, "emails_sent_total", string(tt.req.Kind)); got != 1 {
				t.Errorf("emails_sent_total{kind=%s} = %v, want 1", tt.req.Kind, got)
			}
		})
	}
}

func TestDuplicateDeliverySendsOnce(t *testing.T) {
	tests := []struct {
		name  string
		twice func(t *testing.T, f *fixture, first broker.Message) []error
	}{
		{
			name: "the same message delivered again",
			twice: func(t *testing.T, f *fixture, first broker.Message) []error {
				return []error{
					f.svc.HandleSend(context.Background(), first),
					f.svc.HandleSend(context.Background(), first),
				}
			},
		},
		{
			name: "another message with the same key, much later",
			twice: func(t *testing.T, f *fixture, first broker.Message) []error {
				err1 := f.svc.HandleSend(context.Background(), first)
				f.clock.Add(24 * time.Hour)
				return []error{err1, f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1))}
			},
		},
		{
			name: "two deliveries at once",
			twice: func(t *testing.T, f *fixture, first broker.Message) []error {
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = f.svc.HandleSend(context.Background(), first)
					}()
				}
				wg.Wait()
				// A delivery that found the other one sending is told to come back later;
				// when it does, the key is settled.
				for i, err := range errs {
					if errors.Is(err, mailer.ErrClaimed) {
						errs[i] = f.svc.HandleSend(context.Background(), first)
					}
				}
				return errs
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for i, err := range tt.twice(t, f, sendMessage(t, reminderRequest("rem1"), 1)) {
				if err != nil {
					t.Errorf("delivery %d: %v", i+1, err)
				}
			}
			if _, err := f.smtp.WaitForMessages(1, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if n := len(f.smtp.Messages()); n != 1 {
				t.Errorf("%d emails sent, want 1", n)
			}
			if n := len(f.results(t)); n != 1 {
				t.Errorf("%d results queued, want 1", n)
			}
			if got := f.metric(t, "email_duplicate_deliveries_total", "reminder"); got != 1 {
				t.Errorf("email_duplicate_deliveries_total = %v, want 1", got)
			}
		})
	}
}

func TestTransientFailureRecordsNothingThenSucceeds(t *testing.T) {
	f := newFixture(t, nil)
	f.smtp.RejectNext(1, 451)
	req := reminderRequest("rem1")

	err := f.svc.HandleSend(context.Background(), sendMessage(t, req, 1))
	if err == nil || broker.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("HandleSend = %v, want a transient error naming 451", err)
	}
	if _, err := f.record(t, "rem1"); !errors.Is(err, mailer.ErrNotFound) {
		t.Errorf("record after a transient failure: %v, want none (claim released)", err)
	}
	if r := f.results(t); len(r) != 0 {
		t.Errorf("results queued after a transient failure: %+v", r)
	}
	if got := f.metric(t, "email_send_transient_errors_total", "reminder"); got != 1 {
		t.Errorf("email_send_transient_errors_total = %v, want 1", got)
	}

	// The broker delivers again later: this time it goes through.
	f.clock.Add(time.Second)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, req, 2)); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails arrived, want 1", n)
	}
	want := []messages.EmailResult{{
		IdempotencyKey: "rem1", Kind: messages.EmailReminder, ReminderID: "rem1", Status: messages.ResultSent, At: f.clock.Now(),
	}}
	if diff := cmp.Diff(want, f.results(t)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestSMTPOutageIsTransient(t *testing.T) {
	f := newFixture(t, nil)
	f.smtp.Stop()
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err == nil || broker.IsPermanent(err) {
		t.Fatalf("HandleSend during an outage = %v, want a transient error", err)
	}
	if err := f.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 2)); err != nil {
		t.Fatalf("redelivery after the outage: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails arrived, want 1", n)
	}
}

func TestPermanentFailures(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fixture)
		req       messages.EmailSend
		attempt   int
		wantError string // in the recorded and published reason
	}{
		{
			name:      "550 from the server",
			setup:     func(f *fixture) { f.smtp.RejectNext(1, 550) },
			req:       reminderRequest("rem1"),
			attempt:   1,
			wantError: "550",
		},
		{
			name:      "transient failure on the last attempt",
			setup:     func(f *fixture) { f.smtp.RejectNext(1, 451) },
			req:       reminderRequest("rem1"),
			attempt:   maxAttempts,
			wantError: "gave up after 3 attempts",
		},
		{
			name:      "recipient that is not a bare address",
			req:       messages.EmailSend{IdempotencyKey: "rem1", Kind: messages.EmailReminder, ReminderID: "rem1", To: "Ann <ann@example.com>", Event: testEvent()},
			attempt:   1,
			wantError: "not a bare email address",
		},
		{
			name:      "reminder without its event",
			req:       messages.EmailSend{IdempotencyKey: "rem1", Kind: messages.EmailReminder, ReminderID: "rem1", To: "ann@example.com"},
			attempt:   1,
			wantError: "without an event",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if tt.setup != nil {
				tt.setup(f)
			}
			if err := f.svc.HandleSend(context.Background(), sendMessage(t, tt.req, tt.attempt)); err != nil {
				t.Fatalf("HandleSend = %v, want nil (acknowledged)", err)
			}
			rec, err := f.record(t, "rem1")
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != mailer.StateFailed || !strings.Contains(rec.Error, tt.wantError) {
				t.Errorf("record %+v, want failed with %q", rec, tt.wantError)
			}
			results := f.results(t)
			if len(results) != 1 {
				t.Fatalf("%d results queued, want 1", len(results))
			}
			got := results[0]
			if got.Status != messages.ResultFailed || got.IdempotencyKey != "rem1" || got.ReminderID != "rem1" ||
				got.Kind != messages.EmailReminder || got.Error != rec.Error || !got.At.Equal(f.clock.Now()) {
				t.Errorf("result %+v, want failed for rem1 with the recorded reason", got)
			}
			if got := f.metric(t, "emails_failed_total", "reminder"); got != 1 {
				t.Errorf("emails_failed_total = %v, want 1", got)
			}

			// Delivered again: acknowledged, nothing sent, nothing more queued.
			f.clock.Add(time.Hour)
			if err := f.svc.HandleSend(context.Background(), sendMessage(t, tt.req, 1)); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if n := len(f.smtp.Messages()); n != 0 {
				t.Errorf("%d emails arrived, want none", n)
			}
			if n := len(f.results(t)); n != 1 {
				t.Errorf("%d results queued, want still 1", n)
			}
		})
	}
}

func TestTransientFailureBeforeTheLastAttemptIsRetried(t *testing.T) {
	f := newFixture(t, nil)
	f.smtp.RejectNext(1, 451)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), maxAttempts-1)); err == nil {
		t.Fatal("HandleSend succeeded, want a transient error")
	}
	if _, err := f.record(t, "rem1"); !errors.Is(err, mailer.ErrNotFound) {
		t.Errorf("record: %v, want none", err)
	}
}

func TestMalformedPayloadIsPermanent(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{name: "not JSON", payload: `{`},
		{name: "wrong type", payload: `{"idempotency_key": 5}`},
		{name: "no idempotency key", payload: `{"kind": "welcome", "to": "ann@example.com"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			m := broker.Message{ID: "m1", Type: messages.TypeEmailSend, Payload: json.RawMessage(tt.payload), Attempt: 1}
			if err := f.svc.HandleSend(context.Background(), m); !broker.IsPermanent(err) {
				t.Errorf("HandleSend = %v, want a permanent error", err)
			}
			if n := len(f.smtp.Messages()) + len(f.results(t)); n != 0 {
				t.Errorf("something was sent or queued")
			}
		})
	}
}

// TestLiveClaimDefersAndStaleClaimIsTakenOver: a claim still live after the wait (the clock
// stands still) leaves the message to a later delivery, which takes the lapsed claim over.
func TestLiveClaimDefersAndStaleClaimIsTakenOver(t *testing.T) {
	f := newFixtureWith(t, nil, fixtureOptions{lease: 100 * time.Millisecond})
	// Another delivery (say, in a process that then crashed) claimed the key just now.
	if _, err := f.store.Claim(context.Background(), mailer.Claim{
		Key: "rem1", Kind: messages.EmailReminder, Token: "other", At: f.clock.Now(), Lease: 2 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1))
	if !errors.Is(err, mailer.ErrClaimed) || broker.IsPermanent(err) {
		t.Fatalf("HandleSend while claimed = %v, want transient ErrClaimed", err)
	}
	if n := len(f.smtp.Messages()); n != 0 {
		t.Fatalf("%d emails sent while another delivery held the key", n)
	}
	f.clock.Add(2 * time.Minute) // the lease runs out
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 2)); err != nil {
		t.Fatalf("HandleSend after the lease: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}
	if rec, err := f.record(t, "rem1"); err != nil || rec.State != mailer.StateSent {
		t.Errorf("record %+v, %v; want sent", rec, err)
	}
	if got := f.metric(t, "email_claims_taken_over_total", "reminder"); got != 1 {
		t.Errorf("email_claims_taken_over_total = %v, want 1", got)
	}
}

// newFileFixture is newFixture with the file transport writing into dir.
func newFileFixture(t *testing.T, dir string) *fixture {
	t.Helper()
	return newFixture(t, func(t *testing.T, _ *smtptest.Server) mailer.Transport {
		tr, err := mailer.NewFileTransport(dir, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

func TestSendsThroughTheFileTransport(t *testing.T) {
	dir := t.TempDir()
	f := newFileFixture(t, dir)
	m := sendMessage(t, reminderRequest("rem1"), 1)
	for range 2 {
		if err := f.svc.HandleSend(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files in the mail dir, want 1", len(entries))
	}
	raw, err := os.ReadFile(dir + "/" + entries[0].Name())
	if err != nil {
		t.Fatal(err)
	}
	p, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Get("Subject") != "Reminder: Jazz night" || p.Attachments["event.ics"].Data == nil {
		t.Errorf("file holds subject %q with attachments %v", p.Get("Subject"), p.Attachments)
	}
}

func TestConsumers(t *testing.T) {
	f := newFixture(t, nil)
	cs := f.svc.Consumers()
	if len(cs) != 1 || cs[0].Queue != messages.QueueMailer || !cmp.Equal(cs[0].Types, []string{messages.TypeEmailSend}) || cs[0].Handle == nil {
		t.Fatalf("Consumers() = %+v", cs)
	}
	// Wired through the in-process broker, a publish is handled once per key.
	b := broker.NewInProcess(logging.Discard(), nil)
	if err := b.Register(cs[0]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.Publish(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}

func TestHandler(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}
	h := f.svc.Handler()
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{name: "health", method: http.MethodGet, path: "/healthz", wantStatus: http.StatusOK, wantBody: `"ok"`},
		{name: "ready", method: http.MethodGet, path: "/readyz", wantStatus: http.StatusOK, wantBody: `"ready"`},
		{name: "metrics", method: http.MethodGet, path: "/metrics", wantStatus: http.StatusOK, wantBody: `emails_sent_total{kind="reminder"} 1`},
		{name: "no caller may call it", method: http.MethodGet, path: "/api/v1/emails", wantStatus: http.StatusUnauthorized, wantType: "application/problem+json"},
		{name: "no caller may write either", method: http.MethodPost, path: "/api/v1/emails", wantStatus: http.StatusUnauthorized, wantType: "application/problem+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.wantStatus, body)
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body lacks %q:\n%s", tt.wantBody, body)
			}
		})
	}
	t.Run("not ready without its database", func(t *testing.T) {
		f.store.Close()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"database"`) {
			t.Errorf("readyz = %d %s, want 503 naming the database", rec.Code, rec.Body)
		}
	})
}

func TestRunReturnsWhenCancelled(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	store := openSQLite(t)
	tr, err := mailer.NewFileTransport(t.TempDir(), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  mailer.Config
		deps mailer.Deps
	}{
		{name: "no store", deps: mailer.Deps{Transport: tr, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}}},
		{name: "no transport", deps: mailer.Deps{Store: store, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}}},
		{name: "no registry", deps: mailer.Deps{Store: store, Transport: tr}},
		{name: "bad From", cfg: mailer.Config{From: "nope"}, deps: mailer.Deps{Store: store, Transport: tr, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mailer.New(tt.cfg, tt.deps); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	// With only the required dependencies, defaults fill in the rest.
	if _, err := mailer.New(mailer.Config{}, mailer.Deps{Store: store, Transport: tr, Common: svcdeps.Common{Registry: prometheus.NewRegistry()}}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// TestSendBatchThroughTheFileTransport: a batch claims, sends and records each email as
// HandleSend would: new keys are sent once, written as files with one sync, and their results
// queued; a key settled before is a duplicate; a key twice in the batch is sent once, its
// second delivery waiting for the first's claim and then acknowledged as a duplicate; an
// unreadable payload is refused for good.
func TestSendBatchThroughTheFileTransport(t *testing.T) {
	dir := t.TempDir()
	f := newFileFixture(t, dir)
	ctx := context.Background()
	if err := f.svc.HandleSend(ctx, sendMessage(t, reminderRequest("settled"), 1)); err != nil {
		t.Fatal(err)
	}
	bad := sendMessage(t, reminderRequest("bad"), 1)
	bad.Payload = []byte(`{"idempotency_key": 7}`)
	ms := []broker.Message{
		sendMessage(t, reminderRequest("a"), 1),
		sendMessage(t, reminderRequest("b"), 1),
		sendMessage(t, reminderRequest("settled"), 2),
		sendMessage(t, reminderRequest("a"), 2),
		bad,
		sendMessage(t, reminderRequest("c"), 1),
	}
	ds := make([]broker.Delivery, len(ms))
	for i, m := range ms {
		ds[i] = broker.Delivery{Ctx: ctx, Message: m}
	}
	errs := f.svc.HandleSendBatch(ctx, ds)
	for i, want := range []string{"nil", "nil", "nil", "nil", "permanent", "nil"} {
		switch err := errs[i]; want {
		case "nil":
			if err != nil {
				t.Errorf("delivery %d: %v, want nil", i, err)
			}
		case "permanent":
			if !broker.IsPermanent(err) {
				t.Errorf("delivery %d: %v, want a permanent error", i, err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(entries) != 4 {
		t.Errorf("mail dir holds %v, want 4 .eml files (settled, a, b, c)", names)
	}
	for _, key := range []string{"a", "b", "c", "settled"} {
		if rec, err := f.record(t, key); err != nil || rec.State != mailer.StateSent {
			t.Errorf("record of %s = %+v, %v; want sent", key, rec, err)
		}
	}
	if got := len(f.results(t)); got != 4 {
		t.Errorf("%d email.result messages queued, want 4", got)
	}
	f.wantMetrics(t, map[string]float64{
		"emails_sent_total":                 4,
		"email_duplicate_deliveries_total":  2,
		"email_send_transient_errors_total": 0,
	})
}
