package mailer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// testLease is the claim lease of the tests that wait for one to run out, in real time: long
// enough that a renewal every third of it is not late on a loaded machine.
const testLease = time.Second

// heldTransport is an SMTP transport whose first Send waits for release before it sends, so
// that a test decides how long the first delivery's send lasts. Later sends go through at once.
type heldTransport struct {
	mailer.Transport
	calls   atomic.Int32
	entered chan struct{} // closed when the first Send starts
	release chan struct{} // closed by the test to let the first Send go on
}

func newHeldTransport(t *testing.T, srv *smtptest.Server) *heldTransport {
	return &heldTransport{Transport: newSMTP(t, srv), entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldTransport) Send(ctx context.Context, e mailer.Email) error {
	if h.calls.Add(1) == 1 {
		close(h.entered)
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Transport.Send(ctx, e)
}

// claimSpy is a store that reports the error of every Claim, so that a test knows when a
// delivery is waiting for another one's claim.
type claimSpy struct {
	mailer.Store
	claims chan error
}

func (s claimSpy) Claim(ctx context.Context, c mailer.Claim) (mailer.Record, error) {
	rec, err := s.Store.Claim(ctx, c)
	select {
	case s.claims <- err:
	default: // nobody listens
	}
	return rec, err
}

// wantMetrics fails t unless each counter named in want has its value for reminders.
func (f *fixture) wantMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		if got := f.metric(t, name, "reminder"); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

// waitClaimed returns once a Claim through spy found the key held by another delivery.
func waitClaimed(t *testing.T, spy claimSpy) {
	t.Helper()
	for {
		select {
		case err := <-spy.claims:
			if errors.Is(err, mailer.ErrClaimed) {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery found the key claimed")
		}
	}
}

// TestDeadSendersClaimIsTakenOverWithoutARetry: a claim that its sender (killed during the send)
// never renews is taken over by the redelivered message once the lease has run out, and the
// email goes out in that same delivery, not in one the broker retries later.
func TestDeadSendersClaimIsTakenOverWithoutARetry(t *testing.T) {
	f := newFixtureWith(t, nil, fixtureOptions{lease: testLease, realClock: true})
	deadAt := time.Now()
	if _, err := f.store.Claim(context.Background(), mailer.Claim{
		Key: "rem1", Kind: messages.EmailReminder, Token: "dead", At: deadAt, Lease: testLease,
	}); err != nil {
		t.Fatal(err)
	}

	if err := f.svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatalf("HandleSend of the redelivered message = %v, want nil: it waits for the dead claim and sends", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}
	rec, err := f.record(t, "rem1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != mailer.StateSent {
		t.Errorf("record %+v, want sent", rec)
	}
	if lapsed := deadAt.Add(testLease).Truncate(time.Microsecond); rec.ClaimedAt.Before(lapsed) {
		t.Errorf("claim taken over at %v, before the dead one lapsed at %v", rec.ClaimedAt, lapsed)
	}
	f.wantMetrics(t, map[string]float64{
		"email_claims_taken_over_total":     1,
		"email_send_transient_errors_total": 0,
	})
}

// TestLiveSenderIsNotOvertakenDuringALongSend: a delivery whose send lasts longer than the
// lease renews its claim, so a redelivery of its message waits for it and then leaves the
// message to a later delivery rather than sending it a second time; that later delivery finds
// the email sent.
func TestLiveSenderIsNotOvertakenDuringALongSend(t *testing.T) {
	var tr *heldTransport
	f := newFixtureWith(t, func(t *testing.T, srv *smtptest.Server) mailer.Transport {
		tr = newHeldTransport(t, srv)
		return tr
	}, fixtureOptions{lease: testLease, realClock: true})
	m := sendMessage(t, reminderRequest("rem1"), 1)

	first := make(chan error, 1)
	go func() { first <- f.svc.HandleSend(context.Background(), m) }()
	<-tr.entered

	// The redelivery waits one and a half leases for the claim, which the first delivery
	// renews all along: its send, not yet released, lasts longer than the lease.
	err := f.svc.HandleSend(context.Background(), m)
	if !errors.Is(err, mailer.ErrClaimed) || broker.IsPermanent(err) {
		t.Errorf("redelivery during the send = %v, want transient ErrClaimed", err)
	}
	if n := tr.calls.Load(); n != 1 {
		t.Errorf("%d sends, want 1: the live sender's claim was taken over", n)
	}
	close(tr.release)
	if err := <-first; err != nil {
		t.Fatalf("first delivery: %v", err)
	}

	if err := f.svc.HandleSend(context.Background(), m); err != nil {
		t.Fatalf("delivery after the send: %v", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}
	f.wantMetrics(t, map[string]float64{
		"email_claims_taken_over_total":    0,
		"email_duplicate_deliveries_total": 1,
		"emails_sent_total":                1,
	})
}

// TestWaitingDeliveryFindsTheKeySettled: a redelivery that waits for a live claim is
// acknowledged as a duplicate, without a retry, once the claim's holder sends the email.
func TestWaitingDeliveryFindsTheKeySettled(t *testing.T) {
	var tr *heldTransport
	spy := claimSpy{claims: make(chan error, 100)}
	f := newFixtureWith(t, func(t *testing.T, srv *smtptest.Server) mailer.Transport {
		tr = newHeldTransport(t, srv)
		return tr
	}, fixtureOptions{
		lease: 2 * testLease, realClock: true,
		store: func(s mailer.Store) mailer.Store { spy.Store = s; return spy },
	})
	m := sendMessage(t, reminderRequest("rem1"), 1)

	first := make(chan error, 1)
	go func() { first <- f.svc.HandleSend(context.Background(), m) }()
	<-tr.entered
	second := make(chan error, 1)
	go func() { second <- f.svc.HandleSend(context.Background(), m) }()
	waitClaimed(t, spy)
	close(tr.release)

	if err := <-first; err != nil {
		t.Errorf("first delivery: %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("waiting delivery = %v, want nil (a duplicate)", err)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}
	f.wantMetrics(t, map[string]float64{
		"email_duplicate_deliveries_total":  1,
		"email_send_transient_errors_total": 0,
		"email_claims_taken_over_total":     0,
	})
}

// TestWaitForClaimEndsWithTheContext: a delivery waiting for a live claim stops when its
// context is cancelled (the consumer shuts down) and leaves the message to a later delivery.
func TestWaitForClaimEndsWithTheContext(t *testing.T) {
	spy := claimSpy{claims: make(chan error, 100)}
	f := newFixtureWith(t, nil, fixtureOptions{
		lease: time.Minute, realClock: true,
		store: func(s mailer.Store) mailer.Store { spy.Store = s; return spy },
	})
	if _, err := f.store.Claim(context.Background(), mailer.Claim{
		Key: "rem1", Kind: messages.EmailReminder, Token: "other", At: time.Now(), Lease: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.HandleSend(ctx, sendMessage(t, reminderRequest("rem1"), 1)) }()
	waitClaimed(t, spy)
	cancel()
	err := <-done
	if !errors.Is(err, mailer.ErrClaimed) || !errors.Is(err, context.Canceled) || broker.IsPermanent(err) {
		t.Errorf("HandleSend = %v, want transient ErrClaimed and context.Canceled", err)
	}
	if n := len(f.smtp.Messages()); n != 0 {
		t.Errorf("%d emails sent, want none", n)
	}
}
