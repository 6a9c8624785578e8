package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/discovery/consultest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// instance is a fake service instance whose /readyz answers 200 or 503 on demand.
type instance struct {
	srv   *httptest.Server
	ready atomic.Bool
	port  int
	url   string
}

func newInstance(t *testing.T) *instance {
	t.Helper()
	in := &instance{}
	in.ready.Store(true)
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !in.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(in.srv.Close)
	in.port = in.srv.Listener.Addr().(*net.TCPAddr).Port
	in.url = in.srv.URL
	return in
}

// register keeps in registered as an instance of service under id until the returned stop
// is called (or the test ends), which deregisters it.
func register(t *testing.T, c *api.Client, service, id string, in *instance) (stop func()) {
	t.Helper()
	r, err := discovery.NewRegistrar(c, discovery.Registration{
		Service: service, ID: id, Address: "127.0.0.1", Port: in.port,
		Tags: []string{"instance=" + id, "version=test"}, Meta: map[string]string{"instance": id},
	}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(ctx); err != nil {
			t.Errorf("registrar: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the deadline passes; then it fails t with the last
// description cond gave.
func eventually(t *testing.T, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, desc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegistrar(t *testing.T) {
	t.Parallel()
	c := consultest.Client(t)
	name := consultest.ServiceName(t, c, "things")
	in := newInstance(t)
	id := name + "-1"
	stop := register(t, c, name, id, in)

	// The instance appears with its check, and passes once the agent ran it.
	eventually(t, 10*time.Second, func() (bool, string) {
		entries, _, err := c.Health().Service(name, "", true, nil)
		return err == nil && len(entries) == 1, "the instance is not passing in the catalog"
	})
	svc, _, err := c.Agent().Service(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	type registered struct {
		Service, Address string
		Port             int
		Tags             []string
		Meta             map[string]string
	}
	want := registered{name, "127.0.0.1", in.port, []string{"instance=" + id, "version=test"}, map[string]string{"instance": id}}
	if diff := cmp.Diff(want, registered{svc.Service, svc.Address, svc.Port, svc.Tags, svc.Meta}); diff != "" {
		t.Errorf("registration (-want +got):\n%s", diff)
	}
	// The agent's API shows a check's interval and timeout but not its Definition, and the
	// URL only in the output of a run.
	var checks map[string]struct {
		Type, ServiceID, Status, Output, Interval, Timeout string
	}
	if _, err := c.Raw().Query("/v1/agent/checks", &checks, nil); err != nil {
		t.Fatal(err)
	}
	check, ok := checks["service:"+id+":http"]
	if !ok || check.ServiceID != id {
		t.Fatalf("checks of the agent: %v; want service:%s:http", checks, id)
	}
	type checkDef struct{ Type, Status, Interval, Timeout string }
	if diff := cmp.Diff(checkDef{"http", "passing", "1s", "2s"}, checkDef{check.Type, check.Status, check.Interval, check.Timeout}); diff != "" {
		t.Errorf("check (-want +got):\n%s", diff)
	}
	if url := "http://127.0.0.1:" + strconv.Itoa(in.port) + "/readyz"; !strings.Contains(check.Output, url) {
		t.Errorf("check output %q does not name %s", check.Output, url)
	}

	// Stopping deregisters it.
	stop()
	if _, _, err := c.Agent().Service(id, nil); !isNotFound(err) {
		t.Errorf("after Run ended, the agent's service: %v; want 404", err)
	}
}

// TestRegistrarRegistersAgain: an instance the agent forgot (a restarted dev agent, an
// operator) is registered again.
func TestRegistrarRegistersAgain(t *testing.T) {
	t.Parallel()
	c := consultest.Client(t)
	name := consultest.ServiceName(t, c, "things")
	in := newInstance(t)
	id := name + "-1"
	r, err := discovery.NewRegistrar(c, discovery.Registration{
		Service: name, ID: id, Address: "127.0.0.1", Port: in.port, Resync: 100 * time.Millisecond,
	}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	known := func() (bool, string) {
		_, _, err := c.Agent().Service(id, nil)
		return err == nil, "the agent does not know the instance"
	}
	eventually(t, 5*time.Second, known)
	if err := c.Agent().ServiceDeregister(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, known)
}

func isNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// countingTransport counts the requests of the Consul client.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestConsulResolver: the resolver follows instances that start, stop, fail their check and
// recover, answering from memory.
func TestConsulResolver(t *testing.T) {
	t.Parallel()
	admin := consultest.Client(t)
	name := consultest.ServiceName(t, admin, "things")
	other := consultest.ServiceName(t, admin, "others")

	// The resolver's own client, whose requests are counted.
	counter := &countingTransport{next: http.DefaultTransport}
	cfg := api.DefaultConfig()
	cfg.Address = consultest.Addr()
	cfg.HttpClient = &http.Client{Transport: counter}
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	res, err := discovery.NewConsul(client, discovery.ConsulConfig{Services: []string{name, other}}, logging.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = res.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	resolves := func(want ...*instance) func() (bool, string) {
		urls := []string{}
		for _, in := range want {
			urls = append(urls, in.url)
		}
		slices.Sort(urls)
		return func() (bool, string) {
			got, err := res.Resolve(ctx, name)
			if len(urls) == 0 {
				return errors.Is(err, discovery.ErrNoInstance), "Resolve: " + errString(err) + ", " + cmp.Diff(urls, got)
			}
			return err == nil && cmp.Equal(urls, got), "Resolve (-want +got): " + errString(err) + cmp.Diff(urls, got)
		}
	}

	// No instance yet: Resolve waits for the first answer, then reports none.
	if _, err := res.Resolve(ctx, name); !errors.Is(err, discovery.ErrNoInstance) {
		t.Fatalf("Resolve with no instance: %v; want ErrNoInstance", err)
	}
	if _, err := res.Resolve(ctx, "not-watched"); !errors.Is(err, discovery.ErrNotWatched) {
		t.Errorf("Resolve of a service not watched: %v; want ErrNotWatched", err)
	}

	a, b := newInstance(t), newInstance(t)
	stopA := register(t, admin, name, name+"-a", a)
	register(t, admin, name, name+"-b", b)
	// Both are kept as soon as they are registered, before their first check passes (none
	// passing); then as healthy.
	eventually(t, 10*time.Second, func() (bool, string) {
		ok, msg := resolves(a, b)()
		healthy := sample(t, reg, "discovery_instances", name)
		return ok && healthy == 2, fmt.Sprintf("%s; discovery_instances %v", msg, healthy)
	})

	// Answered from memory: a thousand lookups make no request.
	before := counter.n.Load()
	for range 1000 {
		if _, err := res.Resolve(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.n.Load() - before; n > 2 { // at most a blocking query ending meanwhile
		t.Errorf("1000 lookups made %d requests to Consul", n)
	}

	// A failing check removes the instance; passing again brings it back.
	a.ready.Store(false)
	eventually(t, 10*time.Second, resolves(b))
	a.ready.Store(true)
	eventually(t, 10*time.Second, resolves(a, b))

	// When no instance passes, every registered one is kept rather than none, and the gauge
	// says so; the first to pass again is then the only one.
	a.ready.Store(false)
	b.ready.Store(false)
	eventually(t, 10*time.Second, func() (bool, string) {
		ok, msg := resolves(a, b)()
		failing := sample(t, reg, "discovery_all_failing", name)
		return ok && failing == 1, fmt.Sprintf("%s; discovery_all_failing %v", msg, failing)
	})
	if got := sample(t, reg, "discovery_instances", name); got != 0 {
		t.Errorf("discovery_instances = %v with every check failing; want 0", got)
	}
	b.ready.Store(true)
	eventually(t, 10*time.Second, resolves(b))
	if got := sample(t, reg, "discovery_all_failing", name); got != 0 {
		t.Errorf("discovery_all_failing = %v with b passing; want 0", got)
	}
	a.ready.Store(true)
	eventually(t, 10*time.Second, resolves(a, b))

	// An instance that stops leaves; one that starts comes.
	stopA()
	eventually(t, 5*time.Second, resolves(b))
	c := newInstance(t)
	register(t, admin, name, name+"-c", c)
	eventually(t, 10*time.Second, resolves(b, c))

	if got := sample(t, reg, "discovery_changes_total", name); got < 5 {
		t.Errorf("discovery_changes_total = %v; want at least 5", got)
	}
}

// TestConsulResolverWithoutAgent: with no agent, Resolve reports no instance after the first
// wait, and the watch keeps trying.
func TestConsulResolverWithoutAgent(t *testing.T) {
	t.Parallel()
	cfg := api.DefaultConfig()
	cfg.Address = "127.0.0.1:1"
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	res, err := discovery.NewConsul(client, discovery.ConsulConfig{
		Services: []string{"things"}, FirstWait: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
	}, logging.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = res.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	if _, err := res.Resolve(ctx, "things"); !errors.Is(err, discovery.ErrNoInstance) {
		t.Errorf("Resolve: %v; want ErrNoInstance", err)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		return sample(t, reg, "discovery_watch_errors_total", "things") > 0, "no watch error counted"
	})
}

// TestDeregisterCriticalAfter: an instance that died without deregistering is removed by the
// agent once its check has been critical for DeregisterAfter — which Consul raises to at
// least one minute and looks at every 30 seconds, so this test takes one to two minutes.
func TestDeregisterCriticalAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("takes one to two minutes: Consul's least deregister-after is 1m, reaped every 30s")
	}
	t.Parallel()
	c := consultest.Client(t)
	name := consultest.ServiceName(t, c, "things")
	in := newInstance(t)
	id := name + "-1"
	r, err := discovery.NewRegistrar(c, discovery.Registration{
		Service: name, ID: id, Address: "127.0.0.1", Port: in.port, DeregisterAfter: time.Second,
	}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		entries, _, err := c.Health().Service(name, "", true, nil)
		return err == nil && len(entries) == 1, "the instance is not passing"
	})
	in.srv.Close() // dies without deregistering
	start := time.Now()
	eventually(t, 3*time.Minute, func() (bool, string) {
		_, _, err := c.Agent().Service(id, nil)
		return isNotFound(err), "the agent still holds the dead instance"
	})
	t.Logf("deregistered %s after the instance died", time.Since(start).Round(time.Second))
}

// sample returns the value of the metric name with label service in reg, or -1 when it has
// none.
func sample(t *testing.T, reg *prometheus.Registry, name, service string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + " "
}
