package discovery_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// deadURL returns the base URL of a port nothing listens on any more: connections to it are
// refused.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// resetURL returns the base URL of a server that accepts connections and closes them at
// once, without answering: the request fails after it was sent.
func resetURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 512))
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// upstream is a fake instance that records the requests it gets.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path"
}

func newUpstream(t *testing.T, status int) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
		u.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "from "+r.Host)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func TestRetryTransport(t *testing.T) {
	type result struct {
		Status   int    // 0 when the request failed
		Body     string // "from <host>" of the instance that answered
		Retries  int
		Upstream []string // the requests the live instance got
	}
	tests := []struct {
		name      string
		instances func(dead, reset, live string) []string
		first     func(dead, reset, live string) string // the instance of the first attempt
		method    string
		body      string
		attempts  int
		status    int // of the live instance
		noTarget  bool
		want      func(live string) result
	}{
		{
			name:      "a GET to a refused instance goes to another",
			instances: func(d, _, l string) []string { return []string{d, l} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodGet,
			want: func(l string) result {
				return result{200, "from " + host(l), 1, []string{"GET /api/v1/things?q=1"}}
			},
		},
		{
			name:      "a GET whose connection was closed unanswered goes to another",
			instances: func(_, r, l string) []string { return []string{r, l} },
			first:     func(_, r, _ string) string { return r },
			method:    http.MethodGet,
			want: func(l string) result {
				return result{200, "from " + host(l), 1, []string{"GET /api/v1/things?q=1"}}
			},
		},
		{
			name:      "a HEAD is retried too",
			instances: func(d, _, l string) []string { return []string{d, l} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodHead,
			want:      func(string) result { return result{200, "", 1, []string{"HEAD /api/v1/things?q=1"}} },
		},
		{
			name:      "an answer is never retried, whatever its status",
			instances: func(d, _, l string) []string { return []string{l, d} },
			first:     func(_, _, l string) string { return l },
			method:    http.MethodGet,
			status:    http.StatusServiceUnavailable,
			want: func(l string) result {
				return result{503, "from " + host(l), 0, []string{"GET /api/v1/things?q=1"}}
			},
		},
		{
			name:      "a POST to a refused instance goes to another, body and all",
			instances: func(d, _, l string) []string { return []string{d, l} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodPost,
			body:      "x",
			want: func(l string) result {
				return result{200, "from " + host(l), 1, []string{"POST /api/v1/things?q=1 x"}}
			},
		},
		{
			name:      "a POST whose connection was closed unanswered is not retried",
			instances: func(_, r, l string) []string { return []string{r, l} },
			first:     func(_, r, _ string) string { return r },
			method:    http.MethodPost,
			body:      "x",
			want:      func(string) result { return result{} },
		},
		{
			name:      "without a target a request is sent once",
			instances: func(d, _, l string) []string { return []string{d, l} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodGet,
			noTarget:  true,
			want:      func(string) result { return result{} },
		},
		{
			name:      "attempts are bounded",
			instances: func(d, r, _ string) []string { return []string{d, r, "http://127.0.0.1:1"} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodGet,
			attempts:  2,
			want:      func(string) result { return result{Retries: 1} },
		},
		{
			name:      "every instance failing fails the request once each was tried",
			instances: func(d, r, _ string) []string { return []string{d, r} },
			first:     func(d, _, _ string) string { return d },
			method:    http.MethodGet,
			attempts:  5,
			want:      func(string) result { return result{Retries: 1} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			live := newUpstream(t, status)
			dead, reset := deadURL(t), resetURL(t)
			b := discovery.NewBalancer(discovery.Static{"things": tt.instances(dead, reset, live.URL)})
			var got result
			rt := &discovery.RetryTransport{
				Balancer: b, Attempts: tt.attempts,
				OnRetry: func(*http.Request, discovery.Target, error, string) { got.Retries++ },
			}
			first := tt.first(dead, reset, live.URL)
			ctx := context.Background()
			if !tt.noTarget {
				ctx = discovery.WithTarget(ctx, "things", first)
			}
			// A body as a proxied request has one: http.NewRequest cannot make a GetBody for it.
			var body io.Reader
			if tt.body != "" {
				body = io.MultiReader(strings.NewReader(tt.body))
			}
			req, err := http.NewRequestWithContext(ctx, tt.method, first+"/api/v1/things?q=1", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: rt}).Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got.Status, got.Body = resp.StatusCode, string(b)
			}
			got.Upstream = live.requests()
			if diff := cmp.Diff(tt.want(live.URL), got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRetryTransportReplaysBody: a GET with a body that GetBody can replay is retried with
// the same body.
func TestRetryTransportReplaysBody(t *testing.T) {
	live := newUpstream(t, http.StatusOK)
	dead := deadURL(t)
	b := discovery.NewBalancer(discovery.Static{"things": {dead, live.URL}})
	ctx := discovery.WithTarget(context.Background(), "things", dead)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dead+"/x", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &discovery.RetryTransport{Balancer: b}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff([]string{"GET /x payload"}, live.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestRetryTransportStopsWithContext: a request whose context ended is not sent again.
func TestRetryTransportStopsWithContext(t *testing.T) {
	live := newUpstream(t, http.StatusOK)
	dead := deadURL(t)
	b := discovery.NewBalancer(discovery.Static{"things": {dead, live.URL}})
	ctx, cancel := context.WithCancel(discovery.WithTarget(context.Background(), "things", dead))
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		cancel() // the client gives up while the first attempt fails
		return nil, errors.New("connection reset by peer")
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, dead+"/x", nil)
	if _, err := (&discovery.RetryTransport{Next: next, Balancer: b}).RoundTrip(req); err == nil {
		t.Fatal("RoundTrip succeeded; want the first attempt's error")
	}
	if got := live.requests(); len(got) != 0 {
		t.Errorf("the live instance got %v; want nothing", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func host(base string) string { return strings.TrimPrefix(base, "http://") }

func TestBalancerPickExcept(t *testing.T) {
	b := discovery.NewBalancer(discovery.Static{"s": {"http://a", "http://b", "http://c"}})
	ctx := context.Background()
	seen := map[string]int{}
	for range 30 {
		u, err := b.PickExcept(ctx, "s", "http://b")
		if err != nil {
			t.Fatal(err)
		}
		seen[u]++
	}
	if diff := cmp.Diff(map[string]int{"http://a": 15, "http://c": 15}, seen); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
	if _, err := b.PickExcept(ctx, "s", "http://a", "http://b", "http://c"); !errors.Is(err, discovery.ErrNoInstance) {
		t.Errorf("PickExcept of every instance: %v; want ErrNoInstance", err)
	}
	if _, err := b.PickExcept(ctx, "unknown"); !errors.Is(err, discovery.ErrNoInstance) {
		t.Errorf("PickExcept of an unknown service: %v; want ErrNoInstance", err)
	}
}
