package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcauth/svcauthtest"
)

const (
	adaEmail    = "Ada@Example.com"
	adaPassword = "correct horse battery"
)

func TestSignUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp("taken@example.com", "long enough", "Taken")
	accounts := 1

	fe := func(field, msg string) problem.FieldError { return problem.FieldError{Field: field, Message: msg} }
	body := func(email, password, name string) string {
		return jsonBody(t, map[string]string{"email": email, "password": password, "display_name": name})
	}
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int
		wantErrors  []problem.FieldError
		wantAccount *auth.AccountJSON // ID is not compared
	}{
		{
			name: "valid sign-up is 201 with the trimmed account", body: body("  New@Example.com ", "s3cret-pass", "  New Person "),
			wantStatus: 201, wantAccount: &auth.AccountJSON{Email: "New@Example.com", DisplayName: "New Person", CreatedAt: testBase},
		},
		{
			name: "password of 8 multi-byte characters is accepted", body: body("runes@example.com", "пароль12", "Rune"),
			wantStatus: 201, wantAccount: &auth.AccountJSON{Email: "runes@example.com", DisplayName: "Rune", CreatedAt: testBase},
		},
		{
			name: "128-character password and 80-character name are accepted", body: body("long@example.com", strings.Repeat("p", 128), strings.Repeat("é", 80)),
			wantStatus: 201, wantAccount: &auth.AccountJSON{Email: "long@example.com", DisplayName: strings.Repeat("é", 80), CreatedAt: testBase},
		},
		{name: "email taken in another case is 409", body: body("TAKEN@example.COM", "long enough", "Other"), wantStatus: 409},
		{name: "email taken exactly is 409", body: body("taken@example.com", "long enough", "Other"), wantStatus: 409},
		{
			name: "empty body object names every field", body: `{}`, wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "is required"), fe("password", "is required"), fe("display_name", "is required")},
		},
		{
			name: "email with a display name is 422", body: body("Bob <bob@example.com>", "long enough", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must be a plain email address such as name@example.com")},
		},
		{
			name: "email in angle brackets is 422", body: body("<bob@example.com>", "long enough", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must be a plain email address such as name@example.com")},
		},
		{
			name: "email without @ is 422", body: body("bob.example.com", "long enough", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must be a plain email address such as name@example.com")},
		},
		{
			name: "email of 255 bytes is 422", body: body(strings.Repeat("a", 64)+"@"+strings.Repeat("b", 186)+".com", "long enough", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must be at most 254 bytes")},
		},
		{
			name: "email with a control character is 422", body: body("bo\u0007b@example.com", "long enough", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must not contain control characters")},
		},
		{
			name: "password of 7 characters is 422 even when 13 bytes", body: body("bob@example.com", "пароль1", "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("password", "must be at least 8 characters")},
		},
		{
			name: "password of 129 characters is 422", body: body("bob@example.com", strings.Repeat("p", 129), "Bob"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("password", "must be at most 128 characters")},
		},
		{
			name: "blank display name is 422", body: body("bob@example.com", "long enough", "   "), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("display_name", "is required")},
		},
		{
			name: "display name of 81 characters is 422", body: body("bob@example.com", "long enough", strings.Repeat("n", 81)), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("display_name", "must be at most 80 characters")},
		},
		{
			name: "display name with a line break is 422", body: body("bob@example.com", "long enough", "Bob\nSmith"), wantStatus: 422,
			wantErrors: []problem.FieldError{fe("display_name", "must not contain control characters")},
		},
		{
			name: "several invalid fields give one error each", body: body("nope", "short", ""), wantStatus: 422,
			wantErrors: []problem.FieldError{
				fe("email", "must be a plain email address such as name@example.com"),
				fe("password", "must be at least 8 characters"), fe("display_name", "is required"),
			},
		},
		{
			name: "a number for the email is 422", body: `{"email": 5, "password": "long enough", "display_name": "Bob"}`, wantStatus: 422,
			wantErrors: []problem.FieldError{fe("email", "must be a string")},
		},
		{name: "unknown field is 400", body: `{"email": "bob@example.com", "password": "long enough", "display_name": "Bob", "admin": true}`, wantStatus: 400},
		{name: "malformed JSON is 400", body: `{"email": `, wantStatus: 400},
		{name: "a body that is not JSON is 415", body: body("bob@example.com", "long enough", "Bob"), contentType: "text/plain", wantStatus: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.serve(request{method: "POST", path: "/api/v1/accounts", body: tt.body, contentType: tt.contentType})
			wantStatus(t, rec, tt.wantStatus)
			if tt.wantStatus != http.StatusCreated {
				if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
				}
				p := decode[problemBody](t, rec)
				if diff := cmp.Diff(tt.wantErrors, p.Errors, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("field errors (-want +got):\n%s", diff)
				}
				return
			}
			accounts++
			if loc := rec.Header().Get("Location"); loc != "/api/v1/accounts/me" {
				t.Errorf("Location %q, want /api/v1/accounts/me", loc)
			}
			got := decode[auth.AccountJSON](t, rec)
			if got.ID == "" {
				t.Error("account has no ID")
			}
			if diff := cmp.Diff(*tt.wantAccount, got, cmpopts.IgnoreFields(auth.AccountJSON{}, "ID")); diff != "" {
				t.Errorf("account (-want +got):\n%s", diff)
			}
			var raw map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &raw)
			if len(raw) != 5 || raw["email_verified"] != false {
				t.Errorf("account JSON has fields %v, want exactly id, email, display_name, email_verified (false), created_at", raw)
			}
		})
	}
	if n := e.count("accounts"); n != accounts {
		t.Errorf("%d accounts stored, want %d: rejected sign-ups must store nothing", n, accounts)
	}
}

func TestSignUpQueuesWelcomeEmailWithTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada Lovelace")
	msgs := e.outbox()
	if len(msgs) != 2 || msgs[0].Type != messages.TypeEmailSend || msgs[1].Type != messages.TypeAccountChanged {
		t.Fatalf("outbox = %+v, want one %s and one %s", msgs, messages.TypeEmailSend, messages.TypeAccountChanged)
	}
	var got messages.EmailSend
	if err := msgs[0].Decode(&got); err != nil {
		t.Fatal(err)
	}
	expires := testBase.Add(48 * time.Hour)
	want := messages.EmailSend{
		IdempotencyKey: "welcome:" + a.ID, Kind: messages.EmailWelcome, To: adaEmail, Name: "Ada Lovelace",
		Token: got.Token, ExpiresAt: &expires,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("welcome message (-want +got):\n%s", diff)
	}
	if len(got.Token) < 40 {
		t.Errorf("welcome token %q, want a confirmation token of 32 random bytes", got.Token)
	}
	var changed messages.AccountChanged
	if err := msgs[1].Decode(&changed); err != nil {
		t.Fatal(err)
	}
	wantChanged := messages.AccountChanged{AccountID: a.ID, Email: adaEmail, DisplayName: "Ada Lovelace", Version: 1}
	if diff := cmp.Diff(wantChanged, changed); diff != "" {
		t.Errorf("account.changed (-want +got):\n%s", diff)
	}
	if n := e.notify.n.Load(); n != 1 {
		t.Errorf("outbox relay notified %d times, want 1", n)
	}
	if n := e.count("email_confirmations"); n != 1 {
		t.Errorf("%d confirmation links stored, want 1", n)
	}
	// Only the token's hash is stored.
	var stored int
	if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM email_confirmations WHERE hash = ?`, got.Token).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the token is stored as it is (%d rows, %v)", stored, err)
	}
	// A refused sign-up queues nothing.
	rec := e.serve(request{method: "POST", path: "/api/v1/accounts", body: jsonBody(t, map[string]string{
		"email": strings.ToUpper(adaEmail), "password": adaPassword, "display_name": "Again",
	})})
	wantStatus(t, rec, http.StatusConflict)
	if n := len(e.outbox()); n != 2 {
		t.Errorf("outbox holds %d messages after a 409, want 2", n)
	}
	if n := e.count("email_confirmations"); n != 1 {
		t.Errorf("%d confirmation links stored after a 409, want 1", n)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	tests := []struct {
		name       string
		email      string
		password   string
		wantStatus int
	}{
		{"right password is 200", adaEmail, adaPassword, 200},
		{"email in another case and padded is 200", "  ada@EXAMPLE.com ", adaPassword, 200},
		{"wrong password is 401", adaEmail, "wrong password", 401},
		{"unknown email is 401", "nobody@example.com", adaPassword, 401},
		{"password in another case is 401", adaEmail, strings.ToUpper(adaPassword), 401},
		{"missing password is 422", adaEmail, "", 422},
		{"missing email is 422", "", adaPassword, 422},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.loginRec(tt.email, tt.password, fmt.Sprintf("198.51.100.%d", i))
			wantStatus(t, rec, tt.wantStatus)
			if tt.wantStatus != http.StatusOK {
				return
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			p := decode[auth.TokenPair](t, rec)
			if p.TokenType != "Bearer" || p.ExpiresIn != 900 || p.RefreshToken == "" || p.AccessToken == "" {
				t.Errorf("token pair %+v, want Bearer, 900 s and both tokens", p)
			}
			c := e.verify(p.AccessToken)
			if c.Subject != a.ID || c.Email != adaEmail || c.SessionID == "" || c.ID == "" {
				t.Errorf("claims sub=%q email=%q sid=%q jti=%q; want the account's", c.Subject, c.Email, c.SessionID, c.ID)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 15*time.Minute {
				t.Errorf("token lives %v, want 15m", got)
			}
		})
	}
}

func TestLoginAnswersUnknownEmailAndWrongPasswordAlike(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	wrong := e.loginRec(adaEmail, "wrong password", "192.0.2.10")
	unknown := e.loginRec("nobody@example.com", "wrong password", "192.0.2.11")
	wantStatus(t, wrong, http.StatusUnauthorized)
	wantStatus(t, unknown, http.StatusUnauthorized)
	if diff := cmp.Diff(wrong.Body.String(), unknown.Body.String()); diff != "" {
		t.Errorf("bodies differ (-wrong password +unknown email):\n%s", diff)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Retry-After", "WWW-Authenticate"} {
		if wrong.Header().Get(h) != unknown.Header().Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, wrong.Header().Get(h), unknown.Header().Get(h))
		}
	}
}

// TestStrangersFailuresDoNotLockTheOwnerOut: five failures for an account from one address
// refuse that address for that account only; the owner logs in from another.
func TestStrangersFailuresDoNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	const stranger, owner = "203.0.113.66", "198.51.100.7"

	t.Run("a stranger's five failures refuse the stranger, even with the right password", func(t *testing.T) {
		for range 5 {
			wantStatus(t, e.loginRec(adaEmail, "wrong password", stranger), http.StatusUnauthorized)
		}
		e.clock.Advance(5 * time.Minute)
		rec := e.loginRec(strings.ToUpper(adaEmail), adaPassword, stranger)
		wantStatus(t, rec, http.StatusTooManyRequests)
		if ra := rec.Header().Get("Retry-After"); ra != "600" {
			t.Errorf("Retry-After %q, want 600 (the window frees 15 minutes after the first failure)", ra)
		}
		if p := decode[problemBody](t, rec); p.Status != 429 || !strings.Contains(p.Detail, "from your address") {
			t.Errorf("problem %+v, want a 429 that says the address is refused", p)
		}
	})
	t.Run("the owner logs in from another address", func(t *testing.T) {
		wantStatus(t, e.loginRec(adaEmail, adaPassword, owner), http.StatusOK)
	})
	t.Run("the stranger's address may try another account", func(t *testing.T) {
		e.signUp("grace@example.com", "another good password", "Grace")
		wantStatus(t, e.loginRec("grace@example.com", "another good password", stranger), http.StatusOK)
	})
	t.Run("once the window frees, the stranger's address may try again", func(t *testing.T) {
		e.clock.Advance(10 * time.Minute)
		wantStatus(t, e.loginRec(adaEmail, adaPassword, stranger), http.StatusOK)
	})
	t.Run("a success forgets that address's failures", func(t *testing.T) {
		for range 4 {
			wantStatus(t, e.loginRec(adaEmail, "wrong password", owner), http.StatusUnauthorized)
		}
		wantStatus(t, e.loginRec(adaEmail, adaPassword, owner), http.StatusOK)
		for range 4 {
			wantStatus(t, e.loginRec(adaEmail, "wrong password", owner), http.StatusUnauthorized)
		}
		wantStatus(t, e.loginRec(adaEmail, adaPassword, owner), http.StatusOK)
	})
	t.Run("unknown emails are throttled the same way", func(t *testing.T) {
		for range 5 {
			wantStatus(t, e.loginRec("ghost@example.com", "wrong password", stranger), http.StatusUnauthorized)
		}
		rec := e.loginRec("Ghost@example.com", "wrong password", stranger)
		wantStatus(t, rec, http.StatusTooManyRequests)
		if rec.Header().Get("Retry-After") != "900" {
			t.Errorf("Retry-After %q, want 900", rec.Header().Get("Retry-After"))
		}
	})
	m := e.metrics()
	for _, line := range []string{`auth_logins_total{outcome="throttled"} 2`, `auth_logins_total{outcome="failure"} 18`, `auth_logins_total{outcome="success"} 5`} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// TestAccountWideLimitLocksEveryoneAndMailsTheOwner: failures for one account from many
// addresses reach the account-wide limit: every address is refused, the owner gets one
// email with a link, and the link unlocks the account with a new password.
func TestAccountWideLimitLocksEveryoneAndMailsTheOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *auth.Config) { c.AccountAddressFailureLimit, c.AccountFailureLimit = 2, 6 })
	e.signUp(adaEmail, adaPassword, "Ada")
	before := e.login(adaEmail, adaPassword)
	ip := func(i int) string { return fmt.Sprintf("203.0.113.%d", i) }
	for i := range 3 {
		for range 2 {
			wantStatus(t, e.loginRec(adaEmail, "wrong password", ip(i)), http.StatusUnauthorized)
		}
	}
	rec := e.loginRec(adaEmail, adaPassword, "198.51.100.7") // the owner, from a fresh address
	wantStatus(t, rec, http.StatusTooManyRequests)
	if p := decode[problemBody](t, rec); !strings.Contains(p.Detail, "locked for everyone") {
		t.Errorf("detail %q does not say the account is locked", p.Detail)
	}
	// An unknown email is answered alike: nothing tells whether the account exists.
	for i := range 3 {
		for range 2 {
			e.loginRec("ghost@example.com", "wrong password", ip(10+i))
		}
	}
	ghost := e.loginRec("ghost@example.com", "wrong password", "198.51.100.8")
	wantStatus(t, ghost, http.StatusTooManyRequests)
	if a, b := decode[problemBody](t, rec).Detail, decode[problemBody](t, ghost).Detail; a != b {
		t.Errorf("locked account and unknown email answer differently: %q vs %q", a, b)
	}

	var unlock []messages.EmailSend
	for _, m := range e.outbox() {
		var p messages.EmailSend
		if m.Type == messages.TypeEmailSend && json.Unmarshal(m.Payload, &p) == nil && p.Kind == messages.EmailAccountLocked {
			unlock = append(unlock, p)
		}
	}
	if len(unlock) != 1 {
		t.Fatalf("%d account_locked emails queued, want 1 (to the owner only)", len(unlock))
	}
	if u := unlock[0]; u.To != adaEmail || u.Token == "" || u.ExpiresAt == nil || !u.ExpiresAt.Equal(testBase.Add(time.Hour)) ||
		strings.Contains(u.IdempotencyKey, u.Token) {
		t.Errorf("unlock email %+v: want to Ada, a token, valid 1 h, a key that does not hold the token", u)
	}

	// The link unlocks: a new password logs in from anywhere, the old logins are revoked.
	wantStatus(t, e.resetRec(unlock[0].Token, "a brand new password"), http.StatusNoContent)
	wantStatus(t, e.loginRec(adaEmail, "a brand new password", "198.51.100.7"), http.StatusOK)
	wantStatus(t, e.loginRec(adaEmail, "a brand new password", ip(0)), http.StatusOK)
	wantStatus(t, e.refreshRec(before.RefreshToken), http.StatusUnauthorized)
	revoked := false
	for _, r := range e.feed(0).Revocations {
		revoked = revoked || r.SessionID == before.caller.SessionID
	}
	if !revoked {
		t.Errorf("the login from before the reset (%s) is not revoked", before.caller.SessionID)
	}
}

// TestPasswordReset: a reset link is sent only to an existing account, answered alike
// either way, works once within its hour, and revokes every login.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s1, s2 := e.login(adaEmail, adaPassword), e.login(adaEmail, adaPassword)
	resets := func() []messages.EmailSend {
		var out []messages.EmailSend
		for _, m := range e.outbox() {
			var p messages.EmailSend
			if json.Unmarshal(m.Payload, &p) == nil && p.Kind == messages.EmailPasswordReset {
				out = append(out, p)
			}
		}
		return out
	}
	known := e.serve(request{method: "POST", path: "/api/v1/auth/password-reset", body: `{"email":"ADA@example.com"}`})
	unknown := e.serve(request{method: "POST", path: "/api/v1/auth/password-reset", body: `{"email":"nobody@example.com"}`})
	wantStatus(t, known, http.StatusAccepted)
	wantStatus(t, unknown, http.StatusAccepted)
	if known.Body.String() != unknown.Body.String() {
		t.Errorf("answers differ: %s vs %s", known.Body, unknown.Body)
	}
	if got := resets(); len(got) != 1 || got[0].To != adaEmail {
		t.Fatalf("reset emails %+v, want one to Ada", got)
	}
	wantStatus(t, e.serve(request{method: "POST", path: "/api/v1/auth/password-reset", body: `{"email":"not an address"}`}), http.StatusUnprocessableEntity)

	t.Run("at most three emails per window", func(t *testing.T) {
		for range 4 {
			wantStatus(t, e.serve(request{method: "POST", path: "/api/v1/auth/password-reset", body: `{"email":"` + adaEmail + `"}`}), http.StatusAccepted)
		}
		if n := len(resets()); n != 3 {
			t.Errorf("%d reset emails after 5 requests, want 3", n)
		}
	})
	links := resets()
	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, body := range []string{
			`{"token":"` + links[0].Token + `","password":"short"}`,
			`{"token":"not-a-link","password":"a long enough password"}`,
			`{"token":"","password":"a long enough password"}`,
		} {
			wantStatus(t, e.serve(request{method: "POST", path: "/api/v1/auth/password-reset/confirm", body: body}), http.StatusUnprocessableEntity)
		}
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.1"), http.StatusOK)
	})
	t.Run("an expired link does not work", func(t *testing.T) {
		e.clock.Advance(61 * time.Minute)
		wantStatus(t, e.resetRec(links[0].Token, "a long enough password"), http.StatusUnprocessableEntity)
		e.clock.Advance(-61 * time.Minute)
	})
	t.Run("a link works once, and every other link of the account stops", func(t *testing.T) {
		wantStatus(t, e.resetRec(links[1].Token, "the new password"), http.StatusNoContent)
		wantStatus(t, e.resetRec(links[1].Token, "yet another password"), http.StatusUnprocessableEntity)
		wantStatus(t, e.resetRec(links[2].Token, "yet another password"), http.StatusUnprocessableEntity)
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.2"), http.StatusUnauthorized)
		wantStatus(t, e.loginRec(adaEmail, "the new password", "192.0.2.3"), http.StatusOK)
	})
	t.Run("every login from before is revoked", func(t *testing.T) {
		for _, s := range []session{s1, s2} {
			wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusUnauthorized)
		}
	})
}
func TestLoginThrottlesFailuresPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *auth.Config) { c.AddressFailureLimit = 3 })
	e.signUp(adaEmail, adaPassword, "Ada")
	const attacker = "203.0.113.66"
	for i := range 3 {
		wantStatus(t, e.loginRec(fmt.Sprintf("guess%d@example.com", i), "password1", attacker), http.StatusUnauthorized)
	}
	e.clock.Advance(time.Minute)
	rec := e.loginRec(adaEmail, adaPassword, attacker)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if ra := rec.Header().Get("Retry-After"); ra != "840" {
		t.Errorf("Retry-After %q, want 840", ra)
	}
	wantStatus(t, e.loginRec(adaEmail, adaPassword, "203.0.113.67"), http.StatusOK)
	// The other address's success does not clear the attacker's count.
	wantStatus(t, e.loginRec(adaEmail, adaPassword, attacker), http.StatusTooManyRequests)
	e.clock.Advance(14 * time.Minute)
	wantStatus(t, e.loginRec(adaEmail, adaPassword, attacker), http.StatusOK)
}

func TestDefaultAddressLimitIsTwenty(t *testing.T) {
	t.Parallel()
	got := auth.DefaultConfig()
	if got.AddressFailureLimit != 20 || got.AccountAddressFailureLimit != 5 || got.AccountFailureLimit != 100 || got.FailureWindow != 15*time.Minute {
		t.Errorf("defaults: address %d, account from one address %d, account %d, window %v; want 20, 5, 100, 15m",
			got.AddressFailureLimit, got.AccountAddressFailureLimit, got.AccountFailureLimit, got.FailureWindow)
	}
}

func TestRefreshRotatesAndReuseRevokesTheLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	first := e.login(adaEmail, adaPassword)

	rec := e.refreshRec(first.RefreshToken)
	wantStatus(t, rec, http.StatusOK)
	second := e.session(decode[auth.TokenPair](t, rec))
	if second.RefreshToken == first.RefreshToken || second.caller != first.caller {
		t.Fatalf("rotation: refresh token changed %v, identity %+v → %+v; want a new token of the same login",
			second.RefreshToken != first.RefreshToken, first.caller, second.caller)
	}
	e.clock.Advance(time.Minute)
	rec = e.refreshRec(second.RefreshToken)
	wantStatus(t, rec, http.StatusOK)
	third := e.session(decode[auth.TokenPair](t, rec))
	before := e.feed(0).LastSeq

	// The first token again: reuse.
	rec = e.refreshRec(first.RefreshToken)
	wantStatus(t, rec, http.StatusUnauthorized)
	seq, err := strconv.ParseInt(rec.Header().Get(httpx.HeaderRevocation), 10, 64)
	if err != nil || seq <= before {
		t.Fatalf("revocation header %q, want a seq above %d", rec.Header().Get(httpx.HeaderRevocation), before)
	}
	want := []authtoken.Revocation{{Seq: seq, SessionID: first.caller.SessionID, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}}
	if diff := cmp.Diff(want, e.feed(before).Revocations); diff != "" {
		t.Errorf("revocations (-want +got):\n%s", diff)
	}
	// Every token of that login is dead, the newest included.
	for _, tok := range []string{third.RefreshToken, second.RefreshToken, first.RefreshToken} {
		rec := e.refreshRec(tok)
		wantStatus(t, rec, http.StatusUnauthorized)
	}
	if !strings.Contains(e.metrics(), "auth_refresh_reuse_detected_total 1") {
		t.Error("reuse metric: want 1 (later presentations find the login's tokens gone)")
	}
	// Another login of the same account is untouched.
	other := e.login(adaEmail, adaPassword)
	wantStatus(t, e.refreshRec(other.RefreshToken), http.StatusOK)
}

func TestRefreshRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	tests := []struct {
		name       string
		body       string
		advance    time.Duration
		wantStatus int
	}{
		{"unknown token is 401", `{"refresh_token": "bm90IGEgdG9rZW4"}`, 0, 401},
		{"empty token is 422", `{"refresh_token": ""}`, 0, 422},
		{"missing token is 422", `{}`, 0, 422},
		{"unknown field is 400", `{"refresh_token": "x", "grant": "y"}`, 0, 400},
		{"expired token is 401", jsonBody(t, map[string]string{"refresh_token": s.RefreshToken}), 30*24*time.Hour + time.Second, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(tt.advance)
			rec := e.serve(request{method: "POST", path: "/api/v1/auth/refresh", body: tt.body})
			wantStatus(t, rec, tt.wantStatus)
			if h := rec.Header().Get(httpx.HeaderRevocation); h != "" {
				t.Errorf("revocation header %q on a refusal that revoked nothing", h)
			}
		})
	}
	if n := e.feed(0).LastSeq; n != 0 {
		t.Errorf("last seq %d, want 0: refusals revoke nothing", n)
	}
}

func TestConcurrentRefreshOfOneTokenHasOneWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	const n = 8
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			recs[i] = e.refreshRec(s.RefreshToken)
		})
	}
	close(start)
	wg.Wait()
	var wins []auth.TokenPair
	for _, rec := range recs {
		switch rec.Code {
		case http.StatusOK:
			wins = append(wins, decode[auth.TokenPair](t, rec))
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	if len(wins) != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", len(wins))
	}
	// The losers presented a token that was already used: that is reuse, so the login is
	// revoked and the winner's new refresh token stops working too.
	wantStatus(t, e.refreshRec(wins[0].RefreshToken), http.StatusUnauthorized)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	e.signUp("bob@example.com", "bobs password", "Bob")
	logout := func(c *caller, token string) *httptest.ResponseRecorder {
		return e.serve(request{method: "POST", path: "/api/v1/auth/logout", caller: c,
			body: jsonBody(t, map[string]string{"refresh_token": token})})
	}
	revocationSeq := func(t *testing.T, rec *httptest.ResponseRecorder) int64 {
		t.Helper()
		seq, err := strconv.ParseInt(rec.Header().Get(httpx.HeaderRevocation), 10, 64)
		if err != nil {
			t.Fatalf("revocation header %q: %v", rec.Header().Get(httpx.HeaderRevocation), err)
		}
		return seq
	}

	t.Run("own refresh token revokes that login", func(t *testing.T) {
		s := e.login(adaEmail, adaPassword)
		rec := logout(&s.caller, s.RefreshToken)
		wantStatus(t, rec, http.StatusNoContent)
		seq := revocationSeq(t, rec)
		wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusUnauthorized)
		got := e.feed(seq - 1).Revocations
		want := []authtoken.Revocation{{Seq: seq, SessionID: s.caller.SessionID, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("revocations (-want +got):\n%s", diff)
		}
	})
	t.Run("own token of another login revokes that login only", func(t *testing.T) {
		here, there := e.login(adaEmail, adaPassword), e.login(adaEmail, adaPassword)
		rec := logout(&here.caller, there.RefreshToken)
		wantStatus(t, rec, http.StatusNoContent)
		if got := e.feed(revocationSeq(t, rec) - 1).Revocations; len(got) != 1 || got[0].SessionID != there.caller.SessionID {
			t.Errorf("revocations %+v, want the other login's", got)
		}
		wantStatus(t, e.refreshRec(there.RefreshToken), http.StatusUnauthorized)
		wantStatus(t, e.refreshRec(here.RefreshToken), http.StatusOK)
	})
	t.Run("a used token of the caller's login still names it", func(t *testing.T) {
		s := e.login(adaEmail, adaPassword)
		rec := e.refreshRec(s.RefreshToken)
		wantStatus(t, rec, http.StatusOK)
		next := decode[auth.TokenPair](t, rec)
		wantStatus(t, logout(&s.caller, s.RefreshToken), http.StatusNoContent)
		wantStatus(t, e.refreshRec(next.RefreshToken), http.StatusUnauthorized)
	})
	t.Run("another account's token is 403 and changes nothing", func(t *testing.T) {
		ada, bob := e.login(adaEmail, adaPassword), e.login("bob@example.com", "bobs password")
		last := e.feed(0).LastSeq
		rec := logout(&ada.caller, bob.RefreshToken)
		wantStatus(t, rec, http.StatusForbidden)
		if h := rec.Header().Get(httpx.HeaderRevocation); h != "" {
			t.Errorf("revocation header %q on a 403", h)
		}
		if got := e.feed(0).LastSeq; got != last {
			t.Errorf("last seq %d after a 403, want %d", got, last)
		}
		wantStatus(t, e.refreshRec(bob.RefreshToken), http.StatusOK)
		wantStatus(t, e.refreshRec(ada.RefreshToken), http.StatusOK)
	})
	t.Run("an unknown token revokes the caller's current login", func(t *testing.T) {
		s := e.login(adaEmail, adaPassword)
		rec := logout(&s.caller, "no-such-token")
		wantStatus(t, rec, http.StatusNoContent)
		seq := revocationSeq(t, rec)
		if got := e.feed(seq - 1).Revocations; len(got) != 1 || got[0].SessionID != s.caller.SessionID {
			t.Errorf("revocations %+v, want the caller's login", got)
		}
		wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusUnauthorized)
	})
	t.Run("refusals", func(t *testing.T) {
		s := e.login(adaEmail, adaPassword)
		last := e.feed(0).LastSeq
		tests := []struct {
			name       string
			caller     *caller
			body       string
			wantStatus int
		}{
			{"no caller is 401", nil, jsonBody(t, map[string]string{"refresh_token": s.RefreshToken}), 401},
			{"empty token is 422", &s.caller, `{"refresh_token": ""}`, 422},
			{"missing token is 422", &s.caller, `{}`, 422},
			{"unknown field is 400", &s.caller, `{"refresh_token": "x", "all": true}`, 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := e.serve(request{method: "POST", path: "/api/v1/auth/logout", caller: tt.caller, body: tt.body})
				wantStatus(t, rec, tt.wantStatus)
			})
		}
		if got := e.feed(0).LastSeq; got != last {
			t.Errorf("last seq %d after refusals, want %d", got, last)
		}
		wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusOK)
	})
}

func TestAccountsMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	tests := []struct {
		name       string
		caller     *caller
		wantStatus int
	}{
		{"the caller's account", &s.caller, 200},
		{"no caller is 401", nil, 401},
		{"an account that does not exist is 401", &caller{AccountID: "0190a000-0000-7000-8000-000000000000"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: tt.caller})
			wantStatus(t, rec, tt.wantStatus)
			if tt.wantStatus != 200 {
				return
			}
			want := fmt.Sprintf(`{"id":%q,"email":%q,"display_name":"Ada","email_verified":false,"created_at":"2031-01-06T09:00:00Z"}`, a.ID, adaEmail)
			if diff := cmp.Diff(want, strings.TrimSpace(rec.Body.String())); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	bob := e.signUp("bob@example.com", "bobs password", "Bob")
	s := e.login(adaEmail, adaPassword)
	other := e.login(adaEmail, adaPassword)
	bobSession := e.login("bob@example.com", "bobs password")
	e.clock.Advance(time.Minute)

	rec := e.deleteMe(&s.caller, adaPassword)
	wantStatus(t, rec, http.StatusNoContent)
	seq, err := strconv.ParseInt(rec.Header().Get(httpx.HeaderRevocation), 10, 64)
	if err != nil {
		t.Fatalf("revocation header %q", rec.Header().Get(httpx.HeaderRevocation))
	}
	now := e.clock.Now()

	t.Run("an account revocation is in the feed", func(t *testing.T) {
		want := authtoken.RevocationFeed{
			Revocations: []authtoken.Revocation{{Seq: seq, AccountID: a.ID, ExpiresAt: now.Add(15 * time.Minute)}},
			LastSeq:     seq,
		}
		if diff := cmp.Diff(want, e.feed(0)); diff != "" {
			t.Errorf("feed (-want +got):\n%s", diff)
		}
	})
	t.Run("account.deleted is in the outbox", func(t *testing.T) {
		msgs := e.outbox()
		last := msgs[len(msgs)-1]
		if last.Type != messages.TypeAccountDeleted {
			t.Fatalf("last outbox message %s, want %s", last.Type, messages.TypeAccountDeleted)
		}
		var got messages.AccountDeleted
		if err := last.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(messages.AccountDeleted{AccountID: a.ID, DeletedAt: now}, got); diff != "" {
			t.Errorf("payload (-want +got):\n%s", diff)
		}
	})
	t.Run("the account is gone", func(t *testing.T) {
		wantStatus(t, e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: &s.caller}), http.StatusUnauthorized)
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.50"), http.StatusUnauthorized)
		wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusUnauthorized)
		wantStatus(t, e.refreshRec(other.RefreshToken), http.StatusUnauthorized)
		wantStatus(t, e.deleteMe(&s.caller, adaPassword), http.StatusUnauthorized)
	})
	t.Run("other accounts are untouched", func(t *testing.T) {
		rec := e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: &bobSession.caller})
		wantStatus(t, rec, http.StatusOK)
		if got := decode[auth.AccountJSON](t, rec); got.ID != bob.ID {
			t.Errorf("bob's account: %+v", got)
		}
		wantStatus(t, e.refreshRec(bobSession.RefreshToken), http.StatusOK)
	})
	t.Run("the email can sign up again", func(t *testing.T) {
		again := e.signUp(strings.ToLower(adaEmail), "a new password", "Ada again")
		if again.ID == a.ID {
			t.Error("the new account reuses the old ID")
		}
		wantStatus(t, e.loginRec(adaEmail, "a new password", "192.0.2.51"), http.StatusOK)
	})
	t.Run("no caller is 401", func(t *testing.T) {
		wantStatus(t, e.deleteMe(nil, adaPassword), http.StatusUnauthorized)
	})
}

func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	e := newEnvOn(t, store)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	set := e.jwks()
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k.KeyType != "OKP" || k.Curve != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" || k.KeyID == "" || k.X == "" {
		t.Errorf("key %+v, want an OKP Ed25519 EdDSA signing key with a kid", k)
	}
	if _, err := verifyWith(set, s.AccessToken, e.clock.Now); err != nil {
		t.Errorf("token does not verify: %v", err)
	}
	t.Run("a tampered token does not verify", func(t *testing.T) {
		parts := strings.Split(s.AccessToken, ".")
		claims := strings.Replace(parts[1], parts[1][:4], "eyJz", 1)
		if _, err := verifyWith(set, parts[0]+"."+claims+"x."+parts[2], e.clock.Now); err == nil {
			t.Error("a tampered token verified")
		}
	})
	t.Run("an expired token does not verify", func(t *testing.T) {
		later := func() time.Time { return e.clock.Now().Add(16 * time.Minute) }
		if _, err := verifyWith(set, s.AccessToken, later); err == nil {
			t.Error("an expired token verified")
		}
	})
	t.Run("a restarted service keeps its key", func(t *testing.T) {
		restarted := newEnvOn(t, store)
		if diff := cmp.Diff(set, restarted.jwks()); diff != "" {
			t.Errorf("JWK set after restart (-before +after):\n%s", diff)
		}
		s2 := restarted.login(adaEmail, adaPassword)
		if _, err := verifyWith(set, s2.AccessToken, e.clock.Now); err != nil {
			t.Errorf("the restarted service's token does not verify with the old JWK set: %v", err)
		}
	})
}

func TestRevocationFeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	get := func(query string) *httptest.ResponseRecorder {
		return e.serve(request{method: "GET", path: authtoken.RevocationsPath + query})
	}
	t.Run("empty feed lists an empty array", func(t *testing.T) {
		rec := get("")
		wantStatus(t, rec, http.StatusOK)
		if got := strings.TrimSpace(rec.Body.String()); got != `{"revocations":[],"last_seq":0}` {
			t.Errorf("body %s", got)
		}
	})
	t.Run("bad parameters are 422", func(t *testing.T) {
		for _, q := range []string{"?after=-1", "?after=x", "?wait=soon", "?wait=-2"} {
			rec := get(q)
			wantStatus(t, rec, http.StatusUnprocessableEntity)
		}
	})
	s1 := e.login(adaEmail, adaPassword)
	s2 := e.login(adaEmail, adaPassword)
	revoke := func(s session) int64 {
		rec := e.serve(request{method: "POST", path: "/api/v1/auth/logout", caller: &s.caller,
			body: jsonBody(t, map[string]string{"refresh_token": s.RefreshToken})})
		wantStatus(t, rec, http.StatusNoContent)
		seq, _ := strconv.ParseInt(rec.Header().Get(httpx.HeaderRevocation), 10, 64)
		return seq
	}
	first := revoke(s1)
	e.clock.Advance(5 * time.Minute)
	second := revoke(s2)
	t.Run("lists revocations after the cursor", func(t *testing.T) {
		tests := []struct {
			after int64
			want  []string
		}{{0, []string{s1.caller.SessionID, s2.caller.SessionID}}, {first, []string{s2.caller.SessionID}}, {second, nil}}
		for _, tt := range tests {
			f := e.feed(tt.after)
			var got []string
			for _, r := range f.Revocations {
				got = append(got, r.SessionID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || f.LastSeq != second {
				t.Errorf("after %d: last seq %d (want %d), sessions (-want +got):\n%s", tt.after, f.LastSeq, second, diff)
			}
		}
	})
	t.Run("expired revocations are left out", func(t *testing.T) {
		e.clock.Advance(11 * time.Minute) // the first expired a minute ago, the second has 4 left
		f := e.feed(0)
		if len(f.Revocations) != 1 || f.Revocations[0].Seq != second || f.LastSeq != second {
			t.Errorf("feed %+v, want only seq %d", f, second)
		}
	})
	t.Run("wait with nothing new answers empty after the wait", func(t *testing.T) {
		rec := get(fmt.Sprintf("?after=%d&wait=1", second))
		wantStatus(t, rec, http.StatusOK)
		if f := decode[authtoken.RevocationFeed](t, rec); len(f.Revocations) != 0 || f.LastSeq != second {
			t.Errorf("feed %+v, want empty with last seq %d", f, second)
		}
	})
	t.Run("a waiting request returns as soon as a revocation is written", func(t *testing.T) {
		s3 := e.login(adaEmail, adaPassword)
		got := make(chan *httptest.ResponseRecorder, 1)
		go func() { got <- get(fmt.Sprintf("?after=%d&wait=30", second)) }()
		third := revoke(s3)
		select {
		case rec := <-got:
			wantStatus(t, rec, http.StatusOK)
			f := decode[authtoken.RevocationFeed](t, rec)
			if len(f.Revocations) != 1 || f.Revocations[0].Seq != third {
				t.Errorf("feed %+v, want seq %d", f, third)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting request did not return within 10s of the revocation (it waits up to 30s)")
		}
	})
}

func TestRevocationFeedSeesOtherReplicas(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	a, b := newEnvOn(t, store), newEnvOn(t, store)
	a.signUp(adaEmail, adaPassword, "Ada")
	s := b.login(adaEmail, adaPassword)
	got := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		got <- a.serve(request{method: "GET", path: authtoken.RevocationsPath + "?after=0&wait=30"})
	}()
	rec := b.serve(request{method: "POST", path: "/api/v1/auth/logout", caller: &s.caller,
		body: jsonBody(t, map[string]string{"refresh_token": s.RefreshToken})})
	wantStatus(t, rec, http.StatusNoContent)
	select {
	case rec := <-got:
		if f := decode[authtoken.RevocationFeed](t, rec); len(f.Revocations) != 1 || f.Revocations[0].SessionID != s.caller.SessionID {
			t.Errorf("feed %+v, want the other replica's revocation", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a revocation written by another replica did not reach a waiting request within 10s")
	}
}

func TestStoppingReleasesWaitingFeedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stop := runService(t, e.svc)
	got := make(chan int, 1)
	go func() {
		got <- e.serve(request{method: "GET", path: authtoken.RevocationsPath + "?wait=30"}).Code
	}()
	stop()
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Errorf("status %d, want 200", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting request outlived the service's Run by 10s")
	}
}

func TestShutdownReleasesWaitingFeedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // its Run is not started: the server's shutdown alone must end the wait
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	srv := httpx.NewServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		e.h.ServeHTTP(w, r)
	}), logging.Discard())
	t.Cleanup(func() { _ = srv.Close() })
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- httpx.Serve(ctx, srv, ln, 2*time.Second) }()
	req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+authtoken.RevocationsPath+"?wait=30", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.keys.Sign(req, "gateway", "auth", svcauth.Claims{})
	got := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("feed request: %v", err)
			got <- 0
			return
		}
		defer resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	stop()
	if err := <-served; err != nil {
		t.Errorf("shutdown with a waiting feed request = %v, want nil", err)
	}
	if code := <-got; code != http.StatusOK {
		t.Errorf("waiting feed request answered %d, want 200", code)
	}
}

func TestRunPrunesExpiredState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	wantStatus(t, e.loginRec(adaEmail, "wrong password", "192.0.2.9"), http.StatusUnauthorized)
	wantStatus(t, e.serve(request{method: "POST", path: "/api/v1/auth/logout", caller: &s.caller,
		body: jsonBody(t, map[string]string{"refresh_token": "unknown"})}), http.StatusNoContent)
	e.login(adaEmail, adaPassword)
	e.clock.Advance(31 * 24 * time.Hour)
	_ = e.login(adaEmail, adaPassword) // live: one refresh token, and one revocation (the newest) kept
	if e.count("login_failures") == 0 || e.count("refresh_tokens") != 2 {
		t.Fatalf("setup: %d failures, %d tokens", e.count("login_failures"), e.count("refresh_tokens"))
	}
	runService(t, e.svc)
	deadline := time.Now().Add(10 * time.Second)
	for e.count("login_failures") != 0 || e.count("refresh_tokens") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after Run: %d failures, %d tokens; want 0 and 1", e.count("login_failures"), e.count("refresh_tokens"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.count("revocations"); n != 1 {
		t.Errorf("%d revocations kept, want 1 (the newest keeps the sequence)", n)
	}
}

func TestRehashesWeakPasswordHashOnLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A hash made with the minimum parameters, by a service configured more strongly later.
	e.signUp(adaEmail, adaPassword, "Ada")
	strong := newEnvOn(t, e.store, func(c *auth.Config) { c.Password.Time = 3 })
	wantStatus(t, strong.loginRec(adaEmail, adaPassword, "192.0.2.7"), http.StatusOK)
	a, err := e.store.AccountByEmail(context.Background(), strings.ToLower(adaEmail))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=19456,t=3,p=1$") {
		t.Errorf("hash after login %q, want it rehashed with t=3", a.PasswordHash)
	}
	wantStatus(t, strong.loginRec(adaEmail, adaPassword, "192.0.2.7"), http.StatusOK)
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	tests := []struct {
		name      string
		configure func(*auth.Config)
		wantErr   bool
	}{
		{"defaults", func(*auth.Config) {}, false},
		{"zero config takes the defaults", func(c *auth.Config) { *c = auth.Config{} }, false},
		{"memory below the OWASP minimum", func(c *auth.Config) { c.Password.Memory = 8192 }, true},
		{"one pass", func(c *auth.Config) { c.Password.Time = 1 }, true},
		{"short salt", func(c *auth.Config) { c.Password.SaltLen = 8 }, true},
		{"access tokens longer than 15 minutes", func(c *auth.Config) { c.AccessTokenTTL = 16 * time.Minute }, true},
		{"shorter access tokens", func(c *auth.Config) { c.AccessTokenTTL = 5 * time.Minute }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := auth.DefaultConfig()
			tt.configure(&cfg)
			_, err := auth.New(cfg, auth.Deps{Store: store, Verifier: svcauthtest.New().Verifier("auth", "gateway")})
			if (err != nil) != tt.wantErr {
				t.Errorf("New: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{"GET", "/api/v1/nothing-here", 404},
		{"GET", "/", 404},
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/metrics", 200},
		{"GET", "/.well-known/jwks.json", 200},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := e.serve(request{method: tt.method, path: tt.path})
			wantStatus(t, rec, tt.wantStatus)
			if tt.wantStatus == 404 && rec.Header().Get("Content-Type") != problem.ContentType {
				t.Errorf("Content-Type %q, want problem+json", rec.Header().Get("Content-Type"))
			}
			if rec.Header().Get(httpx.HeaderRequestID) == "" {
				t.Error("no request ID")
			}
		})
	}
}

func TestMetricsCountTokensIssued(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusOK)
	m := e.metrics()
	for _, line := range []string{
		`auth_tokens_issued_total{grant="password"} 1`, `auth_tokens_issued_total{grant="refresh"} 1`,
		`auth_logins_total{outcome="success"} 1`, `auth_refresh_reuse_detected_total 0`,
	} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// FuzzTokenEndpoints sends arbitrary bodies to the endpoints that take a refresh token: no
// input yields a 5xx.
func FuzzTokenEndpoints(f *testing.F) {
	for _, s := range []string{`{"refresh_token":"x"}`, `{}`, `[]`, `null`, `{"refresh_token":5}`, "\x00", `{"refresh_token":"` + strings.Repeat("a", 100) + `"}`} {
		f.Add(s)
	}
	shared := newEnv(f) // one service for every input: starting one costs a password hash
	f.Fuzz(func(t *testing.T, body string) {
		e := *shared
		e.t = t
		for _, path := range []string{"/api/v1/auth/refresh", "/api/v1/auth/logout"} {
			rec := e.serve(request{method: "POST", path: path, body: body, caller: &caller{AccountID: "fuzz", SessionID: "fuzz"}})
			if rec.Code >= 500 {
				t.Fatalf("%s with %q: %d %s", path, body, rec.Code, indent(rec.Body.Bytes()))
			}
		}
	})
}
