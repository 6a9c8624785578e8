package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
)

func TestSignUpRefusesInputThatIsNotStrict(t *testing.T) {
	valid := `{"email": "bob@example.com", "password": "long enough", "display_name": "Bob"}`
	bodies := append([]string{
		`{"email": "bob@example.com", "password": "long enough", "Display_Name": "Bob"}`,
		`{"email": "bob@example.com", "password": "long enough", "display_name": "Bob", "EMAIL": "eve@example.com"}`,
		`{"email": "eve@example.com", "email": "bob@example.com", "password": "long enough", "display_name": "Bob"}`,
		"{\"email\": \"bob@example.com\", \"password\": \"long enough\", \"display_name\": \"B\xf0\x9fob\"}",
		`{"email": "bob@example.com", "password": "long enough", "display_name": "B\udfffob"}`,
	}, inputtest.Hostile(valid)...)
	for _, body := range bodies {
		t.Run(body, func(t *testing.T) {
			e := newEnv(t)
			rec := e.serve(request{method: "POST", path: "/api/v1/accounts", body: body})
			wantStatus(t, rec, http.StatusBadRequest)
			inputtest.CheckResponse(t, rec)
			if n := e.count("accounts"); n != 0 {
				t.Errorf("%d accounts created", n)
			}
			if msgs := e.outbox(); len(msgs) != 0 {
				t.Errorf("%d messages queued", len(msgs))
			}
		})
	}
}

func TestTokenRefusesInputThatIsNotStrict(t *testing.T) {
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	for _, body := range append([]string{
		// encoding/json used to match PASSWORD to password, and keep the last one.
		`{"email": "` + adaEmail + `", "password": "wrong password", "PASSWORD": "` + adaPassword + `"}`,
		`{"EMAIL": "` + adaEmail + `", "password": "` + adaPassword + `"}`,
		`{"email": "` + adaEmail + `", "password": "wrong password", "password": "` + adaPassword + `"}`,
		"{\"email\": \"" + adaEmail + "\", \"password\": \"" + adaPassword + "\xff\"}",
	}, inputtest.Hostile(`{"email": "`+adaEmail+`", "password": "`+adaPassword+`"}`)...) {
		rec := e.serve(request{method: "POST", path: "/api/v1/auth/token", body: body, clientIP: "192.0.2.7"})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400: %s", body, rec.Code, rec.Body)
			continue
		}
		inputtest.CheckResponse(t, rec)
	}
	e.login(adaEmail, adaPassword) // and the refusals were not failed logins that lock it
}

func TestRefreshAndLogoutRefuseInputThatIsNotStrict(t *testing.T) {
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	for _, path := range []string{"/api/v1/auth/refresh", "/api/v1/auth/logout"} {
		for _, body := range append([]string{
			`{"refresh_token": "x", "Refresh_Token": "` + s.RefreshToken + `"}`,
			`{"refresh_token": "x", "refresh_token": "` + s.RefreshToken + `"}`,
			`{"REFRESH_TOKEN": "` + s.RefreshToken + `"}`,
		}, inputtest.Hostile(`{"refresh_token": "`+s.RefreshToken+`"}`)...) {
			rec := e.serve(request{method: "POST", path: path, body: body, caller: &s.caller})
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %q: status %d, want 400: %s", path, body, rec.Code, rec.Body)
				continue
			}
			inputtest.CheckResponse(t, rec)
		}
	}
	// Nothing was revoked or rotated: the refresh token still works, once.
	wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusOK)
}

func TestAccountChangesRefuseInputThatIsNotStrict(t *testing.T) {
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	token := e.welcomeToken(adaEmail)
	patch := `{"display_name": "Eve", "email": "eve@example.com", "password": "a new password", "current_password": "` + adaPassword + `"}`
	requests := []struct{ method, path, valid string }{
		{"PATCH", "/api/v1/accounts/me", patch},
		{"DELETE", "/api/v1/accounts/me", `{"current_password": "` + adaPassword + `"}`},
		{"POST", "/api/v1/accounts/confirm-email", `{"token": "` + token + `"}`},
	}
	for _, r := range requests {
		for _, body := range append([]string{
			strings.Replace(r.valid, `{`, `{"Current_Password": "x", `, 1),
			strings.Replace(r.valid, `{`, `{"TOKEN": "x", `, 1),
			strings.Replace(r.valid, `{`, `{"email_verified": true, `, 1),
		}, inputtest.Hostile(r.valid)...) {
			rec := e.serve(request{method: r.method, path: r.path, body: body, caller: &s.caller})
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %s %q: status %d, want 400: %s", r.method, r.path, body, rec.Code, rec.Body)
				continue
			}
			inputtest.CheckResponse(t, rec)
		}
	}
	// Nothing changed: the account is there, unconfirmed, with its name, address and password.
	got := e.me(&s.caller)
	if got.DisplayName != "Ada" || got.Email != adaEmail || got.EmailVerified {
		t.Errorf("account after refusals: %+v", got)
	}
	if n := len(e.outbox()); n != 2 {
		t.Errorf("%d messages queued, want the 2 of the sign-up", n)
	}
	wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusOK)
	wantStatus(t, e.confirmRec(token), http.StatusNoContent)
}

func TestAuthRefusesMalformedQueries(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		authtoken.RevocationsPath + "?after=%zz", authtoken.RevocationsPath + "?after=1;wait=2",
		"/.well-known/jwks.json?v=%", "/api/v1/accounts/me?x=%g1",
	} {
		rec := e.serve(request{method: "GET", path: path, caller: &caller{AccountID: "a", SessionID: "s"}})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400: %s", path, rec.Code, rec.Body)
			continue
		}
		inputtest.CheckResponse(t, rec)
		if !strings.Contains(rec.Body.String(), "query string") {
			t.Errorf("GET %s: %s does not say what is wrong", path, rec.Body)
		}
	}
}
