package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fail = httpx.Problems(logging.Discard(), nil)

// clock is a settable time.
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

// creator is an endpoint that creates a numbered thing per call: 201 with a Location and the
// thing as JSON, unless the body asks for another answer.
type creator struct{ calls atomic.Int32 }

func (c *creator) endpoint(w http.ResponseWriter, r *http.Request) error {
	n := c.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	switch string(body) {
	case "fail":
		return fmt.Errorf("database down")
	case "busy":
		return problem.TooManyRequests("slow down", time.Second)
	case "conflict":
		return problem.New(http.StatusConflict, "already there")
	case "panic":
		panic("boom")
	case "big":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("x", idempotency.MaxStoredBody+1)))
		return nil
	}
	w.Header().Set("Location", fmt.Sprintf("/things/%d", n))
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{"n": n, "body": string(body)})
	return nil
}

type harness struct {
	t     *testing.T
	reg   *prometheus.Registry
	store idempotency.Store
	clock *clock
	c     *creator
	h     http.HandlerFunc
}

func newHarness(t *testing.T, store idempotency.Store) *harness {
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	c := &creator{}
	reg := prometheus.NewRegistry()
	g := idempotency.New(store, fail, idempotency.Config{Now: clk.Now, Registry: reg})
	return &harness{t: t, reg: reg, store: store, clock: clk, c: c, h: fail.Handle(g.Endpoint(c.endpoint))}
}

// request is one POST to the guarded endpoint.
type request struct {
	claims *svcauth.Claims // nil: no service token claims
	keys   []string        // Idempotency-Key values; nil: no header
	body   string
}

var alice = &svcauth.Claims{Caller: "gateway", AccountID: "alice", ClientIP: "192.0.2.1"}

func (h *harness) do(req request) *httptest.ResponseRecorder {
	h.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/v1/things", strings.NewReader(req.body))
	if req.claims != nil {
		r = r.WithContext(svcauth.NewContext(r.Context(), *req.claims))
	}
	for _, k := range req.keys {
		r.Header.Add(idempotency.Header, k)
	}
	w := httptest.NewRecorder()
	func() {
		defer func() { _ = recover() }() // the endpoint that panics
		h.h(w, r)
	}()
	return w
}

func (h *harness) calls() int { return int(h.c.calls.Load()) }

// outcomes returns idempotency_requests_total by outcome, leaving out zeros.
func (h *harness) outcomes() map[string]float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); mf.GetName() == "idempotency_requests_total" && v != 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}

func TestOutcomeMetric(t *testing.T) {
	h := newHarness(t, newMemStore())
	for _, req := range []request{
		{claims: alice, body: "no key"},
		{claims: alice, keys: []string{"k"}, body: "x"},
		{claims: alice, keys: []string{"k"}, body: "x"},
		{claims: alice, keys: []string{"k"}, body: "x"},
		{claims: alice, keys: []string{"k"}, body: "y"},
		{claims: alice, keys: []string{""}, body: "x"},
	} {
		h.do(req)
	}
	want := map[string]float64{idempotency.OutcomeRan: 1, idempotency.OutcomeReplayed: 2, idempotency.OutcomeMismatch: 1, idempotency.OutcomeInvalid: 1}
	if diff := cmp.Diff(want, h.outcomes()); diff != "" {
		t.Errorf("idempotency_requests_total (-want +got):\n%s", diff)
	}
}

func TestWithoutHeaderNothingChanges(t *testing.T) {
	// A nil store: any use of it would panic.
	h := newHarness(t, nil)
	for i := 1; i <= 2; i++ {
		w := h.do(request{claims: alice, body: "x"})
		if w.Code != http.StatusCreated || w.Header().Get(idempotency.ReplayedHeader) != "" {
			t.Fatalf("request %d: %d %v", i, w.Code, w.Header())
		}
	}
	if h.calls() != 2 {
		t.Errorf("endpoint ran %d times, want 2", h.calls())
	}
}

func TestReplay(t *testing.T) {
	h := newHarness(t, newMemStore())
	req := request{claims: alice, keys: []string{"abc 123"}, body: `{"x":1}`}
	first := h.do(req)
	second := h.do(req)
	if h.calls() != 1 {
		t.Fatalf("endpoint ran %d times, want 1", h.calls())
	}
	if first.Code != http.StatusCreated || first.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("first: %d, replayed %q", first.Code, first.Header().Get(idempotency.ReplayedHeader))
	}
	if got := second.Header().Get(idempotency.ReplayedHeader); got != "true" {
		t.Errorf("second: %s = %q, want true", idempotency.ReplayedHeader, got)
	}
	if second.Code != first.Code || second.Body.String() != first.Body.String() {
		t.Errorf("second: %d %s, want %d %s", second.Code, second.Body, first.Code, first.Body)
	}
	for _, name := range []string{"Location", "Content-Type"} {
		if second.Header().Get(name) != first.Header().Get(name) || first.Header().Get(name) == "" {
			t.Errorf("%s: first %q, second %q", name, first.Header().Get(name), second.Header().Get(name))
		}
	}
}

func TestDifferentBodyIs422(t *testing.T) {
	h := newHarness(t, newMemStore())
	h.do(request{claims: alice, keys: []string{"k"}, body: "one"})
	w := h.do(request{claims: alice, keys: []string{"k"}, body: "two"})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), idempotency.Header) {
		t.Errorf("other body with the same key: %d %s, want 422 naming %s", w.Code, w.Body, idempotency.Header)
	}
	if h.calls() != 1 {
		t.Errorf("endpoint ran %d times, want 1", h.calls())
	}
}

func TestInvalidKeyIs422(t *testing.T) {
	for name, keys := range map[string][]string{
		"empty":       {""},
		"too long":    {strings.Repeat("k", idempotency.MaxKeyLength+1)},
		"control":     {"a\x01b"},
		"tab":         {"a\tb"},
		"non-ASCII":   {"clé"},
		"two headers": {"a", "b"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, newMemStore())
			w := h.do(request{claims: alice, keys: keys, body: "x"})
			if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), idempotency.Header) {
				t.Errorf("%d %s, want 422 naming %s", w.Code, w.Body, idempotency.Header)
			}
			if h.calls() != 0 {
				t.Errorf("endpoint ran %d times, want 0", h.calls())
			}
		})
	}
	h := newHarness(t, newMemStore())
	if w := h.do(request{claims: alice, keys: []string{strings.Repeat("~", idempotency.MaxKeyLength)}, body: "x"}); w.Code != http.StatusCreated {
		t.Errorf("a key of %d characters: %d, want 201", idempotency.MaxKeyLength, w.Code)
	}
}

func TestScopes(t *testing.T) {
	bob := &svcauth.Claims{Caller: "gateway", AccountID: "bob", ClientIP: "192.0.2.1"}
	anon1 := &svcauth.Claims{Caller: "gateway", ClientIP: "192.0.2.1"}
	anon2 := &svcauth.Claims{Caller: "gateway", ClientIP: "198.51.100.7"}
	for _, tc := range []struct {
		name      string
		a, b      *svcauth.Claims
		wantCalls int
	}{
		{"same account", alice, alice, 1},
		{"other account", alice, bob, 2},
		{"same client address", anon1, anon1, 1},
		{"other client address", anon1, anon2, 2},
		{"account and anonymous at one address", alice, anon1, 2},
		{"no service token claims", nil, nil, 2},
		{"claims naming neither", &svcauth.Claims{Caller: "gateway"}, &svcauth.Claims{Caller: "gateway"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			h := newHarness(t, store)
			h.do(request{claims: tc.a, keys: []string{"k"}, body: "x"})
			h.do(request{claims: tc.b, keys: []string{"k"}, body: "x"})
			if h.calls() != tc.wantCalls {
				t.Errorf("endpoint ran %d times, want %d", h.calls(), tc.wantCalls)
			}
		})
	}
}

func TestWhatIsKept(t *testing.T) {
	for _, tc := range []struct {
		body       string
		wantStatus int
		kept       bool
	}{
		{"ok", http.StatusCreated, true},
		{"conflict", http.StatusConflict, true},
		{"fail", http.StatusInternalServerError, false},
		{"busy", http.StatusTooManyRequests, false},
		{"big", http.StatusOK, false},
		{"panic", 0, false},
	} {
		t.Run(tc.body, func(t *testing.T) {
			store := newMemStore()
			h := newHarness(t, store)
			req := request{claims: alice, keys: []string{"k"}, body: tc.body}
			first := h.do(req)
			if tc.wantStatus != 0 && first.Code != tc.wantStatus {
				t.Fatalf("first: %d, want %d", first.Code, tc.wantStatus)
			}
			if tc.body == "big" && first.Body.Len() != idempotency.MaxStoredBody+1 {
				t.Errorf("a large body came through with %d bytes", first.Body.Len())
			}
			second := h.do(req)
			wantCalls := 2
			if tc.kept {
				wantCalls = 1
				if second.Code != first.Code || second.Body.String() != first.Body.String() || second.Header().Get(idempotency.ReplayedHeader) != "true" {
					t.Errorf("second: %d %s, want the first (%d %s) replayed", second.Code, second.Body, first.Code, first.Body)
				}
			} else if store.len() != 0 {
				t.Errorf("%d records left after an answer that is not kept", store.len())
			}
			if h.calls() != wantCalls {
				t.Errorf("endpoint ran %d times, want %d", h.calls(), wantCalls)
			}
		})
	}
}

func TestExpiredKeyRunsAgain(t *testing.T) {
	h := newHarness(t, newMemStore())
	req := request{claims: alice, keys: []string{"k"}, body: "x"}
	h.do(req)
	h.clock.Add(idempotency.DefaultTTL - time.Second)
	if w := h.do(req); w.Header().Get(idempotency.ReplayedHeader) != "true" {
		t.Fatalf("within the TTL: not replayed (%d)", w.Code)
	}
	h.clock.Add(2 * time.Second)
	w := h.do(request{claims: alice, keys: []string{"k"}, body: "another body"})
	if w.Code != http.StatusCreated || w.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Errorf("after the TTL, another body: %d replayed %q, want a new 201", w.Code, w.Header().Get(idempotency.ReplayedHeader))
	}
	if h.calls() != 2 {
		t.Errorf("endpoint ran %d times, want 2", h.calls())
	}
}

func TestAbandonedClaimIsTakenOver(t *testing.T) {
	store := newMemStore()
	h := newHarness(t, store)
	k := idempotency.Key{Scope: "account:alice", Value: "k"}
	fp := idempotency.Fingerprint(http.MethodPost, "/api/v1/things", []byte("x"))
	_, err := store.Insert(context.Background(), idempotency.Record{Key: k, Fingerprint: fp, Owner: "dead", CreatedAt: h.clock.Now()})
	must(t, err)
	req := request{claims: alice, keys: []string{"k"}, body: "x"}
	if w := h.do(req); w.Code != http.StatusConflict {
		t.Fatalf("while claimed: %d, want 409", w.Code)
	}
	h.clock.Add(idempotency.DefaultLease + time.Second)
	if w := h.do(req); w.Code != http.StatusCreated {
		t.Fatalf("after the lease: %d, want 201", w.Code)
	}
	if h.calls() != 1 {
		t.Errorf("endpoint ran %d times, want 1", h.calls())
	}
}

func TestSweepDeletesExpired(t *testing.T) {
	store := newMemStore()
	h := newHarness(t, store)
	for _, k := range []string{"a", "b"} {
		h.do(request{claims: alice, keys: []string{k}, body: "x"})
	}
	h.clock.Add(idempotency.DefaultTTL + time.Hour)
	h.do(request{claims: alice, keys: []string{"c"}, body: "x"})
	if store.len() != 1 {
		t.Errorf("%d records after the sweep, want 1 (the new one)", store.len())
	}
}

// Two requests with one key at once: the second is answered 409 while the first is in
// flight, and the endpoint runs once. On every store.
func TestConcurrentRequests(t *testing.T) {
	forEachStore(t, func(t *testing.T, s idempotency.Store) {
		entered, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		slow := func(w http.ResponseWriter, r *http.Request) error {
			calls.Add(1)
			close(entered)
			<-release
			return httpx.Created(w, "/things/1", map[string]string{"id": "1"}, nil)
		}
		h := fail.Handle(idempotency.New(s, fail, idempotency.Config{}).Endpoint(slow))
		post := func() *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/things", strings.NewReader("x"))
			r = r.WithContext(svcauth.NewContext(r.Context(), *alice))
			r.Header.Set(idempotency.Header, "same")
			w := httptest.NewRecorder()
			h(w, r)
			return w
		}
		var first *httptest.ResponseRecorder
		var wg sync.WaitGroup
		wg.Go(func() { first = post() })
		<-entered
		second := post()
		close(release)
		wg.Wait()
		if second.Code != http.StatusConflict || !strings.Contains(second.Body.String(), "still being processed") {
			t.Errorf("second while the first is in flight: %d %s, want 409", second.Code, second.Body)
		}
		if first.Code != http.StatusCreated {
			t.Errorf("first: %d, want 201", first.Code)
		}
		if third := post(); third.Code != http.StatusCreated || third.Header().Get(idempotency.ReplayedHeader) != "true" {
			t.Errorf("third, after the first: %d replayed %q, want the 201 replayed", third.Code, third.Header().Get(idempotency.ReplayedHeader))
		}
		if calls.Load() != 1 {
			t.Errorf("endpoint ran %d times, want 1", calls.Load())
		}
	})
}

func TestReplayedProblemIsTheFirst(t *testing.T) {
	h := newHarness(t, newMemStore())
	req := request{claims: alice, keys: []string{"k"}, body: "conflict"}
	first, second := h.do(req), h.do(req)
	if diff := cmp.Diff(first.Body.String(), second.Body.String()); diff != "" {
		t.Errorf("replayed problem differs (-first +second):\n%s", diff)
	}
	for name, want := range map[string]string{"Content-Type": problem.ContentType, "Cache-Control": "no-store"} {
		if got := second.Header().Get(name); got != want || first.Header().Get(name) != want {
			t.Errorf("%s: first %q, replayed %q, want %q", name, first.Header().Get(name), got, want)
		}
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"a": true, " ": true, "~": true, "a b": true, strings.Repeat("x", 255): true,
		"": false, strings.Repeat("x", 256): false, "\x7f": false, "\x1f": false, "é": false,
	} {
		if got := idempotency.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestFingerprintSeparatesParts(t *testing.T) {
	a := idempotency.Fingerprint("POST", "/a", []byte("b"))
	for _, other := range [][]byte{
		idempotency.Fingerprint("POST", "/ab", nil),
		idempotency.Fingerprint("PUT", "/a", []byte("b")),
		idempotency.Fingerprint("POST", "/a", []byte("c")),
	} {
		if string(a) == string(other) {
			t.Errorf("fingerprints of different requests are equal")
		}
	}
}
