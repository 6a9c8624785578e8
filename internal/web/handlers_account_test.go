package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/web"
)

// session is the cookie of a logged-in browser of the fake API's account.
func session() *http.Cookie { return &http.Cookie{Name: "ep_access", Value: "a1"} }

// wantFlash checks that resp sets the flash code want.
func wantFlash(t *testing.T, resp *http.Response, want string) {
	t.Helper()
	if c := setCookies(resp)["ep_flash"]; c == nil || c.Value != want {
		t.Errorf("flash cookie %+v, want %q", c, want)
	}
}

// wantSessionKept checks that resp neither deletes nor replaces the session cookies.
func wantSessionKept(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, name := range []string{"ep_access", "ep_refresh"} {
		if c := setCookies(resp)[name]; c != nil {
			t.Errorf("the response sets the session cookie %s: %+v", name, c)
		}
	}
}

func TestConfirmEmailPageConfirmsOnlyOnPost(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/confirm-email?token="+fakeConfirmToken, nil))
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if n := api.count("POST /api/v1/accounts/confirm-email"); n != 0 {
		t.Errorf("opening the link confirmed the address (%d calls); only the button may", n)
	}
	for _, want := range []string{
		`<form method="post" action="/confirm-email"`,
		`<input type="hidden" name="token" value="` + fakeConfirmToken + `">`,
		`>Confirm my address</button>`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

func TestConfirmEmail(t *testing.T) {
	tests := []struct {
		name         string
		token        string
		loggedIn     bool
		wantStatus   int
		wantLocation string
		wantText     []string
		wantCalls    int
	}{
		{name: "logged in", token: fakeConfirmToken, loggedIn: true, wantStatus: http.StatusSeeOther, wantLocation: "/account", wantCalls: 1},
		{name: "logged out", token: fakeConfirmToken, wantStatus: http.StatusSeeOther, wantLocation: "/login?next=%2Faccount", wantCalls: 1},
		{
			name: "a dead link, logged in", token: "used-token-0123456789", loggedIn: true, wantStatus: http.StatusUnprocessableEntity, wantCalls: 1,
			wantText: []string{"does not work any more", `action="/account/confirmation-email"`, "Send a new link"},
		},
		{
			name: "a dead link, logged out", token: "used-token-0123456789", wantStatus: http.StatusUnprocessableEntity, wantCalls: 1,
			wantText: []string{"does not work any more", `href="/login?next=%2Faccount"`},
		},
		{name: "no token", wantStatus: http.StatusUnprocessableEntity, wantText: []string{"does not work any more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			var cookies []*http.Cookie
			if tt.loggedIn {
				cookies = append(cookies, session())
			}
			resp := serve(h, request("POST", "/confirm-email", url.Values{"token": {tt.token}}, cookies...))
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Location") != tt.wantLocation {
				t.Fatalf("status %d, Location %q; want %d, %q", resp.StatusCode, resp.Header.Get("Location"), tt.wantStatus, tt.wantLocation)
			}
			if n := api.count("POST /api/v1/accounts/confirm-email"); n != tt.wantCalls {
				t.Errorf("%d confirmations asked of the API, want %d", n, tt.wantCalls)
			}
			if tt.wantLocation != "" {
				wantFlash(t, resp, "email-confirmed")
				if diff := cmp.Diff([]map[string]any{{"token": tt.token}}, api.bodies["POST /api/v1/accounts/confirm-email"]); diff != "" {
					t.Errorf("sent (-want +got):\n%s", diff)
				}
			}
			b := body(t, resp)
			for _, want := range tt.wantText {
				if !strings.Contains(b, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
		})
	}
}

func TestAccountPageSaysWhetherTheAddressIsConfirmed(t *testing.T) {
	const notice = "Your address is not confirmed; reminders to it are not sent"
	for _, verified := range []bool{false, true} {
		api := newFakeAPI()
		api.verified = verified
		h := newUI(t, web.Config{}, api)
		resp := serve(h, request("GET", "/account", nil, session()))
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		hasNotice := strings.Contains(b, notice) && strings.Contains(b, `action="/account/confirmation-email"`)
		if hasNotice == verified {
			t.Errorf("email_verified %v: the page shows the notice and its button: %v", verified, hasNotice)
		}
		if got := strings.Contains(b, ">Confirmed</span>"); got != verified {
			t.Errorf("email_verified %v: the page says Confirmed: %v", verified, got)
		}
		for _, want := range []string{`action="/account/name"`, `action="/account/email"`, `action="/account/password"`, `value="Ada &lt;Lovelace&gt;"`} {
			if !strings.Contains(b, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
	}
}

func TestResendConfirmation(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)

	resp := serve(h, request("POST", "/account/confirmation-email", url.Values{}, session()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("first: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	wantFlash(t, resp, "confirmation-sent")

	resp = serve(h, request("POST", "/account/confirmation-email", url.Values{}, session()))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "42" {
		t.Fatalf("second: status %d, Retry-After %q; want 429, 42", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if b := body(t, resp); !strings.Contains(b, "less than a minute ago") || !strings.Contains(b, "ask again in 42 seconds") ||
		!strings.Contains(b, `class="error-summary"`) {
		t.Errorf("the page does not explain the wait: %s", b)
	}

	api.verified = true
	resp = serve(h, request("POST", "/account/confirmation-email", url.Values{}, session()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed: status %d", resp.StatusCode)
	}
	wantFlash(t, resp, "already-confirmed")
	if n := api.count("POST /api/v1/accounts/me/confirmation-email"); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

func TestAccountSettings(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus int
		wantFlash  string
		wantSent   map[string]any // nil: nothing sent
		wantError  string         // the id of the error shown
		wantText   string
	}{
		{
			name: "name", path: "/account/name", form: url.Values{"display_name": {" Ada King "}},
			wantStatus: http.StatusSeeOther, wantFlash: "name-changed", wantSent: map[string]any{"display_name": "Ada King"},
		},
		{
			name: "an empty name", path: "/account/name", form: url.Values{"display_name": {""}},
			wantStatus: http.StatusUnprocessableEntity, wantSent: map[string]any{"display_name": ""},
			wantError: "f-display_name-error", wantText: "Name must not be empty",
		},
		{
			name: "email", path: "/account/email", form: url.Values{"email": {"ada@new.example"}, "email_current_password": {"right"}},
			wantStatus: http.StatusSeeOther, wantFlash: "email-change-pending",
			wantSent: map[string]any{"email": "ada@new.example", "current_password": "right"},
		},
		{
			name: "email with a wrong password", path: "/account/email", form: url.Values{"email": {"ada@new.example"}, "email_current_password": {"wrong-secret"}},
			wantStatus: http.StatusUnauthorized, wantSent: map[string]any{"email": "ada@new.example", "current_password": "wrong-secret"},
			wantError: "f-email_current_password-error", wantText: "The password is not right",
		},
		{
			name: "email without the password", path: "/account/email", form: url.Values{"email": {"ada@new.example"}},
			wantStatus: http.StatusUnprocessableEntity, wantError: "f-email_current_password-error", wantText: "Enter your current password",
		},
		{
			name: "an address another account has", path: "/account/email", form: url.Values{"email": {"taken@example.com"}, "email_current_password": {"right"}},
			wantStatus: http.StatusConflict, wantSent: map[string]any{"email": "taken@example.com", "current_password": "right"},
			wantError: "f-email-error", wantText: "Another account has this email address",
		},
		{
			name: "password", path: "/account/password", form: url.Values{"current_password": {"right"}, "new_password": {"new secret 1234"}},
			wantStatus: http.StatusSeeOther, wantFlash: "password-changed",
			wantSent: map[string]any{"password": "new secret 1234", "current_password": "right"},
		},
		{
			name: "password with a wrong current one", path: "/account/password", form: url.Values{"current_password": {"wrong-secret"}, "new_password": {"new secret 1234"}},
			wantStatus: http.StatusUnauthorized, wantSent: map[string]any{"password": "new secret 1234", "current_password": "wrong-secret"},
			wantError: "f-current_password-error", wantText: "The password is not right",
		},
		{
			name: "a short password", path: "/account/password", form: url.Values{"current_password": {"right"}, "new_password": {"short"}},
			wantStatus: http.StatusUnprocessableEntity, wantSent: map[string]any{"password": "short", "current_password": "right"},
			wantError: "f-new_password-error", wantText: "New password must be 8 to 128 characters",
		},
		{
			name: "no new password", path: "/account/password", form: url.Values{"current_password": {"right"}},
			wantStatus: http.StatusUnprocessableEntity, wantError: "f-new_password-error", wantText: "Choose a new password",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", tt.path, cloneForm(tt.form), session(), &http.Cookie{Name: "ep_refresh", Value: "r1"}))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			sent := api.bodies["PATCH /api/v1/accounts/me"]
			switch {
			case tt.wantSent == nil && len(sent) != 0:
				t.Errorf("sent %v, want nothing", sent)
			case tt.wantSent != nil:
				if diff := cmp.Diff([]map[string]any{tt.wantSent}, sent); diff != "" {
					t.Errorf("sent (-want +got):\n%s", diff)
				}
			}
			// A wrong password is not taken for an ended session: no refresh, no logout.
			wantSessionKept(t, resp)
			if n := api.count("POST /api/v1/auth/refresh"); n != 0 {
				t.Errorf("%d refreshes, want none", n)
			}
			if tt.wantFlash != "" {
				wantFlash(t, resp, tt.wantFlash)
				if loc := resp.Header.Get("Location"); loc != "/account" {
					t.Errorf("Location %q, want /account", loc)
				}
				return
			}
			b := body(t, resp)
			if !strings.Contains(b, `id="`+tt.wantError+`"`) || !strings.Contains(b, tt.wantText) {
				t.Errorf("the page lacks the error %s saying %q", tt.wantError, tt.wantText)
			}
			if strings.Count(b, `class="error-summary"`) != 1 {
				t.Error("the page does not show exactly one error summary")
			}
			for _, secret := range []string{"wrong-secret", "new secret 1234", `value="right"`} {
				if strings.Contains(b, secret) {
					t.Errorf("the page shows a password typed: %s", secret)
				}
			}
		})
	}
}

func TestAccountSettingsLoggedOutGoToLogin(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	for _, path := range []string{"/account/name", "/account/email", "/account/password", "/account/confirmation-email", "/account/delete"} {
		resp := serve(h, request("POST", path, url.Values{"display_name": {"x"}, "email": {"x@example.com"},
			"email_current_password": {"right"}, "current_password": {"right"}, "new_password": {"long enough 123"}, "confirm": {"yes"}}))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("%s: status %d, Location %q; want 303 to the login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestDeleteAccountAsksForThePassword(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
		wantCalls  int
	}{
		{name: "not ticked", form: url.Values{"current_password": {"right"}}, wantStatus: http.StatusUnprocessableEntity, wantError: "f-confirm-error"},
		{name: "no password", form: url.Values{"confirm": {"yes"}}, wantStatus: http.StatusUnprocessableEntity, wantError: "f-current_password-error"},
		{
			name: "a wrong password", form: url.Values{"confirm": {"yes"}, "current_password": {"wrong-secret"}},
			wantStatus: http.StatusUnauthorized, wantError: "f-current_password-error", wantCalls: 1,
		},
		{name: "confirmed", form: url.Values{"confirm": {"yes"}, "current_password": {"right"}}, wantStatus: http.StatusSeeOther, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", "/account/delete", tt.form, session()))
			if resp.StatusCode != tt.wantStatus || api.count("DELETE /api/v1/accounts/me") != tt.wantCalls {
				t.Fatalf("status %d, %d deletions; want %d and %d", resp.StatusCode, api.count("DELETE /api/v1/accounts/me"), tt.wantStatus, tt.wantCalls)
			}
			if tt.wantCalls == 1 {
				if diff := cmp.Diff([]map[string]any{{"current_password": tt.form.Get("current_password")}}, api.bodies["DELETE /api/v1/accounts/me"]); diff != "" {
					t.Errorf("sent (-want +got):\n%s", diff)
				}
			}
			if tt.wantError == "" {
				if c := setCookies(resp)["ep_access"]; c == nil || c.MaxAge >= 0 {
					t.Errorf("the session cookie is not deleted: %+v", c)
				}
				wantFlash(t, resp, "account-deleted")
				return
			}
			wantSessionKept(t, resp)
			b := body(t, resp)
			if !strings.Contains(b, `id="`+tt.wantError+`"`) {
				t.Errorf("the page lacks the error %s", tt.wantError)
			}
			if strings.Contains(b, "wrong-secret") {
				t.Error("the page shows the password typed")
			}
			if tt.form.Get("confirm") == "yes" && !strings.Contains(b, `value="yes" required checked`) {
				t.Error("the ticked box is not kept")
			}
		})
	}
}

func TestConfirmEmailDeadLinkOfAConfirmedAccount(t *testing.T) {
	api := newFakeAPI()
	api.verified = true
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("POST", "/confirm-email", url.Values{"token": {"used-token-0123456789"}}, session()))
	b := body(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{"does not work any more", "is confirmed already", `action="/account/confirmation-email"`} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

func TestEventPageSaysRemindersWaitForTheConfirmation(t *testing.T) {
	for _, verified := range []bool{false, true} {
		api := newFakeAPI()
		api.verified = verified
		h := newUI(t, web.Config{}, api)
		b := body(t, serve(h, request("GET", "/events/ev-1", nil, session())))
		if got := strings.Contains(b, "Your address is not confirmed yet: reminders are sent only once it is."); got == verified {
			t.Errorf("email_verified %v: the event page says the address is not confirmed: %v", verified, got)
		}
	}
}

func TestAccountChangeWithAnExpiredAccessTokenRefreshesFirst(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	// Only the refresh cookie: the access cookie has expired.
	resp := serve(h, request("POST", "/account/password", url.Values{"current_password": {"right"}, "new_password": {"new secret 1234"}},
		&http.Cookie{Name: "ep_refresh", Value: "r1"}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	wantFlash(t, resp, "password-changed")
	if n := api.count("POST /api/v1/auth/refresh"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	if c := setCookies(resp)["ep_access"]; c == nil || c.Value != "a2" {
		t.Errorf("the refreshed access token is not kept: %+v", c)
	}
}

func TestAccountChangeWhenTheAPIIsDown(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		problem(w, http.StatusServiceUnavailable, "auth is unavailable", nil)
	})
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("POST", "/account/password", url.Values{"current_password": {"right"}, "new_password": {"new secret 1234"}}, session()))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body(t, resp), "Temporarily unavailable") {
		t.Errorf("status %d, want 503 and a page that says so", resp.StatusCode)
	}
}
