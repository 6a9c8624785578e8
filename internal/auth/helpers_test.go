package auth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testBase is where every test clock starts.
var testBase = time.Date(2031, 1, 6, 9, 0, 0, 0, time.UTC)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingNotifier counts the wake-ups of the outbox relay.
type countingNotifier struct{ n atomic.Int64 }

func (c *countingNotifier) Notify() { c.n.Add(1) }

// env is one auth service over a real SQLite store, driven through its HTTP handler.
type env struct {
	t      testing.TB
	store  *auth.SQLStore
	svc    *auth.Service
	h      http.Handler
	clock  *fakeClock
	notify *countingNotifier
	keys   *svcauthtest.Keys
}

func newEnv(t testing.TB, configure ...func(*auth.Config)) *env {
	t.Helper()
	return newEnvOn(t, openSQLite(t), configure...)
}

// newEnvOn starts a service over an existing store, as another replica would.
func newEnvOn(t testing.TB, store *auth.SQLStore, configure ...func(*auth.Config)) *env {
	t.Helper()
	cfg := auth.DefaultConfig()
	for _, f := range configure {
		f(&cfg)
	}
	e := &env{t: t, store: store, clock: &fakeClock{now: testBase}, notify: &countingNotifier{}, keys: svcauthtest.New()}
	svc, err := auth.New(cfg, auth.Deps{
		Common:   svcdeps.Common{Outbox: e.notify, Log: logging.Discard(), Registry: prometheus.NewRegistry(), Now: e.clock.Now},
		Store:    store,
		Verifier: e.keys.Verifier("auth", "gateway"),
	})
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	e.svc, e.h = svc, svc.Handler()
	return e
}

// caller is the identity the gateway would pass on in its service token.
type caller struct {
	AccountID, Email, SessionID string
}

// request describes one request to the service.
type request struct {
	method, path string
	body         string
	caller       *caller
	clientIP     string
	contentType  string // default application/json when there is a body
}

func (e *env) serve(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	var body *strings.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	// Every request comes from the gateway, as in production.
	claims := svcauth.Claims{ClientIP: r.clientIP}
	if r.caller != nil {
		claims.AccountID, claims.Email, claims.SessionID = r.caller.AccountID, r.caller.Email, r.caller.SessionID
	}
	e.keys.Sign(req, "gateway", "auth", claims)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("response %d %q does not decode: %v", rec.Code, rec.Body.String(), err)
	}
	return v
}

func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status %d, want %d; body %s", rec.Code, want, rec.Body.String())
	}
}

// problemBody is the JSON of a problem response.
type problemBody struct {
	Type   string               `json:"type"`
	Title  string               `json:"title"`
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Errors []problem.FieldError `json:"errors"`
}

func (e *env) signUp(email, password, name string) auth.AccountJSON {
	e.t.Helper()
	rec := e.serve(request{method: "POST", path: "/api/v1/accounts", body: jsonBody(e.t, map[string]string{
		"email": email, "password": password, "display_name": name,
	})})
	wantStatus(e.t, rec, http.StatusCreated)
	return decode[auth.AccountJSON](e.t, rec)
}

func (e *env) loginRec(email, password, ip string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "POST", path: "/api/v1/auth/token", clientIP: ip,
		body: jsonBody(e.t, map[string]string{"email": email, "password": password})})
}

// session is a successful login as a client sees it, with the identity in its access token.
type session struct {
	auth.TokenPair
	caller caller
}

func (e *env) login(email, password string) session {
	e.t.Helper()
	rec := e.loginRec(email, password, "192.0.2.1")
	wantStatus(e.t, rec, http.StatusOK)
	return e.session(decode[auth.TokenPair](e.t, rec))
}

func (e *env) session(p auth.TokenPair) session {
	e.t.Helper()
	c := e.verify(p.AccessToken)
	return session{TokenPair: p, caller: caller{AccountID: c.Subject, Email: c.Email, SessionID: c.SessionID}}
}

func (e *env) refreshRec(token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "POST", path: "/api/v1/auth/refresh",
		body: jsonBody(e.t, map[string]string{"refresh_token": token})})
}

// resetRec sets a new password with the token of a password-reset link.
func (e *env) resetRec(token, password string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "POST", path: "/api/v1/auth/password-reset/confirm",
		body: jsonBody(e.t, map[string]string{"token": token, "password": password})})
}

// deleteMe deletes the caller's account, giving password as the current password.
func (e *env) deleteMe(c *caller, password string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "DELETE", path: "/api/v1/accounts/me", caller: c,
		body: jsonBody(e.t, map[string]string{"current_password": password})})
}

func (e *env) jwks() authtoken.JWKS {
	e.t.Helper()
	rec := e.serve(request{method: "GET", path: "/.well-known/jwks.json"})
	wantStatus(e.t, rec, http.StatusOK)
	return decode[authtoken.JWKS](e.t, rec)
}

// verify checks an access token the way the gateway does, with the service's JWK set, and
// returns its claims.
func (e *env) verify(token string) authtoken.Claims {
	e.t.Helper()
	c, err := verifyWith(e.jwks(), token, e.clock.Now)
	if err != nil {
		e.t.Fatalf("access token does not verify: %v", err)
	}
	return c
}

func verifyWith(set authtoken.JWKS, token string, now func() time.Time) (authtoken.Claims, error) {
	var claims authtoken.Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range set.Keys {
			if k.KeyID == kid && k.KeyType == "OKP" && k.Curve == "Ed25519" {
				x, err := base64.RawURLEncoding.DecodeString(k.X)
				if err != nil || len(x) != ed25519.PublicKeySize {
					return nil, fmt.Errorf("bad key %s", kid)
				}
				return ed25519.PublicKey(x), nil
			}
		}
		return nil, fmt.Errorf("no key %q", kid)
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(authtoken.Issuer),
		jwt.WithAudience(authtoken.Audience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(now))
	return claims, err
}

func (e *env) feed(after int64) authtoken.RevocationFeed {
	e.t.Helper()
	rec := e.serve(request{method: "GET", path: fmt.Sprintf("%s?after=%d", authtoken.RevocationsPath, after)})
	wantStatus(e.t, rec, http.StatusOK)
	return decode[authtoken.RevocationFeed](e.t, rec)
}

// outbox returns the messages waiting in the service's outbox, oldest first.
func (e *env) outbox() []broker.Message {
	e.t.Helper()
	msgs, err := outbox.Pending(context.Background(), e.store.DB())
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) metrics() string {
	e.t.Helper()
	rec := e.serve(request{method: "GET", path: "/metrics"})
	wantStatus(e.t, rec, http.StatusOK)
	return rec.Body.String()
}

// runService runs the service's background work until the test ends.
func runService(t *testing.T, svc *auth.Service) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cancel
}

// indent makes a JSON body easier to read in a failure message.
func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}
