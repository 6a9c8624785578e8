package notifications_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

const friend = "friend@example.org"

// createStatus sets a reminder through the API and returns its ID and status.
func (e *env) createStatus(t *testing.T, c caller, body map[string]any) (string, notifications.Status) {
	t.Helper()
	id := e.create(t, c, body)
	return id, e.status(t, id)
}

// remindAt returns the body of a reminder of ev-1 to email at minutes before its start.
func remindAt(email string, minutes int) map[string]any {
	return map[string]any{"event_id": "ev-1", "minutes_before": minutes, "email": email}
}

type consentBody struct {
	Email     string `json:"email"`
	Requester struct {
		DisplayName string `json:"display_name"`
	} `json:"requester"`
	Status string `json:"status"`
}

// consent answers GET or POST /api/v1/consents/{token} and checks its status.
func (e *env) consent(t *testing.T, method, token string, body any, wantStatus int) consentBody {
	t.Helper()
	w := e.do(t, nobody, method, "/api/v1/consents/"+token, body)
	if w.Code != wantStatus {
		t.Fatalf("%s consent: status %d, want %d; body %s", method, w.Code, wantStatus, w.Body)
	}
	var c consentBody
	if wantStatus == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
	} else if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %s", ct, problem.ContentType)
	}
	return c
}

func wantConsent(email, requester, status string) consentBody {
	c := consentBody{Email: email, Status: status}
	c.Requester.DisplayName = requester
	return c
}

func TestReminderToSomeoneElseAsksOnce(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	first, st := e.createStatus(t, alice, remindAt(friend, 60))
	if st != notifications.StatusAwaitingConsent {
		t.Fatalf("first reminder to someone else: %s, want awaiting_consent", st)
	}
	second, st := e.createStatus(t, alice, remindAt("Friend@Example.org", 30))
	if st != notifications.StatusAwaitingConsent {
		t.Fatalf("second reminder to the same address: %s, want awaiting_consent", st)
	}
	rec := e.recipient(t, alice, friend)
	ev := e.reminder(t, first).Event
	want := []messages.EmailSend{{
		IdempotencyKey: "consent_request:" + rec.Token, Kind: messages.EmailConsentRequest, To: friend,
		Token: rec.Token, Requester: displayName(alice), Event: &ev,
	}}
	if diff := cmp.Diff(want, emails(t, e.store)); diff != "" {
		t.Fatalf("emails (-want +got):\n%s", diff)
	}
	if e.outbox.count() == 0 {
		t.Error("the outbox relay was not woken for the consent request")
	}
	if rec.State != notifications.ConsentPending || len(rec.Token) != 43 || rec.RequestedAt == nil {
		t.Errorf("recipient %+v, want pending with a 43-character token", rec)
	}
	if got := e.consent(t, http.MethodGet, rec.Token, nil, http.StatusOK); got != wantConsent(friend, displayName(alice), "pending") {
		t.Errorf("GET consent = %+v", got)
	}
	w := e.do(t, alice, http.MethodGet, "/api/v1/notifications?status=awaiting_consent", nil)
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), `"awaiting_consent"`) != 2 {
		t.Errorf("list awaiting_consent: %d %s, want both", w.Code, w.Body)
	}

	got := e.consent(t, http.MethodPost, rec.Token, map[string]any{"decision": "accept"}, http.StatusOK)
	if got != wantConsent(friend, displayName(alice), "accepted") {
		t.Errorf("POST accept = %+v", got)
	}
	for _, id := range []string{first, second} {
		if st := e.status(t, id); st != notifications.StatusScheduled {
			t.Errorf("reminder %s after accept: %s, want scheduled", id, st)
		}
	}
	if _, st := e.createStatus(t, alice, remindAt(friend, 10)); st != notifications.StatusScheduled {
		t.Errorf("reminder to an address that accepted: %s, want scheduled", st)
	}
	if n := len(emails(t, e.store)); n != 1 {
		t.Errorf("%d emails, want only the one consent request", n)
	}

	t.Run("another account asks on its own", func(t *testing.T) {
		if _, st := e.createStatus(t, bob, remindAt(friend, 60)); st != notifications.StatusAwaitingConsent {
			t.Errorf("bob's reminder to alice's friend: %s, want awaiting_consent", st)
		}
		if e.recipient(t, bob, friend).Token == rec.Token {
			t.Error("two accounts share a token")
		}
		if n := len(emails(t, e.store)); n != 2 {
			t.Errorf("%d emails, want a second consent request", n)
		}
	})
}

func TestConsentRequestNamesTheCallerWithoutTheMirror(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{noAccounts: true}))
	e.create(t, alice, remindAt(friend, 60))
	mails := emails(t, e.store)
	if len(mails) != 1 || mails[0].Requester != alice.email {
		t.Fatalf("consent request %+v, want one naming %s", mails, alice.email)
	}
	token := e.recipient(t, alice, friend).Token
	if got := e.consent(t, http.MethodGet, token, nil, http.StatusOK); got != wantConsent(friend, "", "pending") {
		t.Errorf("GET consent of an account the mirror does not know = %+v", got)
	}
}

func TestDeclineCancelsAndRefusesLaterReminders(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	id := e.create(t, alice, remindAt(friend, 60))
	token := e.recipient(t, alice, friend).Token
	if got := e.consent(t, http.MethodPost, token, map[string]any{"decision": "decline"}, http.StatusOK); got.Status != "declined" {
		t.Errorf("POST decline = %+v", got)
	}
	if st := e.status(t, id); st != notifications.StatusCancelled {
		t.Errorf("reminder after decline: %s, want cancelled", st)
	}
	w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", remindAt("FRIEND@example.org", 30))
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("reminder to an address that declined: %d %s, want 422", w.Code, w.Body)
	}
	p := decodeProblem(t, w.Body.Bytes())
	if len(p.Errors) != 1 || p.Errors[0].Field != "email" || !strings.Contains(p.Errors[0].Message, "declined") {
		t.Errorf("problem %+v, want the email field saying the address declined", p)
	}

	t.Run("accepting after declining re-enables later reminders only", func(t *testing.T) {
		e.consent(t, http.MethodPost, token, map[string]any{"decision": "accept"}, http.StatusOK)
		if st := e.status(t, id); st != notifications.StatusCancelled {
			t.Errorf("the cancelled reminder: %s, want it still cancelled", st)
		}
		if _, st := e.createStatus(t, alice, remindAt(friend, 30)); st != notifications.StatusScheduled {
			t.Errorf("later reminder: %s, want scheduled", st)
		}
	})
}

func TestAcceptCancelsRemindersWhoseTimePassed(t *testing.T) {
	var (
		mu    sync.Mutex
		clock = now
	)
	e := withEvents(newEnv(t, envOptions{clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }}))
	early := e.create(t, alice, map[string]any{"event_id": "ev-1", "send_at": now.Add(time.Hour).Format(time.RFC3339), "email": friend})
	late := e.create(t, alice, map[string]any{"event_id": "ev-1", "send_at": now.Add(3 * time.Hour).Format(time.RFC3339), "email": friend})
	mu.Lock()
	clock = now.Add(2 * time.Hour)
	mu.Unlock()
	e.consent(t, http.MethodPost, e.recipient(t, alice, friend).Token, map[string]any{"decision": "accept"}, http.StatusOK)
	if st := e.status(t, early); st != notifications.StatusCancelled {
		t.Errorf("reminder whose send_at passed: %s, want cancelled", st)
	}
	if st := e.status(t, late); st != notifications.StatusScheduled {
		t.Errorf("reminder still ahead: %s, want scheduled", st)
	}
}

func TestConsentErrors(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	id := e.create(t, alice, remindAt(friend, 60))
	token := e.recipient(t, alice, friend).Token
	unknown := strings.Repeat("A", 43)
	e.consent(t, http.MethodGet, unknown, nil, http.StatusNotFound)
	e.consent(t, http.MethodGet, "short", nil, http.StatusNotFound)
	e.consent(t, http.MethodPost, unknown, map[string]any{"decision": "accept"}, http.StatusNotFound)
	for _, body := range []any{map[string]any{"decision": "maybe"}, map[string]any{}} {
		w := e.do(t, nobody, http.MethodPost, "/api/v1/consents/"+token, body)
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("decision %v: %d %s, want 422", body, w.Code, w.Body)
		} else if f := fieldNames(decodeProblem(t, w.Body.Bytes())); len(f) != 1 || f[0] != "decision" {
			t.Errorf("decision %v: fields %v, want [decision]", body, f)
		}
	}
	if w := e.do(t, nobody, http.MethodPost, "/api/v1/consents/"+token, `{"decision":`); w.Code != http.StatusBadRequest {
		t.Errorf("malformed body: %d, want 400", w.Code)
	}
	if w := e.do(t, nobody, http.MethodPost, "/api/v1/unsubscribe/"+unknown, nil); w.Code != http.StatusNotFound {
		t.Errorf("unsubscribe with an unknown token: %d, want 404", w.Code)
	}
	if st := e.status(t, id); st != notifications.StatusAwaitingConsent {
		t.Errorf("reminder after bad requests: %s, want it unchanged", st)
	}
	if got := e.recipient(t, alice, friend); got.State != notifications.ConsentPending {
		t.Errorf("recipient after bad requests: %s, want pending", got.State)
	}
}

// unsubscribe posts the RFC 8058 one-click form to the unsubscribe URL of token.
func (e *env) unsubscribe(t *testing.T, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/unsubscribe/"+token, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	signAsGateway(req, nobody)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func TestUnsubscribe(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	accepted := e.create(t, alice, remindAt(friend, 60))
	token := e.recipient(t, alice, friend).Token
	e.consent(t, http.MethodPost, token, map[string]any{"decision": "accept"}, http.StatusOK)
	sent := e.create(t, alice, remindAt(friend, 30))
	e.setStatus(t, sent, notifications.StatusScheduled, notifications.StatusSending)
	e.setStatus(t, sent, notifications.StatusSending, notifications.StatusSent)
	own := e.create(t, alice, remindAt(alice.email, 60))
	bobs := e.create(t, bob, remindAt(friend, 60))

	if w := e.unsubscribe(t, token); w.Code != http.StatusNoContent {
		t.Fatalf("unsubscribe: %d %s, want 204", w.Code, w.Body)
	}
	for id, want := range map[string]notifications.Status{
		accepted: notifications.StatusCancelled, sent: notifications.StatusSent,
		own: notifications.StatusScheduled, bobs: notifications.StatusAwaitingConsent,
	} {
		if got := e.status(t, id); got != want {
			t.Errorf("reminder %s: %s, want %s", id, got, want)
		}
	}
	if got := e.consent(t, http.MethodGet, token, nil, http.StatusOK); got.Status != "declined" {
		t.Errorf("consent after unsubscribe: %+v, want declined", got)
	}
	if w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", remindAt(friend, 20)); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("reminder after unsubscribe: %d, want 422", w.Code)
	}
	if w := e.unsubscribe(t, token); w.Code != http.StatusNoContent {
		t.Errorf("unsubscribing again: %d, want 204", w.Code)
	}

	t.Run("from one's own reminders; a new own reminder is consent again", func(t *testing.T) {
		ownToken := e.recipient(t, alice, alice.email).Token
		if w := e.unsubscribe(t, ownToken); w.Code != http.StatusNoContent {
			t.Fatalf("unsubscribe: %d", w.Code)
		}
		if st := e.status(t, own); st != notifications.StatusCancelled {
			t.Errorf("own reminder after unsubscribe: %s, want cancelled", st)
		}
		if _, st := e.createStatus(t, alice, remindAt(alice.email, 15)); st != notifications.StatusScheduled {
			t.Errorf("new own reminder: %s, want scheduled", st)
		}
		if got := e.recipient(t, alice, alice.email); got.State != notifications.ConsentAccepted {
			t.Errorf("own address after a new reminder: %s, want accepted", got.State)
		}
	})
}

func TestQuotas(t *testing.T) {
	t.Run("pending reminders per account", func(t *testing.T) {
		e := withEvents(newEnv(t, envOptions{cfg: notifications.Config{MaxPendingReminders: 2}}))
		first := e.create(t, alice, remindAt(alice.email, 60))
		e.create(t, alice, remindAt(friend, 50)) // awaiting_consent counts too
		w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", remindAt(alice.email, 40))
		if w.Code != http.StatusUnprocessableEntity {
			t.Fatalf("third reminder: %d %s, want 422", w.Code, w.Body)
		}
		if p := decodeProblem(t, w.Body.Bytes()); !strings.Contains(p.Detail, "2 reminders") {
			t.Errorf("detail %q, want it to name the limit", p.Detail)
		}
		if rs, _ := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: alice.id, Limit: notifications.MaxListLimit}); len(rs) != 2 {
			t.Errorf("%d reminders stored, want 2", len(rs))
		}
		e.create(t, bob, remindAt(bob.email, 60)) // per account
		if w := e.do(t, alice, http.MethodDelete, "/api/v1/notifications/"+first, nil); w.Code != http.StatusNoContent {
			t.Fatal(w.Code)
		}
		e.create(t, alice, remindAt(alice.email, 40)) // a cancelled one does not count
	})
	t.Run("consent requests per account and window", func(t *testing.T) {
		var (
			mu    sync.Mutex
			clock = now
		)
		e := withEvents(newEnv(t, envOptions{
			cfg:   notifications.Config{MaxConsentRequests: 2, ConsentRequestWindow: 24 * time.Hour},
			clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
		}))
		e.create(t, alice, remindAt("one@example.org", 60))
		mu.Lock()
		clock = now.Add(time.Hour)
		mu.Unlock()
		e.create(t, alice, remindAt("two@example.org", 60))
		w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", remindAt("three@example.org", 60))
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("third consent request: %d %s, want 429", w.Code, w.Body)
		}
		if got := w.Header().Get("Retry-After"); got != "82800" {
			t.Errorf("Retry-After = %q, want 82800 (23 h, when the first request leaves the window)", got)
		}
		if p := decodeProblem(t, w.Body.Bytes()); !strings.Contains(p.Detail, "consent") {
			t.Errorf("detail %q", p.Detail)
		}
		if n := len(emails(t, e.store)); n != 2 {
			t.Errorf("%d emails, want the 2 allowed requests", n)
		}
		// An address already asked, one's own, and another account are not held up.
		e.create(t, alice, remindAt("one@example.org", 30))
		e.create(t, alice, remindAt(alice.email, 30))
		e.create(t, bob, remindAt("three@example.org", 60))
		mu.Lock()
		clock = now.Add(24 * time.Hour)
		mu.Unlock()
		e.create(t, alice, remindAt("three@example.org", 60))
	})
}

func TestIdenticalReminderIsAConflict(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	body := map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T09:00:00Z", "email": friend}
	first := e.create(t, alice, body)
	same := map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T10:00:00+01:00", "email": "FRIEND@example.org"}
	w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", same)
	if w.Code != http.StatusConflict {
		t.Fatalf("identical reminder: %d %s, want 409", w.Code, w.Body)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/notifications/"+first {
		t.Errorf("Location = %q, want the existing reminder", loc)
	}
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if rs, _ := e.store.ListReminders(context.Background(), notifications.ListFilter{AccountID: alice.id, Limit: notifications.MaxListLimit}); len(rs) != 1 {
		t.Errorf("%d reminders stored, want 1", len(rs))
	}
	// Not identical: another time, another address, another account.
	e.create(t, alice, map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T09:01:00Z", "email": friend})
	e.create(t, alice, map[string]any{"event_id": "ev-1", "send_at": "2030-01-02T09:00:00Z"})
	e.create(t, bob, body)
	// A sent one is still identical; a cancelled one is not.
	e.setStatus(t, first, notifications.StatusAwaitingConsent, notifications.StatusCancelled)
	again := e.create(t, alice, same)
	e.setStatus(t, again, notifications.StatusAwaitingConsent, notifications.StatusSending)
	e.setStatus(t, again, notifications.StatusSending, notifications.StatusSent)
	if w := e.do(t, alice, http.MethodPost, "/api/v1/notifications", body); w.Code != http.StatusConflict ||
		w.Header().Get("Location") != "/api/v1/notifications/"+again {
		t.Errorf("identical to a sent reminder: %d %q, want 409 naming it", w.Code, w.Header().Get("Location"))
	}
}

func TestOwnReminderIsConsent(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	e.create(t, alice, remindAt("ALICE@example.com", 60))
	rec := e.recipient(t, alice, alice.email)
	if rec.State != notifications.ConsentAccepted || rec.RequestedAt != nil {
		t.Errorf("own address %+v, want accepted without a request", rec)
	}
	if n := len(emails(t, e.store)); n != 0 {
		t.Errorf("%d emails for an own reminder, want none", n)
	}
}

func TestListRejectsAnUnknownStatus(t *testing.T) {
	e := withEvents(newEnv(t, envOptions{}))
	w := e.do(t, alice, http.MethodGet, "/api/v1/notifications?status=waiting", nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "awaiting_consent") {
		t.Errorf("unknown status: %d %s, want 422 listing awaiting_consent", w.Code, w.Body)
	}
}
