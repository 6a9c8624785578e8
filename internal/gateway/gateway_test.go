package gateway

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/eventpost/eventpost/api"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// concrete turns a route's path pattern into a path that matches it.
func concrete(path string) string {
	return strings.ReplaceAll(path, "{id}", "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11")
}

func TestEveryRouteReachesItsService(t *testing.T) {
	h := newHarness(t, setup{})
	for _, rt := range Routes() {
		if rt.Service == discovery.Gateway {
			continue
		}
		t.Run(rt.Pattern(), func(t *testing.T) {
			path := concrete(rt.Path)
			req := httptest.NewRequest(rt.Method, path+"?q=music&tag=a&tag=b", strings.NewReader(`{"x":1}`))
			req.Header.Set("Content-Type", "application/json")
			if rt.Auth == AuthRequired {
				// An account of its own: some routes revoke it.
				req.Header.Set("Authorization", "Bearer "+h.token("acc-"+rt.Pattern(), "sess-"+rt.Pattern()))
			}
			rec := h.do(req)
			switch {
			case rt.Pattern() == "POST /api/v1/auth/logout", rt.Pattern() == "DELETE /api/v1/accounts/me":
				// fake auth answers these itself: they revoke tokens.
				if rec.Code != http.StatusNoContent {
					t.Fatalf("status %d, want 204; body %s", rec.Code, rec.Body)
				}
				return
			case rt.Pattern() == "GET "+JWKSPath:
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"kid":"`+testKID+`"`) {
					t.Fatalf("status %d, body %s; want the JWK set", rec.Code, rec.Body)
				}
				return
			}
			got := decodeEcho(t, rec)
			want := echoed{
				Service: rt.Service, Method: rt.Method, Path: path, Query: "q=music&tag=a&tag=b", BodyLen: 7,
				Claims: svcauth.Claims{Caller: "gateway", ClientIP: "192.0.2.1"},
			}
			if rt.Auth == AuthRequired {
				c := &want.Claims
				c.AccountID, c.Email, c.SessionID = "acc-"+rt.Pattern(), "acc-"+rt.Pattern()+"@example.com", "sess-"+rt.Pattern()
			}
			if diff := cmp.Diff(want, got, cmpIgnoreHeader); diff != "" {
				t.Errorf("upstream saw (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpIgnoreHeader = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Header" }, cmp.Ignore())

func TestGatewayServesItsOwnEndpoints(t *testing.T) {
	h := newHarness(t, setup{})
	wantDoc, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path        string
		contentType string
		body        []byte // nil: not checked
	}{
		{"/api/v1/openapi.json", "application/json", wantDoc},
		{"/healthz", "application/json", []byte(`{"status":"ok"}` + "\n")},
		{"/readyz", "application/json", []byte(`{"status":"ready"}` + "\n")},
		{"/metrics", "text/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := h.get(tt.path, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			if tt.body != nil && !bytes.Equal(rec.Body.Bytes(), tt.body) {
				t.Errorf("body %s, want %s", rec.Body, tt.body)
			}
		})
	}
	if got := h.events.hits.Load() + h.auth.hits.Load() + h.notifications.hits.Load(); got != 0 {
		t.Errorf("services got %d requests, want 0", got)
	}
}

func TestUnroutedPaths(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "ui:"+r.URL.Path)
	})
	tests := []struct {
		name       string
		ui         http.Handler
		method     string
		path       string
		wantStatus int
		wantAllow  string
		wantBody   string // for non-problem answers
	}{
		{"unknown API path", nil, http.MethodGet, "/api/v1/nope", http.StatusNotFound, "", ""},
		{"internal path is never routed", nil, http.MethodGet, authtoken.RevocationsPath + "?after=0", http.StatusNotFound, "", ""},
		{"root without UI", nil, http.MethodGet, "/", http.StatusNotFound, "", ""},
		{"wrong method", nil, http.MethodPut, "/api/v1/events/1", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH", ""},
		{"wrong method on operations", nil, http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD", ""},
		{"UI at root", ui, http.MethodGet, "/", http.StatusOK, "", "ui:/"},
		{"UI page", ui, http.MethodGet, "/events/123", http.StatusOK, "", "ui:/events/123"},
		{"UI never gets API paths", ui, http.MethodGet, "/api/v1/nope", http.StatusNotFound, "", ""},
		{"UI never gets internal paths", ui, http.MethodGet, "/internal/v1/revocations", http.StatusNotFound, "", ""},
		{"UI never gets well-known paths", ui, http.MethodGet, "/.well-known/other", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{ui: tt.ui})
			rec := h.do(httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			if tt.wantBody != "" {
				if rec.Body.String() != tt.wantBody {
					t.Errorf("body %q, want %q", rec.Body, tt.wantBody)
				}
				return
			}
			assertProblem(t, rec, tt.wantStatus)
			if n := h.auth.hits.Load(); n != 0 {
				t.Errorf("auth got %d proxied requests, want 0", n)
			}
		})
	}
}

// assertProblem checks that rec is a problem+json answer with status.
func assertProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %s", ct, problem.ContentType)
	}
	var body struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode problem: %v; body %s", err, rec.Body)
	}
	if body.Status != status || body.Title == "" {
		t.Errorf("problem %+v, want status %d and a title", body, status)
	}
}

func TestClientCannotSetInternalHeaders(t *testing.T) {
	h := newHarness(t, setup{})
	forged := map[string]string{
		"X-Eventpost-Account-Id":  "forged-account",
		"X-Eventpost-Client-Ip":   "203.0.113.99",
		httpx.HeaderRevocation:    "7",
		"X-Eventpost-Other":       "forged",
		"x_eventpost_account_id":  "forged-underscore",
		"X-EVENTPOST-SESSION-ID2": "forged-upper",
	}
	tests := []struct {
		name       string
		path       string
		token      string
		wantClaims svcauth.Claims // what the service token the upstream verified says
	}{
		{"anonymous route", "/api/v1/events", "", svcauth.Claims{Caller: "gateway", ClientIP: "192.0.2.1"}},
		{"authenticated route", "/api/v1/notifications", h.token("acc-7", "sess-7"), svcauth.Claims{
			Caller: "gateway", ClientIP: "192.0.2.1", AccountID: "acc-7", Email: "acc-7@example.com", SessionID: "sess-7",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			for k, v := range forged {
				req.Header[k] = []string{v} // as sent, not canonicalized
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := h.do(req)
			e := decodeEcho(t, rec)
			for k := range e.Header {
				if isInternalHeader(k) {
					t.Errorf("the upstream got internal header %s", k)
				}
			}
			if diff := cmp.Diff(tt.wantClaims, e.Claims); diff != "" {
				t.Errorf("service token claims upstream (-want +got):\n%s", diff)
			}
			for k := range rec.Header() {
				if isInternalHeader(k) {
					t.Errorf("response carries internal header %s", k)
				}
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	tests := []struct {
		name         string
		trust        bool
		remoteAddr   string
		xff          string
		wantClientIP string
		wantXFF      string
	}{
		{"untrusted XFF is replaced", false, "198.51.100.7:5555", "203.0.113.1", "198.51.100.7", "198.51.100.7"},
		{"no XFF", false, "198.51.100.7:5555", "", "198.51.100.7", "198.51.100.7"},
		{"trusted XFF names the client", true, "10.0.0.2:5555", "203.0.113.1, 10.0.0.1", "203.0.113.1", "203.0.113.1, 10.0.0.1, 10.0.0.2"},
		{"trusted but garbage XFF", true, "10.0.0.2:5555", "not-an-ip", "10.0.0.2", "not-an-ip, 10.0.0.2"},
		{"IPv6 peer", false, "[2001:db8::1]:5555", "", "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{cfg: func(c *Config) { c.TrustForwardedFor = tt.trust }})
			req := httptest.NewRequest(http.MethodGet, "/api/v1/events", nil)
			req.RemoteAddr = tt.remoteAddr
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			e := decodeEcho(t, h.do(req))
			got := []string{e.Claims.ClientIP, e.Header.Get("X-Forwarded-For"), e.Header.Get("X-Forwarded-Proto")}
			if diff := cmp.Diff([]string{tt.wantClientIP, tt.wantXFF, "http"}, got); diff != "" {
				t.Errorf("client IP, X-Forwarded-For, X-Forwarded-Proto (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, setup{})
	t.Run("echoed", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/events/1", nil)
		req.Header.Set(httpx.HeaderRequestID, "client-chosen-id")
		rec := h.do(req)
		e := decodeEcho(t, rec)
		if diff := cmp.Diff([]string{"client-chosen-id"}, rec.Header().Values(httpx.HeaderRequestID)); diff != "" {
			t.Errorf("response X-Request-Id (-want +got):\n%s", diff)
		}
		if got := e.Header.Get(httpx.HeaderRequestID); got != "client-chosen-id" {
			t.Errorf("upstream got request ID %q", got)
		}
	})
	t.Run("generated", func(t *testing.T) {
		rec := h.get("/api/v1/events/1", "")
		e := decodeEcho(t, rec)
		ids := rec.Header().Values(httpx.HeaderRequestID)
		if len(ids) != 1 || ids[0] == "" {
			t.Fatalf("response X-Request-Id %q, want one generated ID", ids)
		}
		if got := e.Header.Get(httpx.HeaderRequestID); got != ids[0] {
			t.Errorf("upstream got request ID %q, want %q", got, ids[0])
		}
	})
	t.Run("on gateway errors too", func(t *testing.T) {
		rec := h.get("/api/v1/notifications", "")
		if rec.Code != http.StatusUnauthorized || rec.Header().Get(httpx.HeaderRequestID) == "" {
			t.Errorf("status %d, request ID %q; want 401 with an ID", rec.Code, rec.Header().Get(httpx.HeaderRequestID))
		}
	})
}

func TestIdentityFromValidToken(t *testing.T) {
	h := newHarness(t, setup{})
	req := httptest.NewRequest(http.MethodGet, "/api/v1/accounts/me", nil)
	req.Header.Set("Authorization", "bearer "+h.token("acc-42", "sess-42")) // the scheme is case-insensitive
	e := decodeEcho(t, h.do(req))
	got := []string{e.Claims.AccountID, e.Claims.Email, e.Claims.SessionID}
	if diff := cmp.Diff([]string{"acc-42", "acc-42@example.com", "sess-42"}, got); diff != "" {
		t.Errorf("identity in the service token (-want +got):\n%s", diff)
	}
	if e.Header.Get("Authorization") == "Bearer "+h.token("acc-42", "sess-42") {
		t.Error("the client's access token reached the service")
	}
}

func TestRefusedTokens(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *Config) { c.JWKSMinRefetch = time.Hour }})
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	pub := h.priv.Public().(ed25519.PublicKey)

	edit := func(f func(*authtoken.Claims)) string {
		c := claims("acc-1", "sess-1")
		f(&c)
		return sign(t, c, testKID, h.priv)
	}
	hs256 := func() string { // the public key used as an HMAC secret: algorithm confusion
		tok := jwtWithMethod("HS256", claims("acc-1", "sess-1"))
		s, err := tok.SignedString([]byte(pub))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		s, err := jwtWithMethod("none", claims("acc-1", "sess-1")).SignedString(noneKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := func() string {
		s := h.token("acc-1", "sess-1")
		parts := strings.Split(s, ".")
		c := claims("acc-2", "sess-1") // another account, same signature
		b, _ := json.Marshal(c)
		parts[1] = b64(b)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name          string
		authorization string
		reason        string
	}{
		{"missing", "", "missing"},
		{"not bearer", "Basic dXNlcjpwYXNz", "malformed"},
		{"empty bearer", "Bearer ", "malformed"},
		{"not a JWT", "Bearer abc.def", "malformed"},
		{"bad signature", "Bearer " + sign(t, claims("acc-1", "sess-1"), testKID, otherKey), "signature"},
		{"tampered claims", "Bearer " + tampered(), "signature"},
		{"alg none", "Bearer " + none(), "algorithm"},
		{"alg HS256 with the public key", "Bearer " + hs256(), "algorithm"},
		{"expired", "Bearer " + edit(func(c *authtoken.Claims) {
			c.ExpiresAt = jwtDate(time.Now().Add(-time.Hour))
			c.IssuedAt = jwtDate(time.Now().Add(-2 * time.Hour))
		}), "expired"},
		{"no expiry", "Bearer " + edit(func(c *authtoken.Claims) { c.ExpiresAt = nil }), "claims"},
		{"wrong issuer", "Bearer " + edit(func(c *authtoken.Claims) { c.Issuer = "someone-else" }), "claims"},
		{"wrong audience", "Bearer " + edit(func(c *authtoken.Claims) { c.Audience = []string{"other"} }), "claims"},
		{"issued in the future", "Bearer " + edit(func(c *authtoken.Claims) { c.IssuedAt = jwtDate(time.Now().Add(time.Hour)) }), "claims"},
		{"no subject", "Bearer " + edit(func(c *authtoken.Claims) { c.Subject = "" }), "claims"},
		{"no kid", "Bearer " + sign(t, claims("acc-1", "sess-1"), "", h.priv), "unknown_key"},
		{"unknown kid", "Bearer " + sign(t, claims("acc-1", "sess-1"), "never-published", otherKey), "unknown_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := value(h.gw.metrics.tokenFailures.WithLabelValues(tt.reason))
			hits := h.notifications.hits.Load()
			req := httptest.NewRequest(http.MethodGet, "/api/v1/notifications", nil)
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			rec := h.do(req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
			}
			assertProblem(t, rec, http.StatusUnauthorized)
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
			}
			if got := value(h.gw.metrics.tokenFailures.WithLabelValues(tt.reason)); got != before+1 {
				t.Errorf("failures with reason %s: %v, want %v", tt.reason, got, before+1)
			}
			if h.notifications.hits.Load() != hits {
				t.Error("the request reached the service")
			}
		})
	}
}

func TestOptionalAuth(t *testing.T) {
	routes := []Route{{http.MethodGet, "/api/v1/events", discovery.Events, AuthOptional}}
	h := newHarness(t, setup{routes: routes})
	tests := []struct {
		name        string
		token       string
		wantStatus  int
		wantAccount string
	}{
		{"anonymous", "", http.StatusOK, ""},
		{"valid token", h.token("acc-9", "sess-9"), http.StatusOK, "acc-9"},
		{"invalid token", "garbage", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.get("/api/v1/events", tt.token)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code == http.StatusOK {
				if got := decodeEcho(t, rec).Claims.AccountID; got != tt.wantAccount {
					t.Errorf("account %q, want %q", got, tt.wantAccount)
				}
			}
		})
	}
}

func TestUnknownKeyIDRefetchesTheJWKS(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *Config) { c.JWKSMinRefetch = time.Hour }})
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	h.auth.addKey("k2", pub2) // rotated in after the gateway loaded the set
	fetches := h.auth.jwksFetches.Load()

	rec := h.get("/api/v1/accounts/me", sign(t, claims("acc-1", "sess-1"), "k2", priv2))
	if got := decodeEcho(t, rec).Claims.AccountID; got != "acc-1" {
		t.Errorf("account %q, want acc-1", got)
	}
	if got := h.auth.jwksFetches.Load(); got != fetches+1 {
		t.Errorf("JWKS fetched %d times, want %d", got, fetches+1)
	}

	// Another unknown key within JWKSMinRefetch does not fetch again.
	_, priv3, _ := ed25519.GenerateKey(rand.Reader)
	for range 3 {
		if rec := h.get("/api/v1/accounts/me", sign(t, claims("acc-1", "sess-1"), "k3", priv3)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
	}
	if got := h.auth.jwksFetches.Load(); got != fetches+1 {
		t.Errorf("JWKS fetched %d times, want still %d", got, fetches+1)
	}
	// The known key still works.
	if rec := h.get("/api/v1/accounts/me", h.token("acc-1", "sess-1")); rec.Code != http.StatusOK {
		t.Errorf("status %d, want 200", rec.Code)
	}
}

func TestJWKSRefreshedPeriodically(t *testing.T) {
	h := newHarness(t, setup{cfg: func(c *Config) { c.JWKSRefresh = 20 * time.Millisecond }})
	start := h.auth.jwksFetches.Load()
	waitFor(t, "two periodic fetches", func() bool { return h.auth.jwksFetches.Load() >= start+2 })
}

func TestStartsWhenTheJWKSComesLater(t *testing.T) {
	h := newHarness(t, setup{noWait: true, before: func(h *harness) { h.auth.setJWKSStatus(http.StatusServiceUnavailable) }})
	waitFor(t, "a failed JWKS fetch", func() bool { return h.auth.jwksFetches.Load() >= 2 })
	rec := h.get("/readyz", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"dependency":"jwks"`) {
		t.Errorf("readyz %d %s, want 503 naming jwks", rec.Code, rec.Body)
	}
	if rec := h.get("/api/v1/notifications", h.token("acc-1", "sess-1")); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("authenticated request before the JWKS: %d, want 503", rec.Code)
	} else if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	h.auth.setJWKSStatus(http.StatusOK)
	h.waitReady()
	if rec := h.get("/api/v1/notifications", h.token("acc-1", "sess-1")); rec.Code != http.StatusOK {
		t.Errorf("status %d after the JWKS came, want 200", rec.Code)
	}
}

func TestRevocations(t *testing.T) {
	t.Run("revoked before the gateway started", func(t *testing.T) {
		h := newHarness(t, setup{before: func(h *harness) { h.auth.revoke("sess-old", "") }})
		if rec := h.get("/api/v1/accounts/me", h.token("acc-1", "sess-old")); rec.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", rec.Code)
		}
		if rec := h.get("/api/v1/accounts/me", h.token("acc-1", "sess-new")); rec.Code != http.StatusOK {
			t.Errorf("another login: status %d, want 200", rec.Code)
		}
	})
	t.Run("logout refuses that login's tokens from the next request", func(t *testing.T) {
		// The fake's long poll does not wake on a revocation: only the gateway's wait on the
		// revocation header can make the very next request fail.
		h := newHarness(t, setup{})
		tok, other := h.token("acc-1", "sess-1"), h.token("acc-1", "sess-2")
		req := httptest.NewRequest(http.MethodPost, "/api/v1/auth/logout", strings.NewReader(`{"refresh_token":"r"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := h.do(req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("logout: %d, want 204", rec.Code)
		}
		if v := rec.Header().Values(httpx.HeaderRevocation); len(v) != 0 {
			t.Errorf("the revocation header reached the client: %q", v)
		}
		if rec := h.get("/api/v1/accounts/me", tok); rec.Code != http.StatusUnauthorized {
			t.Errorf("logged-out token: status %d, want 401", rec.Code)
		}
		if rec := h.get("/api/v1/accounts/me", other); rec.Code != http.StatusOK {
			t.Errorf("the account's other login: status %d, want 200", rec.Code)
		}
		if got := value(h.gw.metrics.tokenFailures.WithLabelValues("revoked")); got != 1 {
			t.Errorf("revoked failures %v, want 1", got)
		}
	})
	t.Run("account deletion refuses every token of the account", func(t *testing.T) {
		h := newHarness(t, setup{})
		req := httptest.NewRequest(http.MethodDelete, "/api/v1/accounts/me", nil)
		req.Header.Set("Authorization", "Bearer "+h.token("acc-gone", "sess-1"))
		if rec := h.do(req); rec.Code != http.StatusNoContent {
			t.Fatalf("delete: %d, want 204", rec.Code)
		}
		for _, sid := range []string{"sess-1", "sess-2"} {
			if rec := h.get("/api/v1/notifications", h.token("acc-gone", sid)); rec.Code != http.StatusUnauthorized {
				t.Errorf("login %s: status %d, want 401", sid, rec.Code)
			}
		}
		if rec := h.get("/api/v1/notifications", h.token("acc-other", "sess-1")); rec.Code != http.StatusOK {
			t.Errorf("another account: status %d, want 200", rec.Code)
		}
	})
	t.Run("the long poll delivers revocations too", func(t *testing.T) {
		h := newHarness(t, setup{before: func(h *harness) { h.auth.wakeOnRevoke = true }})
		h.auth.revoke("", "acc-polled")
		waitFor(t, "the revocation", func() bool { return h.gw.revs.revoked("", "acc-polled") })
		if rec := h.get("/api/v1/notifications", h.token("acc-polled", "s")); rec.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", rec.Code)
		}
	})
	t.Run("gives up waiting for a revocation that never comes", func(t *testing.T) {
		h := newHarness(t, setup{cfg: func(c *Config) { c.RevocationWait = 100 * time.Millisecond }})
		req := httptest.NewRequest(http.MethodDelete, "/api/v1/accounts/me", nil)
		req.Header.Set("Authorization", "Bearer "+h.token("acc-1", "sess-1"))
		req.Header.Set("X-Test-Skip-Seq", "1")
		rec := h.do(req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204", rec.Code)
		}
		if v := rec.Header().Values(httpx.HeaderRevocation); len(v) != 0 {
			t.Errorf("the revocation header reached the client: %q", v)
		}
	})
	t.Run("expired revocations are pruned", func(t *testing.T) {
		h := newHarness(t, setup{before: func(h *harness) { h.auth.revoke("sess-x", "acc-x") }})
		if got := h.gw.revs.size(); got != 2 {
			t.Fatalf("size %d, want 2", got)
		}
		h.gw.revs.prune(time.Now().Add(authtoken.MaxTTL - time.Minute))
		if got := h.gw.revs.size(); got != 2 {
			t.Fatalf("size %d after an early prune, want 2", got)
		}
		h.gw.revs.prune(time.Now().Add(authtoken.MaxTTL + time.Minute))
		if got := h.gw.revs.size(); got != 0 {
			t.Errorf("size %d after prune, want 0", got)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t, setup{})
	big := bytes.Repeat([]byte("a"), httpx.MaxBodyBytes+1)
	tests := []struct {
		name          string
		contentLength int64
		body          []byte
		wantStatus    int
	}{
		{"declared too large", int64(len(big)), big, http.StatusRequestEntityTooLarge},
		{"streamed too large", -1, append(big, bytes.Repeat([]byte("b"), 1<<20)...), http.StatusRequestEntityTooLarge},
		{"exactly the limit", httpx.MaxBodyBytes, big[:httpx.MaxBodyBytes], http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/events", io.NopCloser(bytes.NewReader(tt.body)))
			req.ContentLength = tt.contentLength
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.token("acc-1", "sess-1"))
			rec := h.do(req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %.200s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus != http.StatusOK {
				assertProblem(t, rec, tt.wantStatus)
			} else if got := decodeEcho(t, rec).BodyLen; got != len(tt.body) {
				t.Errorf("upstream read %d bytes, want %d", got, len(tt.body))
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	// One token per 1000 s: a bucket of 2 empties after two requests and stays empty.
	h := newHarness(t, setup{cfg: func(c *Config) { c.RateLimit, c.RateBurst = 0.001, 2 }})
	from := func(addr, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = addr
		return h.do(req)
	}
	for i := range 2 {
		if rec := from("198.51.100.1:1000", "/api/v1/events"); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i, rec.Code)
		}
	}
	rec := from("198.51.100.1:2000", "/api/v1/events/1")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: status %d, want 429", rec.Code)
	}
	assertProblem(t, rec, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", rec.Header().Get("Retry-After"))
	}
	if rec := from("198.51.100.1:3000", "/api/v1/nope"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("unknown path: status %d, want 429 too", rec.Code)
	}
	if rec := from("198.51.100.2:1000", "/api/v1/events"); rec.Code != http.StatusOK {
		t.Errorf("another client: status %d, want 200", rec.Code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if rec := from("198.51.100.1:1000", path); rec.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200 (never limited)", path, rec.Code)
		}
	}
	if got := value(h.gw.metrics.rateLimited); got != 2 {
		t.Errorf("rate-limited count %v, want 2", got)
	}
}

func TestUnavailableUpstream(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(slow.Close)
	tests := []struct {
		name       string
		instances  []string
		reason     string
		wantReady  bool
		upstreamTO time.Duration
	}{
		{"instance down", []string{closed.URL}, "unreachable", false, time.Minute},
		{"no instance", nil, "no_instance", false, time.Minute},
		{"instance too slow", []string{slow.URL}, "timeout", true, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{
				noWait:   true,
				cfg:      func(c *Config) { c.UpstreamTimeout = tt.upstreamTO },
				resolver: func(s discovery.Static) { s[discovery.Events] = tt.instances },
			})
			waitFor(t, "the JWKS", h.gw.keys.loaded)
			// /readyz also waits for the revocation feed's first sync.
			waitFor(t, "the revocation feed", h.gw.revs.isSynced)
			rec := h.get("/api/v1/events/1", "")
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503; body %s", rec.Code, rec.Body)
			}
			assertProblem(t, rec, http.StatusServiceUnavailable)
			if rec.Header().Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q, want 5", rec.Header().Get("Retry-After"))
			}
			if !strings.Contains(rec.Body.String(), "events is unavailable") {
				t.Errorf("body %s does not name the service", rec.Body)
			}
			if got := value(h.gw.metrics.upstreamErrors.WithLabelValues(discovery.Events, tt.reason)); got != 1 {
				t.Errorf("upstream errors (events, %s) %v, want 1", tt.reason, got)
			}
			ready := h.get("/readyz", "")
			if tt.wantReady {
				if ready.Code != http.StatusOK {
					t.Errorf("readyz %d %s, want 200", ready.Code, ready.Body)
				}
			} else if ready.Code != http.StatusServiceUnavailable || !strings.Contains(ready.Body.String(), `"dependency":"events"`) {
				t.Errorf("readyz %d %s, want 503 naming events", ready.Code, ready.Body)
			}
			// Other services still answer.
			if rec := h.get("/api/v1/notifications", h.token("a", "s")); rec.Code != http.StatusOK {
				t.Errorf("notifications: status %d, want 200", rec.Code)
			}
		})
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	// newHarness's cleanup checks that Run returns nil once its context is cancelled, and
	// goleak that nothing it started is left running; here with the feed's long poll held.
	h := newHarness(t, setup{})
	waitFor(t, "a long poll", func() bool { return h.auth.revFetches.Load() >= 2 })
}

func TestNewRejectsBadConfig(t *testing.T) {
	deps := Deps{Resolver: discovery.Static{}, Log: noLog(), Signer: testKeys.Signer("gateway")}
	tests := []struct {
		name string
		edit func(*Config)
		deps Deps
	}{
		{"zero rate", func(c *Config) { c.RateLimit = 0 }, deps},
		{"zero burst", func(c *Config) { c.RateBurst = 0 }, deps},
		{"zero timeout", func(c *Config) { c.UpstreamTimeout = 0 }, deps},
		{"long poll too long", func(c *Config) { c.RevocationPoll = time.Minute }, deps},
		{"no resolver", func(*Config) {}, Deps{Log: noLog()}},
		{"no logger", func(*Config) {}, Deps{Resolver: discovery.Static{}}},
		{"no signer", func(*Config) {}, Deps{Resolver: discovery.Static{}, Log: noLog()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			if _, err := New(cfg, tt.deps); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
	if _, err := New(DefaultConfig(), deps); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// waitFor polls cond until it holds, failing t after a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
