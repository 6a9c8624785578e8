package notifications_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// handle hands m to the consumer of e's service that takes its type.
func handle(t *testing.T, e *env, m broker.Message) error {
	t.Helper()
	for _, c := range e.svc.Consumers() {
		if slices.Contains(c.Types, m.Type) {
			return c.Handle(context.Background(), m)
		}
	}
	t.Fatalf("no consumer for %s", m.Type)
	return nil
}

// deliver builds a message of type typ and hands it to its consumer, which must accept it.
func deliver(t *testing.T, e *env, typ string, payload any) broker.Message {
	t.Helper()
	m, err := broker.NewMessage(context.Background(), typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := handle(t, e, m); err != nil {
		t.Fatalf("handle %s: %v", typ, err)
	}
	return m
}

func TestConsumersCoverTheirQueues(t *testing.T) {
	e := newEnv(t, envOptions{})
	got := map[string][]string{}
	for _, c := range e.svc.Consumers() {
		got[c.Queue] = c.Types
	}
	want := map[string][]string{
		messages.QueueNotificationsDomain: {
			messages.TypeAccountDeleted, messages.TypeAccountChanged, messages.TypeEventChanged, messages.TypeEventDeleted,
			messages.TypeAttendanceChanged,
		},
		messages.QueueNotificationsResult: {messages.TypeEmailResult},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("consumers mismatch (-want +got):\n%s", diff)
	}
}

func TestAccountDeleted(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	scheduled := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
	sent := e.create(t, alice, map[string]any{"event_id": "ev-far", "minutes_before": 10})
	e.setStatus(t, sent, notifications.StatusScheduled, notifications.StatusSending)
	e.setStatus(t, sent, notifications.StatusSending, notifications.StatusSent)
	cancelled := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 20})
	e.setStatus(t, cancelled, notifications.StatusScheduled, notifications.StatusCancelled)
	bobs := e.create(t, bob, map[string]any{"event_id": "ev-1", "minutes_before": 10})

	m := deliver(t, e, messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: alice.id, DeletedAt: now})
	for _, id := range []string{scheduled, sent, cancelled} {
		if _, err := e.store.Reminder(context.Background(), id); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("reminder %s of the deleted account: error %v, want ErrNotFound", id, err)
		}
	}
	if got := e.status(t, bobs); got != notifications.StatusScheduled {
		t.Errorf("someone else's reminder: status %s, want scheduled", got)
	}
	if _, err := e.store.Snapshot(context.Background(), "ev-far"); !errors.Is(err, notifications.ErrEventNotFound) {
		t.Errorf("snapshot of an event nobody reminds of any more: %v, want ErrEventNotFound", err)
	}
	if n := len(emails(t, e.store)); n != 0 {
		t.Errorf("%d emails queued, want none", n)
	}

	t.Run("redelivery has no second effect", func(t *testing.T) {
		again := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
		if err := handle(t, e, m); err != nil {
			t.Fatal(err)
		}
		if got := e.status(t, again); got != notifications.StatusScheduled {
			t.Errorf("reminder created after the deletion: status %s, want scheduled", got)
		}
	})
	t.Run("malformed payload is permanent", func(t *testing.T) {
		err := handle(t, e, broker.Message{ID: "x", Type: messages.TypeAccountDeleted, Payload: []byte(`[`)})
		if !broker.IsPermanent(err) {
			t.Errorf("error = %v, want permanent", err)
		}
	})
}

func TestEventChanged(t *testing.T) {
	start := now.Add(48 * time.Hour)
	orig := testEvent("ev-1", start)
	version := func(startsAt time.Time, updated time.Duration, title string) messages.Event {
		ev := testEvent("ev-1", startsAt)
		ev.UpdatedAt = orig.UpdatedAt.Add(updated)
		ev.Title = title
		return ev
	}
	type fixture struct {
		relative, absolute, cancelledRel, sendingRel string
	}
	tests := []struct {
		name       string
		ev         messages.Event
		wantTitle  string
		wantSendAt func(f fixture) map[string]time.Time
		wantMails  func(f fixture) []string // recipients' reminder IDs, in ID order
	}{
		{
			name: "start moved later: relative reminders move, every scheduled owner is told",
			ev:   version(start.Add(2*time.Hour), time.Minute, "Moved"), wantTitle: "Moved",
			wantSendAt: func(f fixture) map[string]time.Time {
				return map[string]time.Time{
					f.relative: start.Add(2*time.Hour - 60*time.Minute), f.absolute: now.Add(time.Hour),
					f.cancelledRel: start.Add(-30 * time.Minute), f.sendingRel: start.Add(-15 * time.Minute),
				}
			},
			wantMails: func(f fixture) []string { return sortedIDs(f.relative, f.absolute) },
		},
		{
			name: "start moved so close that the relative reminder is due now",
			ev:   version(now.Add(30*time.Minute), time.Minute, "Sooner"), wantTitle: "Sooner",
			wantSendAt: func(f fixture) map[string]time.Time {
				return map[string]time.Time{f.relative: now, f.absolute: now.Add(time.Hour)}
			},
			wantMails: func(f fixture) []string { return sortedIDs(f.relative, f.absolute) },
		},
		{
			name: "only the title changed: the snapshot follows, nobody is told",
			ev:   version(start, time.Minute, "Renamed"), wantTitle: "Renamed",
			wantSendAt: func(f fixture) map[string]time.Time {
				return map[string]time.Time{f.relative: start.Add(-60 * time.Minute), f.absolute: now.Add(time.Hour)}
			},
			wantMails: func(fixture) []string { return nil },
		},
		{
			name: "an older version is ignored",
			ev:   version(start.Add(5*time.Hour), -time.Minute, "Stale"), wantTitle: orig.Title,
			wantSendAt: func(f fixture) map[string]time.Time {
				return map[string]time.Time{f.relative: start.Add(-60 * time.Minute)}
			},
			wantMails: func(fixture) []string { return nil },
		},
		{
			name: "the same version is ignored",
			ev:   version(start.Add(5*time.Hour), 0, "Same"), wantTitle: orig.Title,
			wantSendAt: func(f fixture) map[string]time.Time {
				return map[string]time.Time{f.relative: start.Add(-60 * time.Minute)}
			},
			wantMails: func(fixture) []string { return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.events.put(orig)
			f := fixture{
				relative:     e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 60}),
				absolute:     e.create(t, bob, map[string]any{"event_id": "ev-1", "send_at": now.Add(time.Hour).Format(time.RFC3339)}),
				cancelledRel: e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 30}),
				sendingRel:   e.create(t, bob, map[string]any{"event_id": "ev-1", "minutes_before": 15}),
			}
			e.setStatus(t, f.cancelledRel, notifications.StatusScheduled, notifications.StatusCancelled)
			e.setStatus(t, f.sendingRel, notifications.StatusScheduled, notifications.StatusSending)

			m := deliver(t, e, messages.TypeEventChanged, messages.EventChanged{Event: tt.ev, PreviousStartsAt: &start})
			check := func(t *testing.T) {
				t.Helper()
				for id, want := range tt.wantSendAt(f) {
					if got := e.reminder(t, id).SendAt; !got.Equal(want) {
						t.Errorf("reminder %s: send_at %v, want %v", id, got, want)
					}
				}
				snap, err := e.store.Snapshot(context.Background(), "ev-1")
				if err != nil || snap.Title != tt.wantTitle {
					t.Errorf("snapshot title %q (%v), want %q", snap.Title, err, tt.wantTitle)
				}
				var want []messages.EmailSend
				for _, id := range tt.wantMails(f) {
					r := e.reminder(t, id)
					owner := map[string]caller{alice.id: alice, bob.id: bob}[r.AccountID]
					mail := e.ownMail(t, messages.EmailEventChanged, owner, r, tt.ev)
					mail.PreviousStartsAt = &start
					want = append(want, mail)
				}
				if diff := cmp.Diff(want, emails(t, e.store)); diff != "" {
					t.Errorf("emails mismatch (-want +got):\n%s", diff)
				}
			}
			check(t)
			if len(tt.wantMails(f)) > 0 && e.outbox.count() == 0 {
				t.Error("the outbox relay was not woken")
			}
			t.Run("redelivery has no second effect", func(t *testing.T) {
				if err := handle(t, e, m); err != nil {
					t.Fatal(err)
				}
				check(t)
			})
		})
	}

	t.Run("an event nobody reminds of is ignored", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		deliver(t, e, messages.TypeEventChanged, messages.EventChanged{Event: testEvent("elsewhere", start)})
		if _, err := e.store.Snapshot(context.Background(), "elsewhere"); !errors.Is(err, notifications.ErrEventNotFound) {
			t.Errorf("snapshot: %v, want ErrEventNotFound (none created)", err)
		}
	})
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestEventDeleted(t *testing.T) {
	ev := testEvent("ev-1", now.Add(48*time.Hour))
	organizer := caller{ev.OrganizerID, "organizer@example.com"}
	type fixture struct{ alices, bobs, organizers, sent string }
	tests := []struct {
		name        string
		reason      string
		wantStatus  func(f fixture) map[string]notifications.Status // "" = deleted
		wantMailsTo func(f fixture) []string
	}{
		{
			name: "by its organizer: every scheduled reminder is cancelled and its owner told", reason: messages.DeletedByOrganizer,
			wantStatus: func(f fixture) map[string]notifications.Status {
				return map[string]notifications.Status{f.alices: notifications.StatusCancelled, f.bobs: notifications.StatusCancelled,
					f.organizers: notifications.StatusCancelled, f.sent: notifications.StatusSent}
			},
			wantMailsTo: func(f fixture) []string { return sortedIDs(f.alices, f.bobs, f.organizers) },
		},
		{
			name: "with the organizer's account: the organizer's own reminders go without a mail", reason: messages.DeletedWithAccount,
			wantStatus: func(f fixture) map[string]notifications.Status {
				return map[string]notifications.Status{f.alices: notifications.StatusCancelled, f.bobs: notifications.StatusCancelled,
					f.organizers: "", f.sent: notifications.StatusSent}
			},
			wantMailsTo: func(f fixture) []string { return sortedIDs(f.alices, f.bobs) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.putAccount(t, organizer, true, 1)
			e.events.put(ev)
			f := fixture{
				alices:     e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 60, "note": "hi"}),
				bobs:       e.create(t, bob, map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T10:00:00Z"}),
				organizers: e.create(t, organizer, map[string]any{"event_id": "ev-1", "minutes_before": 5}),
				sent:       e.create(t, bob, map[string]any{"event_id": "ev-1", "minutes_before": 10}),
			}
			e.setStatus(t, f.sent, notifications.StatusScheduled, notifications.StatusSending)
			e.setStatus(t, f.sent, notifications.StatusSending, notifications.StatusSent)
			wantMails := []messages.EmailSend{}
			for _, id := range tt.wantMailsTo(f) {
				r := e.reminder(t, id)
				owner := map[string]caller{alice.id: alice, bob.id: bob, organizer.id: organizer}[r.AccountID]
				wantMails = append(wantMails, e.ownMail(t, messages.EmailEventCancelled, owner, r, ev))
			}

			m := deliver(t, e, messages.TypeEventDeleted, messages.EventDeleted{Event: ev, Reason: tt.reason})
			check := func(t *testing.T) {
				t.Helper()
				for id, want := range tt.wantStatus(f) {
					r, err := e.store.Reminder(context.Background(), id)
					if want == "" {
						if !errors.Is(err, notifications.ErrNotFound) {
							t.Errorf("reminder %s: %v (status %s), want it deleted", id, err, r.Status)
						}
						continue
					}
					if err != nil || r.Status != want {
						t.Errorf("reminder %s: status %s (%v), want %s", id, r.Status, err, want)
					}
				}
				got := emails(t, e.store)
				if got == nil {
					got = []messages.EmailSend{}
				}
				if diff := cmp.Diff(wantMails, got); diff != "" {
					t.Errorf("emails mismatch (-want +got):\n%s", diff)
				}
			}
			check(t)
			t.Run("redelivery has no second effect", func(t *testing.T) {
				if err := handle(t, e, m); err != nil {
					t.Fatal(err)
				}
				check(t)
			})
		})
	}

	t.Run("an event nobody reminds of is ignored", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		deliver(t, e, messages.TypeEventDeleted, messages.EventDeleted{Event: testEvent("elsewhere", now), Reason: messages.DeletedByOrganizer})
		if n := len(emails(t, e.store)); n != 0 {
			t.Errorf("%d emails, want none", n)
		}
	})
}

func TestEmailResult(t *testing.T) {
	at := now.Add(time.Minute)
	tests := []struct {
		name          string
		from          notifications.Status // the reminder's state when the result comes
		results       []messages.EmailResult
		want          notifications.Status
		wantSentAt    *time.Time
		wantLastError string
	}{
		{"sent", notifications.StatusSending,
			[]messages.EmailResult{{Status: messages.ResultSent, At: at}},
			notifications.StatusSent, &at, ""},
		{"failed", notifications.StatusSending,
			[]messages.EmailResult{{Status: messages.ResultFailed, Error: "550 no such mailbox", At: at}},
			notifications.StatusFailed, nil, "550 no such mailbox"},
		{"a late duplicate changes nothing", notifications.StatusSending,
			[]messages.EmailResult{{Status: messages.ResultSent, At: at}, {Status: messages.ResultSent, At: at.Add(time.Hour)}},
			notifications.StatusSent, &at, ""},
		{"a failure after the success changes nothing", notifications.StatusSending,
			[]messages.EmailResult{{Status: messages.ResultSent, At: at}, {Status: messages.ResultFailed, Error: "x", At: at}},
			notifications.StatusSent, &at, ""},
		{"a result for a reminder not being sent changes nothing", notifications.StatusScheduled,
			[]messages.EmailResult{{Status: messages.ResultSent, At: at}},
			notifications.StatusScheduled, nil, ""},
		{"a result for a cancelled reminder changes nothing", notifications.StatusCancelled,
			[]messages.EmailResult{{Status: messages.ResultSent, At: at}},
			notifications.StatusCancelled, nil, ""},
		{"another kind of email about the reminder changes nothing", notifications.StatusSending,
			[]messages.EmailResult{{Kind: messages.EmailEventChanged, Status: messages.ResultSent, At: at}},
			notifications.StatusSending, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := withEvents(newEnv(t, envOptions{}))
			id := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
			if tt.from != notifications.StatusScheduled {
				e.setStatus(t, id, notifications.StatusScheduled, tt.from)
			}
			for _, res := range tt.results {
				res.ReminderID = id
				res.IdempotencyKey = id
				if res.Kind == "" {
					res.Kind = messages.EmailReminder
				}
				m := deliver(t, e, messages.TypeEmailResult, res)
				if err := handle(t, e, m); err != nil { // and once more, redelivered
					t.Fatal(err)
				}
			}
			r := e.reminder(t, id)
			if r.Status != tt.want || !cmp.Equal(r.SentAt, tt.wantSentAt) || r.LastError != tt.wantLastError {
				t.Errorf("reminder: %s, sent_at %v, last_error %q; want %s, %v, %q",
					r.Status, r.SentAt, r.LastError, tt.want, tt.wantSentAt, tt.wantLastError)
			}
		})
	}

	t.Run("the API shows a failure", func(t *testing.T) {
		e := withEvents(newEnv(t, envOptions{}))
		id := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
		e.setStatus(t, id, notifications.StatusScheduled, notifications.StatusSending)
		deliver(t, e, messages.TypeEmailResult, messages.EmailResult{IdempotencyKey: id, Kind: messages.EmailReminder,
			ReminderID: id, Status: messages.ResultFailed, Error: "550 no such mailbox", At: at})
		w := e.do(t, alice, "GET", "/api/v1/notifications/"+id, nil)
		for _, want := range []string{`"status":"failed"`, `"last_error":"550 no such mailbox"`, `"sent_at":null`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("body %s lacks %s", w.Body, want)
			}
		}
	})

	t.Run("a batch records each result", func(t *testing.T) {
		e := withEvents(newEnv(t, envOptions{}))
		sent := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 10})
		failed := e.create(t, alice, map[string]any{"event_id": "ev-1", "minutes_before": 20})
		for _, id := range []string{sent, failed} {
			e.setStatus(t, id, notifications.StatusScheduled, notifications.StatusSending)
		}
		var c broker.Consumer
		for _, c = range e.svc.Consumers() {
			if c.Queue == messages.QueueNotificationsResult {
				break
			}
		}
		msg := func(res messages.EmailResult) broker.Delivery {
			m, err := broker.NewMessage(context.Background(), messages.TypeEmailResult, res)
			if err != nil {
				t.Fatal(err)
			}
			return broker.Delivery{Ctx: context.Background(), Message: m}
		}
		bad := msg(messages.EmailResult{})
		bad.Payload = []byte(`{"reminder_id": 7}`)
		errs := c.HandleBatch(context.Background(), []broker.Delivery{
			msg(messages.EmailResult{IdempotencyKey: sent, Kind: messages.EmailReminder, ReminderID: sent, Status: messages.ResultSent, At: at}),
			bad,
			msg(messages.EmailResult{Kind: messages.EmailWelcome, Status: messages.ResultSent, At: at}),
			msg(messages.EmailResult{IdempotencyKey: failed, Kind: messages.EmailReminder, ReminderID: failed, Status: messages.ResultFailed, Error: "550", At: at}),
		})
		if errs[0] != nil || errs[2] != nil || errs[3] != nil || !broker.IsPermanent(errs[1]) {
			t.Errorf("errors %v, want nil but for a permanent one for the malformed payload", errs)
		}
		if r := e.reminder(t, sent); r.Status != notifications.StatusSent || !cmp.Equal(r.SentAt, &at) {
			t.Errorf("sent reminder: %s at %v", r.Status, r.SentAt)
		}
		if r := e.reminder(t, failed); r.Status != notifications.StatusFailed || r.LastError != "550" {
			t.Errorf("failed reminder: %s, %q", r.Status, r.LastError)
		}
	})

	t.Run("unusable results", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		tests := []struct {
			name          string
			payload       string
			wantPermanent bool
		}{
			{"unknown reminder is acknowledged", `{"reminder_id": "nope", "kind": "reminder", "status": "sent"}`, false},
			{"no reminder (a welcome email) is acknowledged", `{"kind": "welcome", "status": "sent"}`, false},
			{"unknown status is permanent", `{"reminder_id": "nope", "kind": "reminder", "status": "lost"}`, true},
			{"malformed payload is permanent", `{"reminder_id": 7}`, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := handle(t, e, broker.Message{ID: "m" + strconv.Itoa(i), Type: messages.TypeEmailResult, Payload: []byte(tt.payload)})
				if tt.wantPermanent != broker.IsPermanent(err) || (!tt.wantPermanent && err != nil) {
					t.Errorf("error = %v, want permanent %v", err, tt.wantPermanent)
				}
			})
		}
	})
}
