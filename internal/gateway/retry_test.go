package gateway

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/discovery/consultest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestRetryOnAnotherInstance: a request whose instance refuses the connection is answered by
// another instance, a POST (body and all) as well as a GET: the refused instance never saw it.
func TestRetryOnAnotherInstance(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	h := newHarness(t, setup{resolver: func(s discovery.Static) {
		s[discovery.Events] = []string{closed.URL, s[discovery.Events][0]}
	}})
	for i := range 10 {
		if rec := h.get("/api/v1/events/1", ""); rec.Code != http.StatusOK {
			t.Fatalf("GET %d: status %d, want 200; body %s", i, rec.Code, rec.Body)
		}
	}
	retries := value(h.gw.metrics.retries.WithLabelValues(discovery.Events))
	if retries < 1 {
		t.Errorf("retries %v, want at least one: half the GETs went to the closed instance first", retries)
	}

	token := h.token("a", "s")
	for i := range 10 {
		if rec := h.post(token, `{"title":"x"}`); rec.Code != http.StatusOK {
			t.Fatalf("POST %d: status %d, want 200; body %s", i, rec.Code, rec.Body)
		}
	}
	if got := value(h.gw.metrics.retries.WithLabelValues(discovery.Events)); got <= retries {
		t.Errorf("retries went from %v to %v with POSTs; want more: half went to the closed instance first", retries, got)
	}
	if got := value(h.gw.metrics.upstreamErrors.WithLabelValues(discovery.Events, "unreachable")); got != 0 {
		t.Errorf("unreachable errors %v, want 0", got)
	}
}

// TestPOSTIsNotSentTwice: a POST whose instance took the connection and closed it unanswered
// may have taken effect there, so it is not sent to another instance; a GET is.
func TestPOSTIsNotSentTwice(t *testing.T) {
	// An instance that takes each request and closes the connection without answering.
	closing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	}))
	t.Cleanup(closing.Close)
	h := newHarness(t, setup{resolver: func(s discovery.Static) {
		s[discovery.Events] = []string{closing.URL, s[discovery.Events][0]}
	}})
	token := h.token("a", "s")
	failed := 0
	for range 10 {
		switch rec := h.post(token, `{"title":"x"}`); rec.Code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			failed++
		default:
			t.Fatalf("POST: status %d; body %s", rec.Code, rec.Body)
		}
	}
	if failed == 0 {
		t.Error("no POST failed: none went to the closing instance, or it was sent again")
	}
	if got := value(h.gw.metrics.retries.WithLabelValues(discovery.Events)); got != 0 {
		t.Errorf("retries %v after POSTs to an instance that took them; want 0", got)
	}
	for i := range 10 {
		if rec := h.get("/api/v1/events/1", ""); rec.Code != http.StatusOK {
			t.Fatalf("GET %d: status %d, want 200; body %s", i, rec.Code, rec.Body)
		}
	}
}

func TestSetRateLimit(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *Config) { c.RateLimit, c.RateBurst = 0.001, 2 }})
	from := func(addr string) int {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/events", nil)
		req.RemoteAddr = addr
		return h.do(req).Code
	}
	const a, b = "198.51.100.1:1000", "198.51.100.2:1000"
	for range 2 {
		from(a)
	}
	if code := from(a); code != http.StatusTooManyRequests {
		t.Fatalf("third request: status %d, want 429", code)
	}

	// Invalid values are refused and change nothing.
	for _, v := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if err := h.gw.SetRateLimit(v); err == nil {
			t.Errorf("SetRateLimit(%v) succeeded", v)
		}
	}
	if err := h.gw.SetRateBurst(0); err == nil {
		t.Error("SetRateBurst(0) succeeded")
	}
	if r, burst := h.gw.limiter.settings(); r != 0.001 || burst != 2 {
		t.Errorf("after invalid values: rate %v burst %d, want 0.001 and 2", r, burst)
	}

	// A higher rate refills the existing bucket too.
	if err := h.gw.SetRateLimit(1000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bucket to refill", func() bool { return from(a) == http.StatusOK })

	// A lower burst applies to new clients and to existing ones.
	if err := h.gw.SetRateLimit(0.001); err != nil {
		t.Fatal(err)
	}
	if err := h.gw.SetRateBurst(1); err != nil {
		t.Fatal(err)
	}
	if code := from(b); code != http.StatusOK {
		t.Fatalf("new client, first request: status %d, want 200", code)
	}
	if code := from(b); code != http.StatusTooManyRequests {
		t.Errorf("new client, second request with burst 1: status %d, want 429", code)
	}
	if r, burst := h.gw.limiter.settings(); r != 0.001 || burst != 1 {
		t.Errorf("settings: rate %v burst %d, want 0.001 and 1", r, burst)
	}
}

// replica is one instance of a fake service on a real listener, which the test can kill:
// its listener and every connection closed at once, as when its process dies.
type replica struct {
	name  string
	srv   *http.Server
	port  int
	hits  atomic.Int64
	done  chan struct{}
	close sync.Once
}

func startReplica(t *testing.T, name string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	r.srv = &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != "/readyz" && req.URL.Path != "/healthz" {
				r.hits.Add(1)
			}
			_, _ = io.WriteString(w, name)
		}),
	}
	go func() { _ = r.srv.Serve(ln); close(r.done) }()
	t.Cleanup(r.kill)
	return r
}

// kill stops the replica at once, dropping the requests it is serving.
func (r *replica) kill() {
	r.close.Do(func() {
		_ = r.srv.Close()
		<-r.done
	})
}

// TestKillingAReplicaLosesNoGET measures failover through Consul: two replicas of a service
// behind the gateway under a steady stream of GETs; one is killed — no deregistration, as
// when its process dies — and the GETs go on. The test prints how many failed; requests
// that fail before any answer are retried on the other replica, so the target is none, and
// at most those in flight on the killed replica.
func TestKillingAReplicaLosesNoGET(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a few seconds and a Consul agent")
	}
	c := consultest.Client(t)
	service := consultest.ServiceName(t, c, "things")
	a, b := startReplica(t, "a"), startReplica(t, "b")
	for _, r := range []*replica{a, b} {
		reg, err := discovery.NewRegistrar(c, discovery.Registration{
			Service: service, ID: service + "-" + r.name, Address: "127.0.0.1", Port: r.port,
		}, logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	resolver, err := discovery.NewConsul(c, discovery.ConsulConfig{Services: []string{service}}, logging.Discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { _ = resolver.Run(ctx) })
	defer func() { cancel(); bg.Wait() }()
	waitFor(t, "both replicas passing their checks", func() bool {
		urls, _ := resolver.Resolve(ctx, service)
		return len(urls) == 2
	})

	client := defaultClient()
	defer client.CloseIdleConnections()
	gw, err := newGateway(testConfig(), Deps{Resolver: resolver, Log: logging.Discard(), Client: client, Signer: testKeys.Signer("gateway")},
		[]Route{{Method: http.MethodGet, Path: "/api/v1/things", Service: service, Auth: AuthNone}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(gw.Handler())
	defer front.Close()

	const workers = 4
	var ok, failed atomic.Int64
	var failures sync.Map // status or error → count
	stop := make(chan struct{})
	var load sync.WaitGroup
	userClient := &http.Client{Timeout: 10 * time.Second}
	defer userClient.CloseIdleConnections()
	for range workers {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := userClient.Get(front.URL + "/api/v1/things")
				var reason string
				if err != nil {
					reason = err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						reason = resp.Status
					}
				}
				if reason == "" {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				n, _ := failures.LoadOrStore(reason, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}

	waitFor(t, "requests reaching both replicas", func() bool { return a.hits.Load() > 50 && b.hits.Load() > 50 })
	a.kill()
	killedAt := time.Now()
	waitFor(t, "Consul to see the killed replica fail its check", func() bool {
		urls, _ := resolver.Resolve(ctx, service)
		return len(urls) == 1
	})
	removedAfter := time.Since(killedAt)
	hitsAfterRemoval := b.hits.Load()
	waitFor(t, "more requests after the removal", func() bool { return b.hits.Load() > hitsAfterRemoval+100 })
	close(stop)
	load.Wait()

	retries := value(gw.metrics.retries.WithLabelValues(service))
	t.Logf("GETs: %d answered, %d failed; %d retried on the other replica; the killed replica left discovery %s after it died",
		ok.Load(), failed.Load(), int(retries), removedAfter.Round(time.Millisecond))
	failures.Range(func(k, v any) bool {
		t.Logf("  failed %d×: %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	if failed.Load() > workers {
		t.Errorf("%d GETs failed; want none beyond the %d that may have been in flight", failed.Load(), workers)
	}
	if retries == 0 {
		t.Error("no GET was retried: did the killed replica get any request after it died?")
	}
}

// TestRetryingTransportPassesOtherRequests: requests that are not forwards (the JWKS, the
// revocation feed) go through unchanged.
func TestRetryingTransportPassesOtherRequests(t *testing.T) {
	h := newHarness(t, setup{})
	rt := h.gw.retrying(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	}))
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/x", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("RoundTrip: %v; want the first attempt's error", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
