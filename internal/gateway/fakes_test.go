package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
)

// testKeys are the service keys of the gateways under test: the fake services take calls
// signed with the gateway's key only.
var testKeys = svcauthtest.New()

// echoed is what a fake service answers: the request as it arrived, and what the gateway's
// service token said.
type echoed struct {
	Service string         `json:"service"`
	Method  string         `json:"method"`
	Path    string         `json:"path"`
	Query   string         `json:"query"`
	Header  http.Header    `json:"header"`
	BodyLen int            `json:"body_len"`
	Claims  svcauth.Claims `json:"claims"`
}

// fakeService is an upstream service that echoes every request.
type fakeService struct {
	name  string
	srv   *httptest.Server
	hits  atomic.Int64
	extra atomic.Pointer[http.Header] // headers the echo sets on its answers
}

// setHeader makes the echo answer with header name set to value.
func (f *fakeService) setHeader(name, value string) {
	h := http.Header{}
	if old := f.extra.Load(); old != nil {
		h = old.Clone()
	}
	h.Set(name, value)
	f.extra.Store(&h)
}

// newFakeService starts a fake service named name, closed when tb ends.
func newFakeService(tb testing.TB, name string) *fakeService {
	f := &fakeService{name: name}
	f.srv = httptest.NewServer(f.handler(nil))
	tb.Cleanup(f.srv.Close)
	return f
}

// handler returns the fake's handler: /healthz, then, for calls the gateway signed (others
// are answered 401, as a real service does), special for the requests it knows, then an
// echo.
func (f *fakeService) handler(special http.Handler) http.Handler {
	verifier := testKeys.Verifier(f.name, "gateway")
	api := f.api(special)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := verifier.VerifyRequest(r)
		if err != nil {
			problem.WriteError(w, r, problem.New(http.StatusUnauthorized, err.Error()))
			return
		}
		api.ServeHTTP(w, r.WithContext(svcauth.NewContext(r.Context(), c)))
	})
	return mux
}

// api serves the fake's routes for calls already verified.
func (f *fakeService) api(special http.Handler) http.Handler {
	mux := http.NewServeMux()
	if special != nil {
		mux.Handle("/internal/", special)
		mux.Handle("/.well-known/", special)
		mux.Handle("POST /api/v1/auth/logout", special)
		mux.Handle("DELETE /api/v1/accounts/me", special)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		// Like a real service: echo the request ID, and (wrongly) set an internal header that
		// the gateway must not pass on to the client.
		w.Header().Set(httpx.HeaderRequestID, r.Header.Get(httpx.HeaderRequestID))
		w.Header().Set("X-Eventpost-Internal", "leaked")
		if extra := f.extra.Load(); extra != nil {
			for k, v := range *extra {
				w.Header()[k] = v
			}
		}
		c, _ := svcauth.FromContext(r.Context())
		httpx.WriteJSON(w, http.StatusOK, echoed{
			Service: f.name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header, BodyLen: int(n), Claims: c,
		})
	})
	return mux
}

// fakeAuth is the auth service as the gateway sees it: a JWK set, a revocation feed, logout
// and account deletion that revoke, and an echo for everything else.
type fakeAuth struct {
	fakeService
	jwksFetches atomic.Int64
	revFetches  atomic.Int64

	mu         sync.Mutex
	keys       []authtoken.JWK
	jwksStatus int
	revs       []authtoken.Revocation
	lastSeq    int64
	// wakeOnRevoke makes a long poll answer as soon as a revocation is added; without it, a
	// long poll is held for its whole wait, so only an immediate read sees a new revocation.
	wakeOnRevoke bool
	wake         chan struct{}
}

// newFakeAuth starts a fake auth service, closed when tb ends.
func newFakeAuth(tb testing.TB) *fakeAuth {
	a := &fakeAuth{fakeService: fakeService{name: discovery.Auth}, jwksStatus: http.StatusOK, wake: make(chan struct{})}
	a.srv = httptest.NewServer(a.handler(http.HandlerFunc(a.serveSpecial)))
	tb.Cleanup(a.srv.Close)
	return a
}

// addKey publishes pub under kid.
func (a *fakeAuth) addKey(kid string, pub ed25519.PublicKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, authtoken.JWK{
		KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
		KeyID: kid, Alg: "EdDSA", Use: "sig",
	})
}

// setJWKSStatus makes the JWK set answer status (200 serves it).
func (a *fakeAuth) setJWKSStatus(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jwksStatus = status
}

// revoke adds a revocation and returns its sequence number.
func (a *fakeAuth) revoke(sessionID, accountID string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastSeq++
	a.revs = append(a.revs, authtoken.Revocation{
		Seq: a.lastSeq, SessionID: sessionID, AccountID: accountID,
		ExpiresAt: time.Now().Add(authtoken.MaxTTL).UTC(),
	})
	if a.wakeOnRevoke {
		close(a.wake)
		a.wake = make(chan struct{})
	}
	return a.lastSeq
}

// skipSeq makes the feed's sequence jump (a revocation that is invisible to the gateway).
func (a *fakeAuth) skipSeq() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastSeq + 1000
}

func (a *fakeAuth) serveSpecial(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == JWKSPath:
		a.jwksFetches.Add(1)
		a.mu.Lock()
		status, set := a.jwksStatus, authtoken.JWKS{Keys: append([]authtoken.JWK(nil), a.keys...)}
		a.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, set)
	case r.Method == http.MethodGet && r.URL.Path == authtoken.RevocationsPath:
		a.revFetches.Add(1)
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
		a.mu.Lock()
		wake, pending := a.wake, a.lastSeq > after
		a.mu.Unlock()
		if wait > 0 && !pending {
			t := time.NewTimer(time.Duration(wait) * time.Second)
			select {
			case <-t.C:
			case <-wake:
			case <-r.Context().Done():
			}
			t.Stop()
		}
		a.mu.Lock()
		feed := authtoken.RevocationFeed{Revocations: []authtoken.Revocation{}, LastSeq: a.lastSeq}
		for _, rev := range a.revs {
			if rev.Seq > after {
				feed.Revocations = append(feed.Revocations, rev)
			}
		}
		a.mu.Unlock()
		httpx.WriteJSON(w, http.StatusOK, feed)
	case r.URL.Path == "/api/v1/auth/logout":
		c, _ := svcauth.FromContext(r.Context())
		seq := a.revoke(c.SessionID, "")
		w.Header().Set(httpx.HeaderRevocation, strconv.FormatInt(seq, 10))
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/api/v1/accounts/me":
		c, _ := svcauth.FromContext(r.Context())
		seq := a.revoke("", c.AccountID)
		if r.Header.Get("X-Test-Skip-Seq") != "" {
			seq = a.skipSeq()
		}
		w.Header().Set(httpx.HeaderRevocation, strconv.FormatInt(seq, 10))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// setup adjusts a harness before its gateway starts.
type setup struct {
	cfg      func(*Config)
	routes   []Route
	ui       http.Handler
	resolver func(discovery.Static) // edits the instances the gateway resolves
	before   func(*harness)         // runs before the gateway starts
	noWait   bool                   // do not wait until the gateway is ready
}

// harness is a gateway in front of fake services, with a signing key known to fake auth.
type harness struct {
	tb            testing.TB
	gw            *Gateway
	auth          *fakeAuth
	events        *fakeService
	notifications *fakeService
	priv          ed25519.PrivateKey
	registry      *prometheus.Registry
}

// testKID is the key ID of the harness's signing key.
const testKID = "k1"

// testConfig is the configuration of test gateways: no rate limit to speak of, quick retries.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.RateLimit, cfg.RateBurst = 1e6, 1e6
	cfg.JWKSRetryMax = 50 * time.Millisecond
	cfg.RevocationPoll = 20 * time.Second
	cfg.RevocationWait = 2 * time.Second
	return cfg
}

// newHarness starts fake services and a running gateway in front of them, waits until it is
// ready, and stops everything when tb ends.
func newHarness(tb testing.TB, s setup) *harness {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{
		tb: tb, priv: priv,
		auth:          newFakeAuth(tb),
		events:        newFakeService(tb, discovery.Events),
		notifications: newFakeService(tb, discovery.Notifications),
		registry:      prometheus.NewRegistry(),
	}
	h.auth.addKey(testKID, pub)
	if s.before != nil {
		s.before(h)
	}
	instances := discovery.Static{
		discovery.Auth:          {h.auth.srv.URL},
		discovery.Events:        {h.events.srv.URL},
		discovery.Notifications: {h.notifications.srv.URL},
	}
	if s.resolver != nil {
		s.resolver(instances)
	}
	cfg := testConfig()
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	routes := s.routes
	if routes == nil {
		routes = Routes()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	h.gw, err = newGateway(cfg, Deps{
		Resolver: instances, Log: logging.Discard(), Registry: h.registry, Client: client, UI: s.ui,
		Signer: testKeys.Signer("gateway"),
	}, routes)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.gw.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run returned %v, want nil", err)
		}
		client.CloseIdleConnections()
	})
	if !s.noWait {
		h.waitReady()
	}
	return h
}

// waitReady waits until the gateway's /readyz answers 200.
func (h *harness) waitReady() {
	h.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("gateway not ready: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do serves req through the gateway.
func (h *harness) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.gw.Handler().ServeHTTP(rec, req)
	return rec
}

// get serves a GET of path with token (none when "").
func (h *harness) get(path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do(req)
}

// post sends POST /api/v1/events with body as token's.
func (h *harness) post(token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return h.do(req)
}

// claims returns valid claims for account sub and login sid.
func claims(sub, sid string) authtoken.Claims {
	now := time.Now()
	return authtoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    authtoken.Issuer,
			Subject:   sub,
			Audience:  jwt.ClaimStrings{authtoken.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(authtoken.MaxTTL)),
		},
		Email:     sub + "@example.com",
		SessionID: sid,
	}
}

// sign returns c signed with key under kid.
func sign(tb testing.TB, c authtoken.Claims, kid string, key ed25519.PrivateKey) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// token returns a valid access token of account sub and login sid.
func (h *harness) token(sub, sid string) string {
	return sign(h.tb, claims(sub, sid), testKID, h.priv)
}

// decodeEcho decodes the echo of a fake service.
func decodeEcho(tb testing.TB, rec *httptest.ResponseRecorder) echoed {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	var e echoed
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		tb.Fatalf("decode echo: %v; body %s", err, rec.Body)
	}
	return e
}
