package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// realAuth is the auth service itself, over one database, behind one address, whose
// configuration can be changed as a restart with new settings would.
type realAuth struct {
	t       *testing.T
	store   *auth.SQLStore
	handler atomic.Pointer[http.Handler]
	srv     *httptest.Server
}

func newRealAuth(t *testing.T) *realAuth {
	t.Helper()
	store, err := auth.Open(context.Background(), database.SQLite, filepath.Join(t.TempDir(), "auth.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a := &realAuth{t: t, store: store}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*a.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// restart replaces the running service with one signing with keys.
func (a *realAuth) restart(keys ...ed25519.PrivateKey) {
	a.t.Helper()
	cfg := auth.DefaultConfig()
	cfg.SigningKeys = keys
	svc, err := auth.New(cfg, auth.Deps{
		Common: svcdeps.Common{Log: logging.Discard(), Registry: prometheus.NewRegistry()},
		Store:  a.store, Verifier: testKeys.Verifier(discovery.Auth, "gateway"),
	})
	if err != nil {
		a.t.Fatal(err)
	}
	h := svc.Handler()
	a.handler.Store(&h)
}

// login signs up (once) and logs in through the gateway, and returns the access token.
func login(t *testing.T, h *harness) string {
	t.Helper()
	const body = `{"email":"ada@example.com","password":"correct horse battery staple"}`
	signUp := httptest.NewRequest(http.MethodPost, "/api/v1/accounts",
		strings.NewReader(`{"email":"ada@example.com","password":"correct horse battery staple","display_name":"Ada"}`))
	signUp.Header.Set("Content-Type", "application/json")
	if rec := h.do(signUp); rec.Code != http.StatusCreated && rec.Code != http.StatusConflict {
		t.Fatalf("sign up: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/auth/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := h.do(req)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var pair auth.TokenPair
	if err := json.Unmarshal(rec.Body.Bytes(), &pair); err != nil {
		t.Fatal(err)
	}
	return pair.AccessToken
}

// headerKID returns the kid of a token, unverified.
func headerKID(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// TestSigningKeyRotation rotates the auth service's signing key from A to B and retires A,
// with the real auth service behind a running gateway: new tokens are signed with the first
// configured key, the gateway fetches the JWK set again when it meets B's key ID, tokens
// signed with A are accepted while A is published and refused once the gateway's JWK set no
// longer holds it.
func TestSigningKeyRotation(t *testing.T) {
	keyA, keyB := newEd25519(t), newEd25519(t)
	a := newRealAuth(t)
	a.restart(keyA)
	h := newHarness(t, setup{
		cfg:      func(c *Config) { c.JWKSMinRefetch = 0 },
		resolver: func(s discovery.Static) { s[discovery.Auth] = []string{a.srv.URL} },
	})
	get := func(token string) *httptest.ResponseRecorder { return h.get("/api/v1/notifications", token) }

	tokenA := login(t, h)
	if rec := get(tokenA); rec.Code != http.StatusOK {
		t.Fatalf("a token signed with A: %d %s", rec.Code, rec.Body)
	}

	// Step 1 of the rotation: B signs, A stays published.
	a.restart(keyB, keyA)
	tokenB := login(t, h)
	if headerKID(t, tokenB) == headerKID(t, tokenA) {
		t.Fatal("after the rotation, new tokens are still signed with A")
	}
	fetches := value(h.gw.metrics.jwksFetches.WithLabelValues("ok"))
	if rec := get(tokenB); rec.Code != http.StatusOK {
		t.Fatalf("a token signed with B: %d %s", rec.Code, rec.Body)
	}
	if got := value(h.gw.metrics.jwksFetches.WithLabelValues("ok")); got != fetches+1 {
		t.Errorf("JWK set fetched %v times for B's unknown kid, want once", got-fetches)
	}
	if rec := get(tokenA); rec.Code != http.StatusOK {
		t.Errorf("a token signed with A while A is still published: %d %s", rec.Code, rec.Body)
	}

	// Step 2, once A's tokens have expired: A is dropped. The gateway stops accepting them
	// when it next refreshes the JWK set (every Config.JWKSRefresh; done here at once).
	a.restart(keyB)
	if rec := get(tokenA); rec.Code != http.StatusOK {
		t.Errorf("a token signed with A before the gateway refreshed its keys: %d", rec.Code)
	}
	if err := h.gw.keys.refresh(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	before := value(h.gw.metrics.tokenFailures.WithLabelValues("unknown_key"))
	if rec := get(tokenA); rec.Code != http.StatusUnauthorized {
		t.Errorf("a token signed with the retired key A: %d %s, want 401", rec.Code, rec.Body)
	}
	if got := value(h.gw.metrics.tokenFailures.WithLabelValues("unknown_key")); got != before+1 {
		t.Errorf("failures for an unknown key: %v, want %v", got, before+1)
	}
	if rec := get(tokenB); rec.Code != http.StatusOK {
		t.Errorf("a token signed with B after A was retired: %d %s", rec.Code, rec.Body)
	}
	if rec := get(login(t, h)); rec.Code != http.StatusOK {
		t.Errorf("a new token: %d %s", rec.Code, rec.Body)
	}
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
