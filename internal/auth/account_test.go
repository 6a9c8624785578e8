package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// emails returns the email.send messages of kind in the outbox, oldest first.
func (e *env) emails(kind messages.EmailKind) []messages.EmailSend {
	e.t.Helper()
	var out []messages.EmailSend
	for _, m := range e.outbox() {
		var p messages.EmailSend
		if m.Type == messages.TypeEmailSend && json.Unmarshal(m.Payload, &p) == nil && p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// changes returns the account.changed messages in the outbox, oldest first.
func (e *env) changes() []messages.AccountChanged {
	e.t.Helper()
	var out []messages.AccountChanged
	for _, m := range e.outbox() {
		var p messages.AccountChanged
		if m.Type == messages.TypeAccountChanged {
			if err := m.Decode(&p); err != nil {
				e.t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// welcomeToken returns the confirmation token of the welcome email sent to email.
func (e *env) welcomeToken(email string) string {
	e.t.Helper()
	for _, m := range e.emails(messages.EmailWelcome) {
		if m.To == email {
			return m.Token
		}
	}
	e.t.Fatalf("no welcome email to %s", email)
	return ""
}

func (e *env) confirmRec(token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "POST", path: "/api/v1/accounts/confirm-email",
		body: jsonBody(e.t, map[string]string{"token": token})})
}

func (e *env) resendRec(c *caller) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "POST", path: "/api/v1/accounts/me/confirmation-email", caller: c})
}

func (e *env) patchRec(c *caller, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(request{method: "PATCH", path: "/api/v1/accounts/me", caller: c, body: body, clientIP: "192.0.2.30"})
}

func (e *env) me(c *caller) auth.AccountJSON {
	e.t.Helper()
	rec := e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: c})
	wantStatus(e.t, rec, http.StatusOK)
	return decode[auth.AccountJSON](e.t, rec)
}

// wantFieldProblem checks that rec is a 422 problem naming exactly the given fields.
func wantFieldProblem(t *testing.T, rec *httptest.ResponseRecorder, fields ...string) {
	t.Helper()
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	var got []string
	for _, f := range decode[problemBody](t, rec).Errors {
		got = append(got, f.Field)
	}
	if diff := cmp.Diff(fields, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fields in error (-want +got):\n%s", diff)
	}
}

// wantProblem checks that rec is a problem+json response with status.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	wantStatus(t, rec, status)
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	return decode[problemBody](t, rec)
}

func TestConfirmEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	if a.EmailVerified {
		t.Fatal("a new account's address is confirmed")
	}
	s := e.login(adaEmail, adaPassword)
	token := e.welcomeToken(adaEmail)

	t.Run("bad tokens are 422 and change nothing", func(t *testing.T) {
		for _, body := range []string{
			`{"token": ""}`, `{}`, `{"token": "bm90IGEgdG9rZW4"}`, `{"token": "` + strings.Repeat("a", 129) + `"}`,
			`{"token": "` + token + `x"}`,
		} {
			rec := e.serve(request{method: "POST", path: "/api/v1/accounts/confirm-email", body: body})
			wantFieldProblem(t, rec, "token")
		}
		rec := e.serve(request{method: "POST", path: "/api/v1/accounts/confirm-email", body: `{"token": "x", "email": "y"}`})
		wantStatus(t, rec, http.StatusBadRequest)
		if e.me(&s.caller).EmailVerified || len(e.changes()) != 1 {
			t.Error("a refused confirmation changed the account")
		}
	})
	t.Run("the welcome link confirms the address", func(t *testing.T) {
		e.clock.Advance(47 * time.Hour)
		rec := e.confirmRec(token)
		wantStatus(t, rec, http.StatusNoContent)
		if got := e.me(&s.caller); !got.EmailVerified || got.Email != adaEmail {
			t.Errorf("account after confirming: %+v", got)
		}
		changes := e.changes()
		want := messages.AccountChanged{AccountID: a.ID, Email: adaEmail, EmailVerified: true, DisplayName: "Ada", Version: 2}
		if diff := cmp.Diff(want, changes[len(changes)-1]); diff != "" {
			t.Errorf("account.changed (-want +got):\n%s", diff)
		}
	})
	t.Run("a link works once", func(t *testing.T) {
		wantFieldProblem(t, e.confirmRec(token), "token")
		if n := len(e.changes()); n != 2 {
			t.Errorf("%d account.changed messages, want 2", n)
		}
	})
	t.Run("a link expires after 48 hours", func(t *testing.T) {
		e.signUp("grace@example.com", "another good password", "Grace")
		grace := e.login("grace@example.com", "another good password")
		e.clock.Advance(48 * time.Hour)
		wantFieldProblem(t, e.confirmRec(e.welcomeToken("grace@example.com")), "token")
		if e.me(&grace.caller).EmailVerified {
			t.Error("an expired link confirmed the address")
		}
	})
}

func TestResendConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)

	rec := e.resendRec(&s.caller)
	wantStatus(t, rec, http.StatusAccepted)
	if got := decode[auth.ConfirmationSent](t, rec); got.Email != adaEmail {
		t.Errorf("answer %+v, want the link to go to %s", got, adaEmail)
	}
	sent := e.emails(messages.EmailConfirm)
	if len(sent) != 1 {
		t.Fatalf("%d confirm emails, want 1", len(sent))
	}
	expires := testBase.Add(48 * time.Hour)
	if c := sent[0]; c.To != adaEmail || c.Name != "Ada" || c.Token == "" || c.ExpiresAt == nil || !c.ExpiresAt.Equal(expires) ||
		!strings.HasPrefix(c.IdempotencyKey, "confirm:") || strings.Contains(c.IdempotencyKey, c.Token) {
		t.Errorf("confirm email %+v: want to Ada with a token valid 48 h and a key without the token", c)
	}

	t.Run("at most one per minute", func(t *testing.T) {
		e.clock.Advance(20 * time.Second)
		rec := e.resendRec(&s.caller)
		p := wantProblem(t, rec, http.StatusTooManyRequests)
		if ra := rec.Header().Get("Retry-After"); ra != "40" {
			t.Errorf("Retry-After %q, want 40", ra)
		}
		if p.Detail == "" {
			t.Error("the 429 does not say why")
		}
		if n := len(e.emails(messages.EmailConfirm)); n != 1 {
			t.Errorf("%d confirm emails after a refusal, want 1", n)
		}
		e.clock.Advance(40 * time.Second)
		wantStatus(t, e.resendRec(&s.caller), http.StatusAccepted)
		if n := len(e.emails(messages.EmailConfirm)); n != 2 {
			t.Errorf("%d confirm emails a minute later, want 2", n)
		}
	})
	t.Run("the resent link confirms, and the others stop working", func(t *testing.T) {
		wantStatus(t, e.confirmRec(sent[0].Token), http.StatusNoContent)
		if !e.me(&s.caller).EmailVerified {
			t.Error("not confirmed")
		}
		wantFieldProblem(t, e.confirmRec(e.welcomeToken(adaEmail)), "token")
	})
	t.Run("a confirmed address with nothing pending is 409", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		before := len(e.outbox())
		wantProblem(t, e.resendRec(&s.caller), http.StatusConflict)
		if n := len(e.outbox()); n != before {
			t.Errorf("a 409 queued %d messages", n-before)
		}
	})
	t.Run("no caller is 401, a deleted account 401", func(t *testing.T) {
		wantStatus(t, e.resendRec(nil), http.StatusUnauthorized)
		wantStatus(t, e.resendRec(&caller{AccountID: "0190a000-0000-7000-8000-000000000000"}), http.StatusUnauthorized)
	})
}

func TestChangeDisplayName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		tests := []struct {
			body       string
			wantStatus int
		}{
			{`{"display_name": "   "}`, 422},
			{`{"display_name": "` + strings.Repeat("n", 81) + `"}`, 422},
			{`{"display_name": "Ada\nLovelace"}`, 422},
			{`{"display_name": 5}`, 422},
			{`{"display_name": "Ada L", "admin": true}`, 400},
			{`{"display_name": "Ada L", "Display_Name": "x"}`, 400},
			{`{"display_name": "Ada L", "current_password": "wrong password"}`, 401},
		}
		for _, tt := range tests {
			rec := e.patchRec(&s.caller, tt.body)
			wantProblem(t, rec, tt.wantStatus)
		}
		if got := e.me(&s.caller); got.DisplayName != "Ada" {
			t.Errorf("display name %q after refusals", got.DisplayName)
		}
		if n := len(e.changes()); n != 1 {
			t.Errorf("%d account.changed messages, want only the sign-up's", n)
		}
	})
	t.Run("a new name needs no password and is announced", func(t *testing.T) {
		rec := e.patchRec(&s.caller, `{"display_name": "  Ada Lovelace "}`)
		wantStatus(t, rec, http.StatusOK)
		got := decode[auth.AccountJSON](t, rec)
		want := auth.AccountJSON{ID: a.ID, Email: adaEmail, DisplayName: "Ada Lovelace", CreatedAt: testBase}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("account (-want +got):\n%s", diff)
		}
		if h := rec.Header().Get(httpx.HeaderRevocation); h != "" {
			t.Errorf("revocation header %q on a change that revokes nothing", h)
		}
		changes := e.changes()
		wantMsg := messages.AccountChanged{AccountID: a.ID, Email: adaEmail, DisplayName: "Ada Lovelace", Version: 2}
		if diff := cmp.Diff(wantMsg, changes[len(changes)-1]); diff != "" {
			t.Errorf("account.changed (-want +got):\n%s", diff)
		}
	})
	t.Run("the right current password is accepted with a name", func(t *testing.T) {
		rec := e.patchRec(&s.caller, `{"display_name": "Ada", "current_password": "`+adaPassword+`"}`)
		wantStatus(t, rec, http.StatusOK)
		if changes := e.changes(); len(changes) != 3 || changes[2].Version != 3 || changes[2].DisplayName != "Ada" {
			t.Errorf("account.changed messages %+v, want a third with version 3", changes)
		}
	})
	t.Run("nothing to change is 200 and writes nothing", func(t *testing.T) {
		before := len(e.outbox())
		for _, body := range []string{`{}`, `{"display_name": "Ada"}`, `{"display_name": null}`} {
			rec := e.patchRec(&s.caller, body)
			wantStatus(t, rec, http.StatusOK)
			if got := decode[auth.AccountJSON](t, rec); got.DisplayName != "Ada" {
				t.Errorf("%s: account %+v", body, got)
			}
		}
		if n := len(e.outbox()); n != before {
			t.Errorf("%d messages queued by changes that change nothing", n-before)
		}
	})
	t.Run("no caller is 401", func(t *testing.T) {
		wantStatus(t, e.patchRec(nil, `{"display_name": "X"}`), http.StatusUnauthorized)
	})
}

func TestChangeEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.signUp(adaEmail, adaPassword, "Ada")
	e.signUp("taken@example.com", "long enough", "Taken")
	s := e.login(adaEmail, adaPassword)
	const newEmail = "Ada.Lovelace@example.org"
	patch := func(email, current string) *httptest.ResponseRecorder {
		m := map[string]string{"email": email}
		if current != "" {
			m["current_password"] = current
		}
		return e.patchRec(&s.caller, jsonBody(t, m))
	}

	t.Run("refusals change nothing", func(t *testing.T) {
		before := len(e.outbox())
		wantFieldProblem(t, patch(newEmail, ""), "current_password")
		wantFieldProblem(t, patch("not an address", adaPassword), "email")
		wantFieldProblem(t, patch("not an address", ""), "email", "current_password")
		wantProblem(t, patch(newEmail, "wrong password"), http.StatusUnauthorized)
		wantProblem(t, patch("TAKEN@example.com", adaPassword), http.StatusConflict)
		wantStatus(t, e.patchRec(&s.caller, `{"email": "`+newEmail+`", "current_password": "`+adaPassword+`", "verified": true}`), http.StatusBadRequest)
		if n := len(e.outbox()); n != before {
			t.Errorf("refusals queued %d messages", n-before)
		}
		if n := e.count("email_confirmations"); n != 2 {
			t.Errorf("%d confirmation links, want the 2 of the sign-ups", n)
		}
	})
	t.Run("a new address waits for its confirmation", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		rec := patch("  "+newEmail+" ", adaPassword)
		wantStatus(t, rec, http.StatusOK)
		if got := decode[auth.AccountJSON](t, rec); got.Email != adaEmail || got.EmailVerified {
			t.Errorf("account %+v, want the old unconfirmed address still", got)
		}
		confirm := e.emails(messages.EmailConfirm)
		if len(confirm) != 1 || confirm[0].To != newEmail || confirm[0].Token == "" || confirm[0].Name != "Ada" {
			t.Fatalf("confirm emails %+v, want one to %s with a token", confirm, newEmail)
		}
		notice := e.emails(messages.EmailChanged)
		if len(notice) != 1 || notice[0].To != adaEmail || notice[0].NewEmail != newEmail || notice[0].Token != "" {
			t.Fatalf("email_changed emails %+v, want one to the old address naming the new one", notice)
		}
		if n := len(e.changes()); n != 2 {
			t.Errorf("%d account.changed messages, want none for a pending address", n-2)
		}
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.40"), http.StatusOK)
		wantStatus(t, e.loginRec(newEmail, adaPassword, "192.0.2.40"), http.StatusUnauthorized)
	})
	t.Run("another change within a minute is 429", func(t *testing.T) {
		rec := patch("other@example.org", adaPassword)
		wantProblem(t, rec, http.StatusTooManyRequests)
		if rec.Header().Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
	t.Run("a resend goes to the pending address", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		rec := e.resendRec(&s.caller)
		wantStatus(t, rec, http.StatusAccepted)
		if got := decode[auth.ConfirmationSent](t, rec); got.Email != newEmail {
			t.Errorf("resent to %q, want %q", got.Email, newEmail)
		}
		if c := e.emails(messages.EmailConfirm); len(c) != 2 || c[1].To != newEmail {
			t.Errorf("confirm emails %+v, want a second to %s", c, newEmail)
		}
	})
	t.Run("the link switches the address, and is announced", func(t *testing.T) {
		token := e.emails(messages.EmailConfirm)[0].Token
		wantStatus(t, e.confirmRec(token), http.StatusNoContent)
		got := e.me(&s.caller)
		if got.Email != newEmail || !got.EmailVerified {
			t.Errorf("account %+v, want the new confirmed address", got)
		}
		changes := e.changes()
		want := messages.AccountChanged{AccountID: a.ID, Email: newEmail, EmailVerified: true, DisplayName: "Ada"}
		if diff := cmp.Diff(want, changes[len(changes)-1], cmpopts.IgnoreFields(messages.AccountChanged{}, "Version")); diff != "" {
			t.Errorf("account.changed (-want +got):\n%s", diff)
		}
		if v := changes[len(changes)-1].Version; v <= changes[len(changes)-2].Version {
			t.Errorf("version %d does not rise above %d", v, changes[len(changes)-2].Version)
		}
		wantStatus(t, e.loginRec(newEmail, adaPassword, "192.0.2.41"), http.StatusOK)
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.41"), http.StatusUnauthorized)
	})
	t.Run("links to the old address and the other new ones stop working", func(t *testing.T) {
		wantFieldProblem(t, e.confirmRec(e.welcomeToken(adaEmail)), "token")
		wantFieldProblem(t, e.confirmRec(e.emails(messages.EmailConfirm)[1].Token), "token")
	})
	t.Run("the old address can sign up again", func(t *testing.T) {
		e.signUp(adaEmail, "yet another password", "Ada 2")
	})
}

func TestChangeEmailBackCancelsThePendingOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	wantStatus(t, e.confirmRec(e.welcomeToken(adaEmail)), http.StatusNoContent)
	wantStatus(t, e.patchRec(&s.caller, jsonBody(t, map[string]string{"email": "new@example.com", "current_password": adaPassword})), http.StatusOK)
	link := e.emails(messages.EmailConfirm)[0].Token

	rec := e.patchRec(&s.caller, jsonBody(t, map[string]string{"email": "ada@example.com", "current_password": adaPassword}))
	wantStatus(t, rec, http.StatusOK)
	if got := decode[auth.AccountJSON](t, rec); got.Email != "ada@example.com" || !got.EmailVerified {
		t.Errorf("account %+v, want the same address, new spelling, still confirmed", got)
	}
	wantFieldProblem(t, e.confirmRec(link), "token")
	wantProblem(t, e.resendRec(&s.caller), http.StatusConflict) // nothing pending any more
	if got := e.me(&s.caller); got.Email != "ada@example.com" {
		t.Errorf("email %q after a cancelled change", got.Email)
	}
}

func TestConfirmingAnAddressTakenMeanwhileIs409(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	wantStatus(t, e.patchRec(&s.caller, jsonBody(t, map[string]string{"email": "contested@example.com", "current_password": adaPassword})), http.StatusOK)
	link := e.emails(messages.EmailConfirm)[0].Token
	e.signUp("Contested@Example.com", "long enough", "Someone")
	changes := len(e.changes())

	wantProblem(t, e.confirmRec(link), http.StatusConflict)
	if got := e.me(&s.caller); got.Email != adaEmail || got.EmailVerified {
		t.Errorf("account %+v after a 409, want it unchanged", got)
	}
	if n := len(e.changes()); n != changes {
		t.Errorf("a 409 queued %d account.changed messages", n-changes)
	}
}

func TestChangePasswordRevokesTheOtherLogins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	e.signUp("bob@example.com", "bobs password", "Bob")
	here, there, elsewhere := e.login(adaEmail, adaPassword), e.login(adaEmail, adaPassword), e.login(adaEmail, adaPassword)
	bob := e.login("bob@example.com", "bobs password")
	patch := func(body string) *httptest.ResponseRecorder { return e.patchRec(&here.caller, body) }

	t.Run("refusals change nothing", func(t *testing.T) {
		wantFieldProblem(t, patch(`{"password": "a new password"}`), "current_password")
		wantFieldProblem(t, patch(`{"password": "a new password", "current_password": ""}`), "current_password")
		wantFieldProblem(t, patch(`{"password": "short", "current_password": "`+adaPassword+`"}`), "password")
		wantProblem(t, patch(`{"password": "a new password", "current_password": "wrong password"}`), http.StatusUnauthorized)
		if n := e.feed(0).LastSeq; n != 0 {
			t.Errorf("refusals revoked logins: last seq %d", n)
		}
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.60"), http.StatusOK)
	})
	rec := patch(`{"password": "a new password", "current_password": "` + adaPassword + `"}`)
	wantStatus(t, rec, http.StatusOK)
	seq, err := strconv.ParseInt(rec.Header().Get(httpx.HeaderRevocation), 10, 64)
	if err != nil {
		t.Fatalf("revocation header %q", rec.Header().Get(httpx.HeaderRevocation))
	}
	t.Run("every other login is revoked, the caller's is not", func(t *testing.T) {
		feed := e.feed(0)
		var revoked []string
		for _, r := range feed.Revocations {
			revoked = append(revoked, r.SessionID)
		}
		if feed.LastSeq != seq || len(revoked) < 2 {
			t.Fatalf("feed %+v, want the other logins revoked up to seq %d", feed, seq)
		}
		for _, r := range revoked {
			if r == here.caller.SessionID || r == bob.caller.SessionID {
				t.Errorf("login %s revoked", r)
			}
		}
		for _, s := range []session{there, elsewhere} {
			wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusUnauthorized)
		}
		wantStatus(t, e.refreshRec(here.RefreshToken), http.StatusOK)
		wantStatus(t, e.refreshRec(bob.RefreshToken), http.StatusOK)
	})
	t.Run("the new password logs in, the old does not", func(t *testing.T) {
		wantStatus(t, e.loginRec(adaEmail, "a new password", "192.0.2.61"), http.StatusOK)
		wantStatus(t, e.loginRec(adaEmail, adaPassword, "192.0.2.62"), http.StatusUnauthorized)
	})
	t.Run("a password change is not announced", func(t *testing.T) {
		if n := len(e.changes()); n != 2 {
			t.Errorf("%d account.changed messages, want the 2 sign-ups'", n)
		}
	})
}

func TestWrongCurrentPasswordsAreThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	body := `{"password": "a new password", "current_password": "wrong password"}`
	for range 5 {
		wantStatus(t, e.patchRec(&s.caller, body), http.StatusUnauthorized)
	}
	rec := e.patchRec(&s.caller, `{"password": "a new password", "current_password": "`+adaPassword+`"}`)
	wantProblem(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	rec = e.serve(request{method: "DELETE", path: "/api/v1/accounts/me", caller: &s.caller, clientIP: "192.0.2.30",
		body: `{"current_password": "` + adaPassword + `"}`})
	wantProblem(t, rec, http.StatusTooManyRequests)
	e.me(&s.caller) // still there
}

func TestDeleteAccountAsksForThePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	del := func(body string) *httptest.ResponseRecorder {
		return e.serve(request{method: "DELETE", path: "/api/v1/accounts/me", caller: &s.caller, body: body})
	}
	before := len(e.outbox())
	wantFieldProblem(t, del(""), "current_password")
	wantFieldProblem(t, del(`{}`), "current_password")
	wantFieldProblem(t, del(`{"current_password": ""}`), "current_password")
	p := wantProblem(t, del(`{"current_password": "wrong password"}`), http.StatusUnauthorized)
	if !strings.Contains(p.Detail, "current password") {
		t.Errorf("detail %q does not say the password is wrong", p.Detail)
	}
	wantStatus(t, del(`{"current_password": "`+adaPassword+`", "force": true}`), http.StatusBadRequest)
	if n := len(e.outbox()); n != before {
		t.Errorf("refusals queued %d messages", n-before)
	}
	if n := e.feed(0).LastSeq; n != 0 {
		t.Errorf("refusals revoked: last seq %d", n)
	}
	e.me(&s.caller)
	wantStatus(t, e.refreshRec(s.RefreshToken), http.StatusOK)
	wantStatus(t, del(`{"current_password": "`+adaPassword+`"}`), http.StatusNoContent)
	wantStatus(t, e.serve(request{method: "GET", path: "/api/v1/accounts/me", caller: &s.caller}), http.StatusUnauthorized)
	if n := e.count("email_confirmations"); n != 0 {
		t.Errorf("%d confirmation links left of the deleted account", n)
	}
}

// TestConfirmationLinksOfADeletedAccountDoNotWork: the link of an account that is gone is
// answered like any link that is not current.
func TestConfirmationLinksOfADeletedAccountDoNotWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)
	token := e.welcomeToken(adaEmail)
	wantStatus(t, e.deleteMe(&s.caller, adaPassword), http.StatusNoContent)
	wantFieldProblem(t, e.confirmRec(token), "token")
}

func TestConfirmationLinksArePruned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signUp(adaEmail, adaPassword, "Ada")
	e.clock.Advance(48 * time.Hour)
	if err := e.store.Prune(context.Background(), e.clock.Now(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := e.count("email_confirmations"); n != 0 {
		t.Errorf("%d expired confirmation links after pruning", n)
	}
}
