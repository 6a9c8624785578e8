package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
)

// tokenPlaceholder in a fuzzed body stands for a refresh token issued just before the
// request: a fuzz worker cannot know one in advance.
const tokenPlaceholder = "$TOKEN"

// bodySeeds returns seeds for a body whose valid form is valid: valid itself, its hostile
// variants, and the generic cases of the input layer.
func bodySeeds(valid string, extra ...string) []string {
	seeds := append([]string{valid, `{}`, `[]`, `null`, `{`, "\x00", `{"x":` + inputtest.List(100000, `"x"`) + `}`,
		`{"x": "` + inputtest.Year10000 + `"}`}, extra...)
	return append(seeds, inputtest.Hostile(valid)...)
}

// FuzzSignUp posts arbitrary bodies to POST /api/v1/accounts: the answer is never a 5xx; a
// 201 comes only for a strict body (one object, exact names, none twice, UTF-8) and shows,
// then reads back, the account it asked for; any other answer creates nothing.
func FuzzSignUp(f *testing.F) {
	for _, s := range bodySeeds(`{"email": "bob@example.com", "password": "long enough", "display_name": "Bob"}`,
		`{"email": " Bob@Example.com ", "password": "long enough", "display_name": " Bob "}`,
		`{"email": "bob@example.com", "password": "long enough", "display_name": "Bob", "DISPLAY_NAME": "Eve"}`,
		"{\"email\": \"bob@example.com\", \"password\": \"long enough\", \"display_name\": \"\xc3\"}",
	) {
		f.Add(s)
	}
	shared := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		before := e.count("accounts")
		rec := e.serve(request{method: "POST", path: "/api/v1/accounts", body: body})
		inputtest.CheckResponse(t, rec)
		if rec.Code != http.StatusCreated {
			if n := e.count("accounts"); n != before {
				t.Fatalf("status %d for %q, yet %d accounts instead of %d", rec.Code, body, n, before)
			}
			return
		}
		in, ok := inputtest.StrictObject([]byte(body), "email", "password", "display_name")
		if !ok {
			t.Fatalf("201 for a body that is not strict: %q", body)
		}
		a := decode[auth.AccountJSON](t, rec)
		email, _ := in["email"].(string)
		name, _ := in["display_name"].(string)
		if a.Email != strings.TrimSpace(email) || a.DisplayName != strings.TrimSpace(name) {
			t.Fatalf("account %+v for %q", a, body)
		}
		me := e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: &caller{AccountID: a.ID, Email: a.Email, SessionID: "s"}})
		if me.Code != http.StatusOK || strings.TrimSpace(me.Body.String()) != strings.TrimSpace(rec.Body.String()) {
			t.Fatalf("read back %d %s, want %s", me.Code, me.Body, rec.Body)
		}
	})
}

// FuzzToken posts arbitrary bodies to POST /api/v1/auth/token for an account that exists:
// the answer is never a 5xx, and it is 200 exactly when the body is strict and holds the
// account's email and password.
func FuzzToken(f *testing.F) {
	valid := `{"email": "` + adaEmail + `", "password": "` + adaPassword + `"}`
	for _, s := range bodySeeds(valid,
		`{"email": "`+adaEmail+`", "password": "wrong password", "PASSWORD": "`+adaPassword+`"}`,
		`{"email": "`+adaEmail+`", "password": "wrong password", "password": "`+adaPassword+`"}`,
		`{"email": "  `+strings.ToUpper(adaEmail)+`", "password": "`+adaPassword+`"}`,
		`{"email": "`+adaEmail+`", "password": "`+adaPassword+`\u0000"}`,
	) {
		f.Add(s)
	}
	shared := newEnv(f)
	shared.signUp(adaEmail, adaPassword, "Ada")
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		// Each attempt from its own address, after the failure window of the last: the
		// throttle, which has its own tests, stays out of the way.
		e.clock.Advance(time.Hour)
		i := n.Add(1)
		rec := e.serve(request{method: "POST", path: "/api/v1/auth/token", body: body,
			clientIP: fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff)})
		inputtest.CheckResponse(t, rec)
		in, strict := inputtest.StrictObject([]byte(body), "email", "password")
		email, _ := in["email"].(string)
		exact := strict && email == adaEmail && in["password"] == adaPassword
		// Lower-cased as emailKey does: strings.EqualFold folds more (ſ matches s), which the
		// service does not.
		same := strict && strings.ToLower(strings.TrimSpace(email)) == strings.ToLower(adaEmail) && in["password"] == adaPassword //nolint:staticcheck // SA6005: see above
		switch {
		case rec.Code == http.StatusOK && !same:
			t.Fatalf("200 for %q", body)
		case rec.Code != http.StatusOK && exact:
			t.Fatalf("status %d for the right credentials in %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// fuzzTokenBody replaces tokenPlaceholder in body by a refresh token of a new login of
// Ada's, which it returns.
func fuzzTokenBody(e *env, body string) (string, session, bool) {
	if !strings.Contains(body, tokenPlaceholder) {
		return body, session{}, false
	}
	s := e.login(adaEmail, adaPassword)
	return strings.ReplaceAll(body, tokenPlaceholder, s.RefreshToken), s, true
}

// FuzzRefresh posts arbitrary bodies to POST /api/v1/auth/refresh, where $TOKEN stands for a
// live refresh token: the answer is never a 5xx; it is 200 exactly when the body is strict
// and holds that token; and any other answer leaves the token working.
func FuzzRefresh(f *testing.F) {
	fuzzRefreshBody(f, "/api/v1/auth/refresh", http.StatusOK, false)
}

// FuzzLogout is FuzzRefresh for POST /api/v1/auth/logout, which answers 204, and also to a
// strict body with a token it does not know: it then ends the caller's own login.
func FuzzLogout(f *testing.F) {
	fuzzRefreshBody(f, "/api/v1/auth/logout", http.StatusNoContent, true)
}

// fuzzRefreshBody fuzzes the body {refresh_token} of path, which answers success to a
// strict body with the live token, and to a strict body with any token when anyToken.
func fuzzRefreshBody(f *testing.F, path string, success int, anyToken bool) {
	valid := `{"refresh_token": "` + tokenPlaceholder + `"}`
	for _, s := range bodySeeds(valid,
		`{"refresh_token": "x", "Refresh_Token": "`+tokenPlaceholder+`"}`,
		`{"refresh_token": "x", "refresh_token": "`+tokenPlaceholder+`"}`,
		`{"refresh_token": "`+tokenPlaceholder+`", "all": true}`,
		`{"refresh_token": 5}`, `{"refresh_token": "`+strings.Repeat("a", 100)+`"}`,
	) {
		f.Add(s)
	}
	shared := newEnv(f)
	shared.signUp(adaEmail, adaPassword, "Ada")
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		body, s, live := fuzzTokenBody(&e, body)
		c := s.caller
		if !live {
			c = caller{AccountID: "fuzz", SessionID: "fuzz"}
		}
		rec := e.serve(request{method: "POST", path: path, body: body, caller: &c})
		inputtest.CheckResponse(t, rec)
		in, strict := inputtest.StrictObject([]byte(body), "refresh_token")
		exact := live && strict && in["refresh_token"] == s.RefreshToken
		token, _ := in["refresh_token"].(string)
		allowed := exact || anyToken && strict && token != ""
		switch {
		case rec.Code == success && !allowed:
			t.Fatalf("%d for %q", rec.Code, body)
		case rec.Code != success && exact:
			t.Fatalf("status %d for the live token in %q: %s", rec.Code, body, rec.Body)
		case rec.Code != success && live:
			if again := e.refreshRec(s.RefreshToken); again.Code != http.StatusOK {
				t.Fatalf("status %d for %q, and the token no longer works: %d %s", rec.Code, body, again.Code, again.Body)
			}
		}
	})
}

// FuzzChangeAccount sends arbitrary bodies to PATCH /api/v1/accounts/me: the answer is never
// a 5xx; a 200 comes only for a strict body; any other answer changes nothing.
func FuzzChangeAccount(f *testing.F) {
	for _, s := range bodySeeds(`{"display_name": "Ada L"}`,
		`{"display_name": "Ada L", "current_password": "`+adaPassword+`"}`,
		`{"display_name": "Ada L", "Display_Name": "Eve"}`,
		`{"display_name": null, "email": null}`,
		`{"email": "eve@example.com"}`,
		`{"password": "a new password", "current_password": "wrong password"}`,
		`{"display_name": "\u0000"}`,
	) {
		f.Add(s)
	}
	shared := newEnv(f)
	a := shared.signUp(adaEmail, adaPassword, "Ada")
	c := &caller{AccountID: a.ID, Email: a.Email, SessionID: "s"}
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		old, err := e.store.AccountByID(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec := e.serve(request{method: "PATCH", path: "/api/v1/accounts/me", body: body, caller: c, clientIP: "192.0.2.99"})
		inputtest.CheckResponse(t, rec)
		if rec.Code == http.StatusOK {
			if _, ok := inputtest.StrictObject([]byte(body), "display_name", "email", "password", "current_password"); !ok {
				t.Fatalf("200 for a body that is not strict: %q", body)
			}
			return
		}
		now, err := e.store.AccountByID(t.Context(), a.ID)
		if err != nil || now != old {
			t.Fatalf("status %d for %q, yet the account changed from %+v to %+v (%v)", rec.Code, body, old, now, err)
		}
	})
}

// FuzzConfirmEmail posts arbitrary bodies to POST /api/v1/accounts/confirm-email: the
// answer is never a 5xx, and nothing is confirmed without the link's token.
func FuzzConfirmEmail(f *testing.F) {
	for _, s := range bodySeeds(`{"token": "bm90IGEgdG9rZW4"}`, `{"token": ""}`, `{"token": 5}`, `{"TOKEN": "x"}`) {
		f.Add(s)
	}
	shared := newEnv(f)
	a := shared.signUp(adaEmail, adaPassword, "Ada")
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		rec := e.serve(request{method: "POST", path: "/api/v1/accounts/confirm-email", body: body})
		inputtest.CheckResponse(t, rec)
		if rec.Code == http.StatusNoContent {
			t.Fatalf("204 for %q, which does not hold the token", body)
		}
		if got, err := e.store.AccountByID(t.Context(), a.ID); err != nil || got.EmailVerified {
			t.Fatalf("account after %q: %+v, %v", body, got, err)
		}
	})
}
