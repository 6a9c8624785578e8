package events_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// keys are the service keys of the tests' callers: the gateway and notifications.
var keys = svcauthtest.New()

// testNow is the time the service under test believes it is.
var testNow = time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// notifier counts the times the service woke the outbox relay.
type notifier struct{ n atomic.Int64 }

func (n *notifier) Notify() { n.n.Add(1) }

// fixture is a service over a real SQLite store.
type fixture struct {
	svc      *events.Service
	store    *events.SQLStore
	handler  http.Handler
	clock    *clock
	notifier *notifier
	registry *prometheus.Registry
}

// newFixture returns a fixture whose service has the configuration cfg, by default that of
// the public host https://eventpost.example.
func newFixture(t testing.TB, cfg ...events.Config) *fixture {
	t.Helper()
	f := &fixture{store: openStore(t), clock: &clock{now: testNow}, notifier: &notifier{}, registry: prometheus.NewRegistry()}
	c := events.Config{PublicURL: "https://eventpost.example"}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	svc, err := events.New(c, events.Deps{
		Common:   svcdeps.Common{Outbox: f.notifier, Log: logging.Discard(), Registry: f.registry, Now: f.clock.Now},
		Store:    f.store,
		Verifier: keys.Verifier("events", "gateway", "notifications"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, f.handler = svc, svc.Handler()
	return f
}

func newService(t testing.TB, s events.Store) *events.Service {
	t.Helper()
	svc, err := events.New(events.DefaultConfig(), events.Deps{
		Common:   svcdeps.Common{Log: logging.Discard(), Registry: prometheus.NewRegistry(), Now: func() time.Time { return testNow }},
		Store:    s,
		Verifier: keys.Verifier("events", "gateway", "notifications"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// request describes a request to the service.
type request struct {
	method, path string
	body         string
	caller       string // the account the gateway authenticated; "" for none
	contentType  string // default application/json when there is a body; "-" for none
}

func (f *fixture) do(t testing.TB, r request) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequestWithContext(context.Background(), r.method, r.path, body)
	switch {
	case r.contentType == "-": // none
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	// Every request comes from the gateway, as in production.
	var claims svcauth.Claims
	if r.caller != "" {
		claims = svcauth.Claims{AccountID: r.caller, Email: r.caller + "@example.com", SessionID: "session-" + r.caller}
	}
	keys.Sign(req, "gateway", "events", claims)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w
}

// create creates an event through the API and returns it.
func (f *fixture) create(t testing.TB, caller, body string) events.Event {
	t.Helper()
	w := f.do(t, request{method: "POST", path: "/api/v1/events", body: body, caller: caller})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	return decode[events.Event](t, w)
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, w.Body, err)
	}
	return v
}

// problemBody is the JSON of a problem response.
type problemBody struct {
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Errors []problem.FieldError `json:"errors"`
}

// fieldsOf returns the fields named by a 422 response.
func fieldsOf(t testing.TB, w *httptest.ResponseRecorder) []string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type = %q, want %q", ct, problem.ContentType)
	}
	p := decode[problemBody](t, w)
	fields := []string{}
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}

// outboxMessage is a message found in the store's outbox.
type outboxMessage struct {
	Type       string
	Changed    *messages.EventChanged
	Deleted    *messages.EventDeleted
	Attendance *messages.AttendanceChanged
	Email      *messages.EmailSend
}

// outbox returns the messages in the outbox, oldest first.
func (f *fixture) outbox(t testing.TB) []outboxMessage {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), f.store.DB())
	if err != nil {
		t.Fatal(err)
	}
	var out []outboxMessage
	for _, m := range msgs {
		om := outboxMessage{Type: m.Type}
		switch m.Type {
		case messages.TypeEventChanged:
			om.Changed = &messages.EventChanged{}
			err = m.Decode(om.Changed)
		case messages.TypeEventDeleted:
			om.Deleted = &messages.EventDeleted{}
			err = m.Decode(om.Deleted)
		case messages.TypeAttendanceChanged:
			om.Attendance = &messages.AttendanceChanged{}
			err = m.Decode(om.Attendance)
		case messages.TypeEmailSend:
			om.Email = &messages.EmailSend{}
			err = m.Decode(om.Email)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, om)
	}
	return out
}

// count returns how many events the store holds.
func (f *fixture) count(t testing.TB) int {
	t.Helper()
	var n int
	if err := f.store.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// future returns testNow plus d in RFC 3339.
func future(d time.Duration) string { return testNow.Add(d).Format(time.RFC3339) }
