package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox/outboxtest"
)

// account reads the copy of account id in its own transaction.
func account(t *testing.T, s notifications.Store, id string, lock bool) (notifications.Account, error) {
	t.Helper()
	var a notifications.Account
	var err error
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		a, err = tx.Account(ctx, id, lock)
		return nil
	})
	return a, err
}

func testAccounts(t *testing.T, s notifications.Store) {
	v1 := notifications.Account{ID: "acc", Email: "a@example.com", DisplayName: "A", Version: 5}
	put := func(a notifications.Account) bool {
		var stored bool
		update(t, s, func(ctx context.Context, tx notifications.Tx) error {
			var err error
			stored, err = tx.PutAccount(ctx, a)
			return err
		})
		return stored
	}
	if _, err := account(t, s, "acc", false); !errors.Is(err, notifications.ErrAccountUnknown) {
		t.Fatalf("Account of an unknown account: %v, want ErrAccountUnknown", err)
	}
	if !put(v1) {
		t.Fatal("PutAccount of a new account stored nothing")
	}
	older, same := v1, v1
	older.Version, older.EmailVerified, older.Email = 4, true, "old@example.com"
	same.DisplayName = "Same version"
	if put(older) || put(same) {
		t.Error("PutAccount stored a version that is not newer")
	}
	for _, lock := range []bool{false, true} {
		if got, err := account(t, s, "acc", lock); err != nil || got != v1 {
			t.Errorf("Account(lock %v) = %+v, %v; want %+v", lock, got, err, v1)
		}
	}
	v2 := notifications.Account{ID: "acc", Email: "new@example.com", EmailVerified: true, DisplayName: "New", Version: 6}
	if !put(v2) {
		t.Error("PutAccount of a newer version stored nothing")
	}
	if got, err := account(t, s, "acc", false); err != nil || got != v2 {
		t.Errorf("Account = %+v, %v; want %+v", got, err, v2)
	}

	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		_, err := tx.AddRecipient(ctx, notifications.Recipient{AccountID: "acc", Email: "x@example.com",
			State: notifications.ConsentAccepted, Token: "tok-acc"})
		return err
	})
	update(t, s, func(ctx context.Context, tx notifications.Tx) error { return tx.DeleteAccount(ctx, "acc") })
	if _, err := account(t, s, "acc", false); !errors.Is(err, notifications.ErrAccountUnknown) {
		t.Errorf("Account after DeleteAccount: %v, want ErrAccountUnknown", err)
	}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		if _, err := tx.RecipientByToken(ctx, "tok-acc"); !errors.Is(err, notifications.ErrConsentNotFound) {
			t.Errorf("recipient of a deleted account: %v, want ErrConsentNotFound", err)
		}
		return nil
	})
}

func testRecipients(t *testing.T, s notifications.Store) {
	at := func(d time.Duration) *time.Time { v := base.Add(d); return &v }
	pending := notifications.Recipient{AccountID: "acc", Email: "p@example.com", State: notifications.ConsentPending,
		Token: "tok-p", RequestedAt: at(-2 * time.Hour)}
	old := notifications.Recipient{AccountID: "acc", Email: "o@example.com", State: notifications.ConsentPending,
		Token: "tok-o", RequestedAt: at(-30 * time.Hour)}
	own := notifications.Recipient{AccountID: "acc", Email: "me@example.com", State: notifications.ConsentAccepted,
		Token: "tok-me", DecidedAt: at(-time.Hour)}
	other := notifications.Recipient{AccountID: "other", Email: "p@example.com", State: notifications.ConsentPending,
		Token: "tok-other", RequestedAt: at(-time.Hour)}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		for _, r := range []notifications.Recipient{pending, old, own, other} {
			got, err := tx.AddRecipient(ctx, r)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(r, got); diff != "" {
				t.Errorf("AddRecipient returned (-want +got):\n%s", diff)
			}
		}
		// A second add of the same pair keeps the first.
		again := pending
		again.Token, again.State = "tok-again", notifications.ConsentAccepted
		got, err := tx.AddRecipient(ctx, again)
		if err != nil || cmp.Diff(pending, got) != "" {
			t.Errorf("AddRecipient of a stored pair = %+v, %v; want the stored one %+v", got, err, pending)
		}
		return nil
	})
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		for _, lock := range []bool{false, true} {
			got, err := tx.Recipient(ctx, "acc", "p@example.com", lock)
			if err != nil || cmp.Diff(pending, got) != "" {
				t.Errorf("Recipient(lock %v) = %+v, %v; want %+v", lock, got, err, pending)
			}
		}
		if _, err := tx.Recipient(ctx, "acc", "nobody@example.com", false); !errors.Is(err, notifications.ErrConsentNotFound) {
			t.Errorf("Recipient of an unknown address: %v, want ErrConsentNotFound", err)
		}
		got, err := tx.RecipientByToken(ctx, "tok-other")
		if err != nil || cmp.Diff(other, got) != "" {
			t.Errorf("RecipientByToken = %+v, %v; want %+v", got, err, other)
		}
		if _, err := tx.RecipientByToken(ctx, "tok-none"); !errors.Is(err, notifications.ErrConsentNotFound) {
			t.Errorf("RecipientByToken of an unknown token: %v, want ErrConsentNotFound", err)
		}
		n, earliest, err := tx.ConsentRequests(ctx, "acc", base.Add(-24*time.Hour))
		if err != nil || n != 1 || !earliest.Equal(*pending.RequestedAt) {
			t.Errorf("ConsentRequests = %d, %v, %v; want 1 at %v", n, earliest, err, pending.RequestedAt)
		}
		n, earliest, err = tx.ConsentRequests(ctx, "nobody", base.Add(-24*time.Hour))
		if err != nil || n != 0 || !earliest.IsZero() {
			t.Errorf("ConsentRequests of nobody = %d, %v, %v; want 0", n, earliest, err)
		}
		return tx.DecideRecipient(ctx, "acc", "p@example.com", notifications.ConsentDeclined, base)
	})
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		got, err := tx.RecipientByToken(ctx, "tok-p")
		want := pending
		want.State, want.DecidedAt = notifications.ConsentDeclined, &base
		if err != nil || cmp.Diff(want, got) != "" {
			t.Errorf("after DecideRecipient: %+v, %v; want %+v", got, err, want)
		}
		return nil
	})
}

func testAccountQueries(t *testing.T, s notifications.Store) {
	ev, ev2 := event("ev", base, base), event("ev2", base, base)
	at := base.Add(-time.Hour)
	a := reminder(t, "acc", ev, at, nil)
	b := reminder(t, "acc", ev, at, nil) // the same time, another address
	b.Email = "Other@Example.com"
	b.Status = notifications.StatusAwaitingConsent
	cancelled := reminder(t, "acc", ev, at, nil)
	cancelled.Status = notifications.StatusCancelled
	sent := reminder(t, "acc", ev, at, nil)
	sent.Status = notifications.StatusSent
	later := reminder(t, "acc", ev, at.Add(time.Minute), nil)
	otherEvent := reminder(t, "acc", ev2, at, nil)
	otherAccount := reminder(t, "zed", ev, at, nil)
	create(t, s, a, b, cancelled, sent, later, otherEvent, otherAccount)
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		same, err := tx.SameTimeReminders(ctx, "acc", "ev", at)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(sortedIDs(a.ID, b.ID, sent.ID), ids(same)); diff != "" {
			t.Errorf("SameTimeReminders (-want +got):\n%s", diff)
		}
		n, err := tx.CountPending(ctx, "acc")
		if err != nil || n != 4 {
			t.Errorf("CountPending = %d, %v; want 4 (scheduled and awaiting_consent)", n, err)
		}
		awaiting, err := tx.AccountReminders(ctx, "acc", notifications.StatusAwaitingConsent)
		if err != nil || cmp.Diff([]string{b.ID}, ids(awaiting)) != "" {
			t.Errorf("AccountReminders(awaiting_consent) = %v, %v; want [%s]", ids(awaiting), err, b.ID)
		}
		scheduled, err := tx.AccountReminders(ctx, "acc", notifications.StatusScheduled)
		if err != nil || cmp.Diff(sortedIDs(a.ID, later.ID, otherEvent.ID), ids(scheduled)) != "" {
			t.Errorf("AccountReminders(scheduled) = %v, %v", ids(scheduled), err)
		}
		return nil
	})
}

func sortedIDs(in ...string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

func testCancelUnconsented(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base)
	due := reminder(t, "a", ev, base.Add(-time.Hour), nil)
	due.Status = notifications.StatusAwaitingConsent
	notDue := reminder(t, "a", ev, base.Add(-time.Hour+time.Microsecond), nil)
	notDue.Status = notifications.StatusAwaitingConsent
	scheduled := reminder(t, "a", ev, base.Add(-2*time.Hour), nil)
	create(t, s, due, notDue, scheduled)
	next, ok, err := s.NextSendAt(ctx)
	if err != nil || !ok || !next.Equal(scheduled.SendAt) {
		t.Errorf("NextSendAt = %v, %v, %v; want %v", next, ok, err, scheduled.SendAt)
	}
	n, err := s.CancelUnconsented(ctx, base.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("CancelUnconsented = %d, %v; want 1", n, err)
	}
	for r, want := range map[string]notifications.Status{
		due.ID: notifications.StatusCancelled, notDue.ID: notifications.StatusAwaitingConsent, scheduled.ID: notifications.StatusScheduled,
	} {
		if got := get(t, s, r).Status; got != want {
			t.Errorf("reminder %s: %s, want %s", r, got, want)
		}
	}
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		_, err := tx.Transition(ctx, scheduled.ID, notifications.StatusScheduled, notifications.StatusCancelled, nil, "")
		return err
	})
	next, ok, err = s.NextSendAt(ctx)
	if err != nil || !ok || !next.Equal(notDue.SendAt) {
		t.Errorf("NextSendAt with only one awaiting consent = %v, %v, %v; want %v", next, ok, err, notDue.SendAt)
	}
}

// testClaimDueDecides checks that the decision of ClaimDue may fail or cancel a reminder
// instead of mailing it, and that it reads through the claim's transaction.
func testClaimDueDecides(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("ev", base, base)
	mailed := reminder(t, "a", ev, base.Add(-3*time.Hour), nil)
	failed := reminder(t, "b", ev, base.Add(-2*time.Hour), nil)
	cancelled := reminder(t, "c", ev, base.Add(-time.Hour), nil)
	create(t, s, mailed, failed, cancelled)
	update(t, s, func(ctx context.Context, tx notifications.Tx) error {
		_, err := tx.PutAccount(ctx, notifications.Account{ID: "a", Email: "a@example.com", EmailVerified: true, Version: 1})
		return err
	})
	got, err := s.ClaimDue(ctx, base, 10, func(tx notifications.Tx, r notifications.Reminder) (notifications.Claim, error) {
		switch r.ID {
		case failed.ID:
			return notifications.Claim{Status: notifications.StatusFailed, LastError: "not confirmed"}, nil
		case cancelled.ID:
			return notifications.Claim{Status: notifications.StatusCancelled}, nil
		}
		a, err := tx.Account(ctx, r.AccountID, false)
		if err != nil {
			return notifications.Claim{}, err
		}
		m, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{IdempotencyKey: r.ID, To: a.Email})
		return notifications.Claim{Mail: &m}, err
	})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	var statuses []string
	for _, r := range got {
		statuses = append(statuses, string(r.Status)+":"+r.LastError)
	}
	if diff := cmp.Diff([]string{"sending:", "failed:not confirmed", "cancelled:"}, statuses); diff != "" {
		t.Errorf("claimed reminders (-want +got):\n%s", diff)
	}
	if r := get(t, s, failed.ID); r.Status != notifications.StatusFailed || r.LastError != "not confirmed" {
		t.Errorf("failed reminder stored as %s %q", r.Status, r.LastError)
	}
	if r := get(t, s, cancelled.ID); r.Status != notifications.StatusCancelled {
		t.Errorf("cancelled reminder stored as %s", r.Status)
	}
	msgs := outboxtest.Messages(t, s)
	if len(msgs) != 1 {
		t.Fatalf("outbox holds %d messages, want the one mailed", len(msgs))
	}
	var p messages.EmailSend
	if err := msgs[0].Decode(&p); err != nil || p.IdempotencyKey != mailed.ID || p.To != "a@example.com" {
		t.Errorf("outbox message %+v (%v), want the one of %s to a@example.com", p, err, mailed.ID)
	}
}
