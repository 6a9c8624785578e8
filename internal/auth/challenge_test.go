package auth_test

import (
	"net/http"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// TestEvery401CarriesAChallenge: each way the service answers 401 carries WWW-Authenticate
// with the API's bearer challenge (RFC 9110 §15.5.2), a failed log-in and refresh included.
func TestEvery401CarriesAChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s, other := e.login(adaEmail, adaPassword), e.login(adaEmail, adaPassword)
	rotated := decode[struct {
		RefreshToken string `json:"refresh_token"`
	}](t, e.refreshRec(s.RefreshToken))
	gone := caller{AccountID: "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", Email: "gone@example.com", SessionID: "s"}
	for _, tt := range []struct {
		name string
		do   func() *http.Response
	}{
		{"log-in with a wrong password", func() *http.Response { return e.loginRec(adaEmail, "wrong password", "192.0.2.7").Result() }},
		{"log-in of an unknown address", func() *http.Response {
			return e.loginRec("nobody@example.com", adaPassword, "192.0.2.8").Result()
		}},
		{"refresh with an unknown token", func() *http.Response { return e.refreshRec("not-a-refresh-token").Result() }},
		{"refresh with a used token", func() *http.Response { return e.refreshRec(s.RefreshToken).Result() }},
		{"refresh of a revoked login", func() *http.Response { return e.refreshRec(rotated.RefreshToken).Result() }},
		{"account deletion with a wrong password", func() *http.Response { return e.deleteMe(&other.caller, "wrong password").Result() }},
		{"account change with a wrong password", func() *http.Response {
			return e.serve(request{method: "PATCH", path: "/api/v1/accounts/me", caller: &other.caller,
				body: `{"email":"new@example.com","current_password":"wrong password"}`}).Result()
		}},
		{"a call that names no caller", func() *http.Response {
			return e.serve(request{method: "GET", path: "/api/v1/accounts/me"}).Result()
		}},
		{"a caller whose account is gone", func() *http.Response {
			return e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: &gone}).Result()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.do()
			if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
				len(got) != 1 || got[0] != problem.Challenge {
				t.Errorf("%d WWW-Authenticate %q, want 401 %q", resp.StatusCode, got, problem.Challenge)
			}
		})
	}
}
