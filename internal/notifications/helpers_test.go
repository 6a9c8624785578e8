package notifications_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// now is the fixed clock of the tests that do not run the scheduler.
var now = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// fakeEvents is an EventSource over a map; the event "down" stands for an unreachable
// events service.
type fakeEvents struct {
	mu     sync.Mutex
	events map[string]messages.Event
}

func (f *fakeEvents) Event(_ context.Context, id string) (messages.Event, error) {
	if id == "down" {
		return messages.Event{}, problem.Unavailable("events", 5*time.Second)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ev, ok := f.events[id]
	if !ok {
		return messages.Event{}, notifications.ErrEventNotFound
	}
	return ev, nil
}

func (f *fakeEvents) put(ev messages.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[ev.ID] = ev
}

// testEvent returns an event that starts at startsAt.
func testEvent(id string, startsAt time.Time) messages.Event {
	return messages.Event{
		ID: id, OrganizerID: "organizer", Title: "Title of " + id, Description: "Bring snacks",
		StartsAt: startsAt, Timezone: "Europe/Paris",
		Location:  &messages.Location{Name: "Hall", Address: "1 Main St", Lat: ptr(48.85), Lon: ptr(2.35)},
		Tags:      []string{"jazz"},
		CreatedAt: now.Add(-24 * time.Hour), UpdatedAt: now.Add(-time.Hour),
	}
}

// countingNotifier counts Notify calls and remembers when the first one happened.
type countingNotifier struct {
	mu    sync.Mutex
	n     int
	first time.Time
}

func (c *countingNotifier) Notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.first = time.Now()
	}
	c.n++
}

func (c *countingNotifier) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// env is a service over a real SQLite store in t.TempDir().
type env struct {
	svc    *notifications.Service
	store  *notifications.SQLStore
	events *fakeEvents
	outbox *countingNotifier
	h      http.Handler
}

type envOptions struct {
	cfg     notifications.Config
	realNow bool // use the real clock instead of the fixed now
	store   *notifications.SQLStore
	// clock, when set, is the service's clock.
	clock func() time.Time
	// noAccounts leaves the accounts mirror empty; by default alice and bob are in it,
	// confirmed.
	noAccounts bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{store: o.store, events: &fakeEvents{events: map[string]messages.Event{}}, outbox: &countingNotifier{}}
	if e.store == nil {
		e.store = openSQLite(t)
	}
	deps := notifications.Deps{
		Common: svcdeps.Common{Outbox: e.outbox, Log: logging.Discard()},
		Store:  e.store, Events: e.events,
		Verifier: keys.Verifier("notifications", "gateway"),
	}
	switch {
	case o.clock != nil:
		deps.Now = o.clock
	case !o.realNow:
		deps.Now = func() time.Time { return now }
	}
	svc, err := notifications.New(o.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.h = svc.Handler()
	if !o.noAccounts {
		e.putAccount(t, alice, true, 1)
		e.putAccount(t, bob, true, 1)
	}
	return e
}

// displayName is the name the accounts mirror holds for c in the tests.
func displayName(c caller) string { return "Name of " + c.id }

// putAccount stores c in the accounts mirror, as account.changed of version would, with its
// address confirmed or not.
func (e *env) putAccount(t *testing.T, c caller, verified bool, version int64) {
	t.Helper()
	ctx := context.Background()
	err := e.store.Update(ctx, func(tx notifications.Tx) error {
		_, err := tx.PutAccount(ctx, notifications.Account{
			ID: c.id, Email: c.email, EmailVerified: verified, DisplayName: displayName(c), Version: version,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recipient returns the consent of c's account for address email.
func (e *env) recipient(t *testing.T, c caller, email string) notifications.Recipient {
	t.Helper()
	ctx := context.Background()
	var rec notifications.Recipient
	err := e.store.Update(ctx, func(tx notifications.Tx) error {
		var err error
		rec, err = tx.Recipient(ctx, c.id, email, false)
		return err
	})
	if err != nil {
		t.Fatalf("recipient %s of %s: %v", email, c.id, err)
	}
	return rec
}

// keys are the service keys of the tests' callers (the gateway) and of notifications itself.
var keys = svcauthtest.New()

// asEvents serves h as the events service does: only calls of the notifications service
// get through; others are answered 401.
func asEvents(h http.Handler) http.Handler {
	v := keys.Verifier("events", "notifications")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.VerifyRequest(r); err != nil {
			problem.WriteError(w, r, problem.New(http.StatusUnauthorized, err.Error()))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// eventSource returns the HTTPEventSource of the notifications service over the events
// instances at urls.
func eventSource(urls ...string) *notifications.HTTPEventSource {
	return notifications.NewHTTPEventSource(discovery.NewBalancer(discovery.Static{discovery.Events: urls}), nil, keys.Signer("notifications"))
}

// signAsGateway authenticates req as the gateway's call for c.
func signAsGateway(req *http.Request, c caller) {
	var claims svcauth.Claims
	if c.id != "" {
		claims = svcauth.Claims{AccountID: c.id, Email: c.email, SessionID: "session-" + c.id}
	}
	keys.Sign(req, "gateway", "notifications", claims)
}

// caller is an identity the gateway would pass on.
type caller struct{ id, email string }

var (
	alice  = caller{"acc-alice", "alice@example.com"}
	bob    = caller{"acc-bob", "bob@example.com"}
	nobody = caller{}
)

// do sends a request as c and returns the response.
func (e *env) do(t *testing.T, c caller, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	signAsGateway(req, c)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

// create sets a reminder through the API and returns its ID.
func (e *env) create(t *testing.T, c caller, body map[string]any) string {
	t.Helper()
	w := e.do(t, c, http.MethodPost, "/api/v1/notifications", body)
	if w.Code != http.StatusCreated {
		t.Fatalf("create reminder %v: status %d, body %s", body, w.Code, w.Body)
	}
	var n struct{ ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &n); err != nil || n.ID == "" {
		t.Fatalf("create reminder: body %s: %v", w.Body, err)
	}
	return n.ID
}

func (e *env) reminder(t *testing.T, id string) notifications.Reminder {
	t.Helper()
	r, err := e.store.Reminder(context.Background(), id)
	if err != nil {
		t.Fatalf("Reminder(%s): %v", id, err)
	}
	return r
}

// setStatus moves a reminder from one state to another, as the scheduler or a result would.
func (e *env) setStatus(t *testing.T, id string, from, to notifications.Status) {
	t.Helper()
	ctx := context.Background()
	err := e.store.Update(ctx, func(tx notifications.Tx) error {
		ok, err := tx.Transition(ctx, id, from, to, nil, "")
		if err == nil && !ok {
			err = fmt.Errorf("reminder %s is not %s", id, from)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// emails returns the email.send messages in the store's outbox, oldest first.
func emails(t *testing.T, s *notifications.SQLStore) []messages.EmailSend {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), s.DB())
	if err != nil {
		t.Fatal(err)
	}
	var out []messages.EmailSend
	for _, m := range msgs {
		if m.Type != messages.TypeEmailSend {
			t.Fatalf("outbox message of type %s", m.Type)
		}
		var p messages.EmailSend
		if err := m.Decode(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ownMail returns the email of kind about ev that reminder r, to its owner c's own address,
// brings: one per event, address, kind and version of the event, with the owner's name and the
// unsubscribe token of the address.
func (e *env) ownMail(t *testing.T, kind messages.EmailKind, c caller, r notifications.Reminder, ev messages.Event) messages.EmailSend {
	t.Helper()
	return messages.EmailSend{
		IdempotencyKey: string(kind) + ":" + ev.ID + ":" + strings.ToLower(r.Email) + ":" + strconv.FormatInt(ev.UpdatedAt.UnixMicro(), 10),
		Kind:           kind, To: r.Email, Name: displayName(c), Event: &ev, Note: r.Note,
		UnsubscribeToken: e.recipient(t, c, strings.ToLower(r.Email)).Token,
	}
}
