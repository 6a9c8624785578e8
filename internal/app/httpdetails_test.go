package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/api"
	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// documented401 returns the patterns ("POST /api/v1/auth/token") of the operations whose
// responses the OpenAPI document lists a 401 for.
func documented401(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for path, item := range d.Paths {
		for method, raw := range item {
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue // parameters, summary…
			}
			if _, ok := op.Responses["401"]; ok {
				out[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	return out
}

// concretePath fills the parameters of a route's path template.
func concretePath(template string) string {
	return strings.NewReplacer("{id}", "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "{token}", "AAAAAAAAAAAAAAAAAAAAAAAA").Replace(template)
}

// TestEvery401CarriesAChallenge walks every route of gateway.Routes() that can answer 401 (each
// that takes an access token, and each the OpenAPI document lists a 401 for) through the
// gateway of the all-in-one system, makes each answer 401 every way it can, and checks that
// every such answer carries WWW-Authenticate with a Bearer challenge (RFC 9110 §15.5.2,
// RFC 6750 §3): the gateway's own for missing and bad access tokens, and the services' for
// wrong credentials, refresh tokens and current passwords.
func TestEvery401CarriesAChallenge(t *testing.T) {
	c, _, _ := startSystem(t)
	_, refresh := c.signUpAndLogIn("walker@example.com", "Walker")
	used := c.must(200, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	access, _ := c.logIn("walker@example.com", "Walker") // a login of its own, which stays valid

	type attempt struct {
		name  string
		token string
		body  any
	}
	// By the service: the requests that a route answers 401 itself.
	byService := map[string][]attempt{
		"POST /api/v1/auth/token": {
			{name: "wrong password", body: map[string]any{"email": "walker@example.com", "password": "not the password"}},
			{name: "unknown address", body: map[string]any{"email": "nobody@example.com", "password": "correct horse Walker"}},
		},
		"POST /api/v1/auth/refresh": {
			{name: "unknown refresh token", body: map[string]any{"refresh_token": "not-a-refresh-token"}},
			{name: "used refresh token", body: map[string]any{"refresh_token": refresh}},
		},
		"DELETE /api/v1/accounts/me": {
			{name: "wrong current password", token: access, body: map[string]any{"current_password": "not the password"}},
		},
		"PATCH /api/v1/accounts/me": {
			{name: "wrong current password", token: access, body: map[string]any{"password": "a new password!", "current_password": "not the password"}},
		},
	}
	// By the gateway: a route that takes a token refuses a missing (when it requires one),
	// malformed, forged or revoked one.
	byGateway := []attempt{
		{name: "malformed token", token: "not-a-jwt"},
		{name: "forged token", token: "eyJhbGciOiJFZERTQSIsImtpZCI6Ingga2V5IiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"},
		{name: "token of a revoked login", token: used["access_token"].(string)},
	}
	// The used refresh token revoked the login its rotation made: its access token is refused.
	c.must(401, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})

	documented := documented401(t)
	walked := 0
	for _, rt := range gateway.Routes() {
		attempts := byService[rt.Pattern()]
		if rt.Auth != gateway.AuthNone {
			attempts = append(attempts, byGateway...)
		}
		if rt.Auth == gateway.AuthRequired {
			attempts = append(attempts, attempt{name: "no token"})
		}
		if len(attempts) == 0 {
			if documented[rt.Pattern()] {
				t.Errorf("%s: the document lists a 401, and this test knows no request that gets one", rt.Pattern())
			}
			continue
		}
		walked++
		for _, a := range attempts {
			t.Run(rt.Pattern()+"/"+a.name, func(t *testing.T) {
				r := c.do(rt.Method, concretePath(rt.Path), a.token, a.body)
				if r.Status != http.StatusUnauthorized {
					t.Fatalf("%d, want 401\n%s", r.Status, r.Body)
				}
				got := r.Header.Values("WWW-Authenticate")
				if len(got) != 1 || !strings.HasPrefix(got[0], "Bearer ") || !strings.Contains(got[0], `realm="eventpost"`) {
					t.Errorf("WWW-Authenticate %q, want one Bearer challenge of realm eventpost", got)
				}
				if ct := r.Header.Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type %q, want %s", ct, problem.ContentType)
				}
			})
		}
	}
	if walked == 0 {
		t.Fatal("no route of the table can answer 401")
	}
	// The token of the wrong-password attempts was valid throughout: their 401s were the
	// auth service's.
	c.must(200, "GET", "/api/v1/accounts/me", access, nil)
	for pattern := range documented {
		if _, ok := byService[pattern]; !ok && !routeTakesToken(pattern) {
			t.Errorf("%s: the document lists a 401 for an operation this test does not walk", pattern)
		}
	}
}

// routeTakesToken reports whether the route of pattern takes an access token.
func routeTakesToken(pattern string) bool {
	for _, rt := range gateway.Routes() {
		if rt.Pattern() == pattern {
			return rt.Auth != gateway.AuthNone
		}
	}
	return false
}

// TestAPIPathsWithDotSegmentsAnswerProblems sends paths with dot or empty segments to the
// gateway of the all-in-one system (with its web UI), as raw request lines and through
// net/http with the path in URL.Opaque: each is answered 404 problem+json, never a redirect
// with an HTML body, and the events they might reach are untouched.
func TestAPIPathsWithDotSegmentsAnswerProblems(t *testing.T) {
	c, _, sys := startSystem(t)
	token, _ := c.signUpAndLogIn("dots@example.com", "Dots")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{"title": "Dots", "starts_at": "2031-01-01T10:00:00Z"})
	id := ev["id"].(string)
	u, err := url.Parse(sys.URL)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{
		"/api/v1/events/../../etc/passwd",
		"/api/v1/events/%2e%2e/%2E%2E/etc/passwd",
		"/api/v1/events/" + id + "/..",
		"/api/v1/events/x/../" + id,
		"/api/v1//events/" + id,
		"/api/v1/./events/" + id,
		"//api/v1/events",
		"/web/../api/v1/events",
		"/.well-known/./jwks.json",
		"/api/v1/openapi.json/.",
	}
	for _, target := range targets {
		for _, method := range []string{"GET", "HEAD", "DELETE", "PATCH"} {
			resp, body := inputtest.RawRequest(t, u.Host, method, target)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != problem.ContentType || resp.Header.Get("Location") != "" {
				t.Errorf("raw %s %s: %d %s Location %q, want 404 problem+json\n%s", method, target,
					resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), body)
			}
		}
		if strings.HasPrefix(target, "//") {
			continue // URL.Opaque cannot start with "//"
		}
		req, err := http.NewRequest(http.MethodGet, sys.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = target
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != problem.ContentType {
			t.Errorf("net/http GET %s: %d %s, want 404 problem+json\n%s", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if got := c.must(200, "GET", "/api/v1/events/"+id, "", nil); got["title"] != "Dots" {
		t.Errorf("the event changed: %v", got)
	}
}
