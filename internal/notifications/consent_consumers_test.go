package notifications_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// account reads the accounts mirror's copy of id.
func (e *env) account(t *testing.T, id string) (notifications.Account, error) {
	t.Helper()
	ctx := context.Background()
	var a notifications.Account
	var aerr error
	err := e.store.Update(ctx, func(tx notifications.Tx) error {
		a, aerr = tx.Account(ctx, id, false)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, aerr
}

func TestAccountChangedKeepsTheNewestVersion(t *testing.T) {
	e := newEnv(t, envOptions{noAccounts: true})
	announce := func(version int64, email string, verified bool) {
		deliver(t, e, messages.TypeAccountChanged, messages.AccountChanged{
			AccountID: "acc", Email: email, EmailVerified: verified, DisplayName: "v" + email, Version: version,
		})
	}
	want := func(version int64, email string, verified bool) {
		t.Helper()
		got, err := e.account(t, "acc")
		w := notifications.Account{ID: "acc", Email: email, EmailVerified: verified, DisplayName: "v" + email, Version: version}
		if err != nil || got != w {
			t.Errorf("account = %+v (%v), want %+v", got, err, w)
		}
	}
	announce(2, "b@example.com", true)
	want(2, "b@example.com", true)
	announce(1, "a@example.com", false) // late, older
	want(2, "b@example.com", true)
	announce(2, "c@example.com", false) // the same version again
	want(2, "b@example.com", true)
	announce(3, "d@example.com", false)
	want(3, "d@example.com", false)

	t.Run("no account_id is permanent", func(t *testing.T) {
		m, err := broker.NewMessage(context.Background(), messages.TypeAccountChanged, messages.AccountChanged{Version: 9})
		if err != nil {
			t.Fatal(err)
		}
		if err := handle(t, e, m); !broker.IsPermanent(err) {
			t.Errorf("error = %v, want permanent", err)
		}
	})
	t.Run("account.deleted removes it and its recipients", func(t *testing.T) {
		e := withEvents(newEnv(t, envOptions{}))
		e.create(t, alice, remindAt(friend, 60))
		token := e.recipient(t, alice, friend).Token
		deliver(t, e, messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: alice.id, DeletedAt: now})
		if _, err := e.account(t, alice.id); !errors.Is(err, notifications.ErrAccountUnknown) {
			t.Errorf("account after account.deleted: %v, want ErrAccountUnknown", err)
		}
		e.consent(t, "GET", token, nil, 404)
		if _, err := e.account(t, bob.id); err != nil {
			t.Errorf("another account: %v", err)
		}
	})
}

func TestEventMailsGoOncePerAddress(t *testing.T) {
	ev := testEvent("ev-1", now.Add(48*time.Hour))
	e := newEnv(t, envOptions{})
	e.events.put(ev)
	// Three reminders of alice to her own address (one in another case), one of bob's to
	// alice's address that she accepted, and one to friend who has not accepted yet.
	var alices []string
	for _, body := range []map[string]any{remindAt(alice.email, 60), remindAt(alice.email, 30), remindAt("ALICE@example.com", 10)} {
		alices = append(alices, e.create(t, alice, body))
	}
	e.create(t, bob, remindAt(alice.email, 20))
	awaiting := e.create(t, alice, remindAt(friend, 60))
	e.consent(t, "POST", e.recipient(t, bob, alice.email).Token, map[string]any{"decision": "accept"}, 200)
	before := len(emails(t, e.store)) // the consent requests

	deleted := deliver(t, e, messages.TypeEventDeleted, messages.EventDeleted{Event: ev, Reason: messages.DeletedByOrganizer})
	mails := emails(t, e.store)[before:]
	first := e.reminder(t, alices[0])
	want := []messages.EmailSend{e.ownMail(t, messages.EmailEventCancelled, alice, first, ev)}
	if diff := cmp.Diff(want, mails); diff != "" {
		t.Errorf("cancellation emails (-want +got):\n%s", diff)
	}
	if st := e.status(t, awaiting); st != notifications.StatusCancelled {
		t.Errorf("reminder awaiting consent of a deleted event: %s, want cancelled", st)
	}
	if err := handle(t, e, deleted); err != nil {
		t.Fatal(err)
	}
	if n := len(emails(t, e.store)) - before; n != 1 {
		t.Errorf("%d cancellation emails after redelivery, want 1", n)
	}
}

func TestEventChangedMailsOnlyAddressesThatMayBeMailed(t *testing.T) {
	start := now.Add(48 * time.Hour)
	orig := testEvent("ev-1", start)
	e := newEnv(t, envOptions{})
	e.events.put(orig)
	e.putAccount(t, bob, false, 2) // bob's address is no longer confirmed
	alices := e.create(t, alice, remindAt(alice.email, 60))
	e.create(t, bob, remindAt(bob.email, 60))
	friends := e.create(t, alice, remindAt(friend, 60))
	token := e.recipient(t, alice, friend).Token
	e.consent(t, "POST", token, map[string]any{"decision": "accept"}, 200)
	before := len(emails(t, e.store))

	moved := testEvent("ev-1", start.Add(time.Hour))
	moved.UpdatedAt = orig.UpdatedAt.Add(time.Minute)
	deliver(t, e, messages.TypeEventChanged, messages.EventChanged{Event: moved, PreviousStartsAt: &start})
	own := e.ownMail(t, messages.EmailEventChanged, alice, e.reminder(t, alices), moved)
	own.PreviousStartsAt = &start
	r := e.reminder(t, friends)
	other := messages.EmailSend{
		IdempotencyKey: "event_changed:ev-1:" + friend + ":" + strconv.FormatInt(moved.UpdatedAt.UnixMicro(), 10),
		Kind:           messages.EmailEventChanged, To: friend, Event: &moved, Note: r.Note, PreviousStartsAt: &start,
		UnsubscribeToken: token, Requester: displayName(alice),
	}
	if diff := cmp.Diff([]messages.EmailSend{own, other}, emails(t, e.store)[before:]); diff != "" {
		t.Errorf("event_changed emails (-want +got):\n%s", diff)
	}
}
