// Package gateway is the API gateway, the one public entry point of EventPost. It routes each
// request of the public API to the service that owns it, verifies access tokens itself (EdDSA
// JWTs checked against the auth service's JWK set, with revocations learnt from the auth
// service's revocation feed) and passes the caller's identity on in headers that a client
// cannot set, limits body sizes and request rates per client, compresses its answers (gzip
// or zstd, see httpx.NewCompressor), and serves the OpenAPI document. It keeps no state of
// its own beyond caches.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/api"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/kvconfig"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Config configures the gateway. DefaultConfig gives every field a sensible value.
// A field with an env tag is read from EVENTPOST_GATEWAY_<tag> by the host process (see envconf).
type Config struct {
	// RateLimit is the sustained number of requests per second one client address may make.
	RateLimit float64
	// RateBurst is how many requests one client address may make at once.
	RateBurst int
	// RateIdle is how long a client address's bucket is kept after its last request.
	RateIdle time.Duration `env:"RATE_IDLE,positive"`
	// TrustForwardedFor makes the first address of X-Forwarded-For the client address (for
	// rate limits and HeaderClientIP). Enable it only behind a proxy that sets that header.
	TrustForwardedFor bool `env:"TRUST_FORWARDED_FOR"`
	// UpstreamTimeout bounds a proxied request, response body included; past it the client
	// gets a 503.
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT,positive"`
	// RetryAfter is the Retry-After of a 503 answered when a service is unavailable.
	RetryAfter time.Duration `env:"RETRY_AFTER,positive"`
	// UpstreamAttempts bounds the attempts at one GET or HEAD, the first included: a request
	// whose instance failed before answering is sent to another instance of its service.
	UpstreamAttempts int `env:"UPSTREAM_ATTEMPTS,positive"`
	// JWKSRefresh is how often the auth service's JWK set is fetched again.
	JWKSRefresh time.Duration `env:"JWKS_REFRESH,positive"`
	// JWKSMinRefetch is the least time between two fetches of the JWK set caused by tokens
	// signed with an unknown key ID.
	JWKSMinRefetch time.Duration `env:"JWKS_MIN_REFETCH"`
	// JWKSRetryMax is the longest wait between two attempts to load the JWK set at start.
	JWKSRetryMax time.Duration `env:"JWKS_RETRY_MAX,positive"`
	// Leeway is the clock skew tolerated when checking a token's times.
	Leeway time.Duration `env:"LEEWAY"`
	// AccessTokenLifetime is the longest lifetime (exp - iat) of an access token the gateway
	// accepts: the auth service's access-token TTL. A longer-lived token, which the auth
	// service does not issue, is refused. At most authtoken.MaxTTL.
	AccessTokenLifetime time.Duration `env:"ACCESS_TOKEN_LIFETIME,positive"`
	// TokenCacheSize is how many verified access tokens the gateway remembers, so that a
	// token's signature is checked once rather than on every request; 0 checks every time.
	// A remembered token is still refused once it expires, once its signing key is no longer
	// in the auth service's key set, and once its session is revoked.
	TokenCacheSize int `env:"TOKEN_CACHE_SIZE"`
	// RevocationPoll is how long the auth service may hold one long poll of its revocation
	// feed (at most 30 s).
	RevocationPoll time.Duration `env:"REVOCATION_POLL"`
	// HSTS, when not empty, is the Strict-Transport-Security header of every response (set it
	// when the public URL is https), such as "max-age=31536000; includeSubDomains".
	HSTS string
	// RevocationWait bounds how long a response that revoked tokens is held until the gateway's
	// revocation feed has caught up with it; it also bounds how long an authenticated request
	// waits for the first sync of the feed.
	RevocationWait time.Duration `env:"REVOCATION_WAIT,positive"`
	// MetricsElsewhere takes /metrics off the gateway's handler: the host process serves the
	// gateway's registry on a listener of its own (EVENTPOST_METRICS_ADDR), and the gateway
	// answers /metrics with a 404 problem, as any unknown API path, never with the web UI.
	MetricsElsewhere bool
}

// DefaultConfig returns the configuration of a production gateway.
func DefaultConfig() Config {
	return Config{
		RateLimit:           20,
		RateBurst:           40,
		RateIdle:            5 * time.Minute,
		UpstreamTimeout:     30 * time.Second,
		RetryAfter:          5 * time.Second,
		UpstreamAttempts:    3,
		JWKSRefresh:         5 * time.Minute,
		JWKSMinRefetch:      10 * time.Second,
		JWKSRetryMax:        5 * time.Second,
		Leeway:              30 * time.Second,
		AccessTokenLifetime: authtoken.MaxTTL,
		TokenCacheSize:      10000,
		RevocationPoll:      25 * time.Second,
		RevocationWait:      2 * time.Second,
	}
}

// validate reports the first field of c that cannot work.
func (c Config) validate() error {
	for _, check := range []struct {
		bad bool
		err error
	}{
		{c.RateLimit <= 0 || c.RateBurst < 1, errors.New("rate limit and burst must be positive")},
		{c.RateIdle <= 0, errors.New("rate idle must be positive")},
		{c.UpstreamTimeout <= 0, errors.New("upstream timeout must be positive")},
		{c.RetryAfter < time.Second, errors.New("retry after must be at least 1s")},
		{c.UpstreamAttempts < 1, errors.New("upstream attempts must be at least 1")},
		{c.JWKSRefresh <= 0 || c.JWKSMinRefetch < 0 || c.JWKSRetryMax <= 0, errors.New("JWKS intervals must be positive")},
		{c.Leeway < 0, errors.New("leeway must not be negative")},
		{c.TokenCacheSize < 0, errors.New("token cache size must not be negative")},
		{c.AccessTokenLifetime < time.Second || c.AccessTokenLifetime > authtoken.MaxTTL,
			fmt.Errorf("access token lifetime must be 1s to %v", authtoken.MaxTTL)},
		{c.RevocationPoll < 0 || c.RevocationPoll > 30*time.Second, errors.New("revocation poll must be 0 to 30s")},
		{c.RevocationWait <= 0, errors.New("revocation wait must be positive")},
	} {
		if check.bad {
			return check.err
		}
	}
	return nil
}

// Deps are what the gateway needs from outside.
type Deps struct {
	// Resolver finds the instances of the auth, events and notifications services.
	Resolver discovery.Resolver
	Log      *slog.Logger
	// Registry receives the gateway's metrics; nil means a registry of its own.
	Registry *prometheus.Registry
	// Client makes the upstream calls; nil means a client with pooled connections and no
	// overall timeout (each call has its own).
	Client *http.Client
	// UI, when set, answers every path not under /api/, /.well-known/ or /internal/ and not
	// one of /healthz, /readyz and /metrics (nor under /metrics/ with
	// Config.MetricsElsewhere).
	UI http.Handler
	// Signer signs the gateway's calls to the services (see svcauth). Required.
	Signer *svcauth.Signer
	// Now is the clock used to check tokens and expire revocations; nil means time.Now.
	Now func() time.Time
}

// Gateway is the API gateway. Build it with New, serve Handler, and run Run for as long as
// it serves.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	client   *http.Client
	balancer *discovery.Balancer
	resolver discovery.Resolver
	metrics  *gatewayMetrics
	keys     *keyCache
	revs     *revocations
	limiter  *limiter
	verifier *verifier
	signer   *svcauth.Signer
	proxy    *httputil.ReverseProxy
	targets  sync.Map // instance base URL → its parsed *url.URL
	routes   []Route
	upstream []string // the services routes forward to, for readiness
	openapi  []byte
	ui       http.Handler
	handler  http.Handler
}

// New returns a gateway routing the table of Routes.
func New(cfg Config, deps Deps) (*Gateway, error) {
	return newGateway(cfg, deps, Routes())
}

// newGateway returns a gateway routing routes; tests give it tables of their own.
func newGateway(cfg Config, deps Deps, routes []Route) (*Gateway, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.Resolver == nil {
		return nil, errors.New("gateway: a resolver is required")
	}
	if deps.Log == nil {
		return nil, errors.New("gateway: a logger is required")
	}
	if deps.Signer == nil {
		return nil, errors.New("gateway: a signer is required")
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Client == nil {
		deps.Client = defaultClient()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	doc, err := api.JSON()
	if err != nil {
		return nil, fmt.Errorf("gateway: render openapi: %w", err)
	}
	g := &Gateway{
		cfg:      cfg,
		log:      deps.Log,
		now:      deps.Now,
		client:   deps.Client,
		balancer: discovery.NewBalancer(deps.Resolver),
		resolver: deps.Resolver,
		metrics:  newMetrics(deps.Registry),
		routes:   routes,
		signer:   deps.Signer,
		openapi:  doc,
		ui:       deps.UI,
	}
	g.keys = newKeyCache(g)
	g.revs = newRevocations(g)
	g.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateIdle, deps.Now)
	g.verifier = newVerifier(g.keys, cfg.Leeway, deps.Now, cfg.TokenCacheSize)
	g.proxy = g.newProxy()
	if g.handler, err = g.buildHandler(deps.Registry); err != nil {
		return nil, err
	}
	deps.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_revocation_entries",
		Help: "Revoked logins and accounts the gateway currently refuses tokens of.",
	}, func() float64 { return float64(g.revs.size()) }))
	return g, nil
}

// defaultClient returns the client used for upstream calls when Deps gives none.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// buildHandler registers every route of the table, the fallback and the operations
// endpoints.
func (g *Gateway) buildHandler(reg *prometheus.Registry) (http.Handler, error) {
	local := map[string]http.Handler{
		"GET /api/v1/openapi.json": http.HandlerFunc(g.serveOpenAPI),
	}
	mux := http.NewServeMux()
	methods := map[string][]string{} // path pattern → methods, for 405 answers
	var paths []string
	services := map[string]bool{}
	for _, rt := range g.routes {
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
		if len(methods[rt.Path]) == 1 {
			paths = append(paths, rt.Path)
		}
		if rt.Service != discovery.Gateway {
			mux.Handle(rt.Pattern(), g.limit(g.routeHandler(rt, g.forward)))
			services[rt.Service] = true
			continue
		}
		if servedByWrap(rt) {
			continue
		}
		h, ok := local[rt.Pattern()]
		if !ok {
			return nil, fmt.Errorf("gateway: no local handler for %s", rt.Pattern())
		}
		mux.Handle(rt.Pattern(), g.limit(g.routeHandler(rt, func(w http.ResponseWriter, r *http.Request, _ Route, _ *identity) {
			h.ServeHTTP(w, r)
		})))
	}
	for s := range services {
		g.upstream = append(g.upstream, s)
	}
	slices.Sort(g.upstream)

	mux.Handle("/", g.limit(g.fallback(paths, methods)))
	// Every answer is compressed here, once, for the client that accepts it: the services'
	// (which answer the gateway uncompressed) as the web UI's.
	compress, err := httpx.NewCompressor(g.uiPath)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	h := httpx.Wrap(mux, httpx.Options{Log: g.log, Registry: reg, Checks: g.readinessChecks(), UI: g.uiPath, Compress: compress})
	if g.cfg.MetricsElsewhere {
		h = httpx.WithoutMetrics(h, g.log)
	}
	if g.cfg.HSTS != "" {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", g.cfg.HSTS)
			next.ServeHTTP(w, r)
		})
	}
	return h, nil
}

// fallback answers what no route of the table takes: a path of the table (one of paths,
// served by methods) asked with another method is a 405, any other path a 404 (or the UI).
func (g *Gateway) fallback(paths []string, methods map[string][]string) http.Handler {
	known := http.NewServeMux()
	for _, p := range paths {
		allow := httpx.AllowHeader(methods[p])
		known.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { httpx.MethodNotAllowed(w, r, allow) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := known.Handler(r); pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
		if g.ui != nil && servesUI(r.URL.Path) {
			g.ui.ServeHTTP(w, r)
			return
		}
		problem.WriteError(w, r, problem.ErrNotFound)
	})
}

// readinessChecks are the checks of /readyz: the JWK set is loaded, the revocation feed
// synced, and every upstream service has a ready instance.
func (g *Gateway) readinessChecks() []httpx.Check {
	checks := []httpx.Check{
		{Name: "jwks", Check: func(context.Context) error {
			if !g.keys.loaded() {
				return errors.New("the JWK set is not loaded yet")
			}
			return nil
		}},
		{Name: "revocations", Check: func(context.Context) error {
			if !g.revs.isSynced() {
				return errors.New("the revocation feed is not synced yet")
			}
			return nil
		}},
	}
	for _, s := range g.upstream {
		checks = append(checks, httpx.Check{Name: s, Check: func(ctx context.Context) error { return g.checkService(ctx, s) }})
	}
	return checks
}

// servesUI reports whether path belongs to the web UI rather than to the API.
func servesUI(path string) bool {
	for _, prefix := range []string{"/api/", "/.well-known/", "/internal/"} {
		if strings.HasPrefix(path, prefix) || path+"/" == prefix {
			return false
		}
	}
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return false
	}
	return true
}

// uiPath reports whether path is answered by the web UI, when there is one.
func (g *Gateway) uiPath(path string) bool { return g.ui != nil && servesUI(path) }

// serveOpenAPI serves the OpenAPI document as JSON.
func (g *Gateway) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(g.openapi)
}

// checkService reports whether some instance of service answers its /healthz.
func (g *Gateway) checkService(ctx context.Context, service string) error {
	urls, err := g.resolver.Resolve(ctx, service)
	if err != nil {
		return err
	}
	var errs []error
	for _, base := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := g.client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		drain(resp)
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s/healthz answered %d", base, resp.StatusCode))
	}
	return errors.Join(errs...)
}

// Run keeps the JWK set and the revocations fresh and evicts idle rate-limit buckets until
// ctx is done; it then returns nil.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { g.keys.run(ctx) })
	wg.Go(func() { g.revs.run(ctx) })
	wg.Go(func() { g.janitor(ctx) })
	wg.Wait()
	// A connection the transport dialed for a request that another connection served waits
	// idle here but is new to the service, whose graceful shutdown waits up to 5 s for it:
	// closing the idle ones lets the services shut down at once.
	g.client.CloseIdleConnections()
	return nil
}

// janitor evicts idle rate-limit buckets and expired revocations once a minute.
func (g *Gateway) janitor(ctx context.Context) {
	every(ctx, time.Minute, func() {
		now := g.now()
		g.limiter.evict(now)
		g.revs.prune(now)
	})
}

// every calls fn every d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// LiveKeys are the settings that live configuration (Consul's KV store) may change while the
// gateway runs, by key, with the configured values as their base.
func (g *Gateway) LiveKeys() map[string]kvconfig.Key {
	return map[string]kvconfig.Key{
		"rate_limit": kvconfig.Float(g.cfg.RateLimit, g.SetRateLimit),
		"rate_burst": kvconfig.Int(g.cfg.RateBurst, g.SetRateBurst),
	}
}
