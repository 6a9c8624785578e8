package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// accountFields maps the API's fields of sign-up and login to the forms' fields.
func accountFields() formFields {
	return formFields{
		"email": {"email", "Email address"}, "password": {"password", "Password"},
		"display_name": {"display_name", "Name"},
	}
}

// authFormData is the data of the sign-up and login pages.
type authFormData struct {
	// Next is where to go once logged in.
	Next string
}

// handleSignUpForm shows the sign-up form.
func (u *UI) handleSignUpForm(w http.ResponseWriter, r *http.Request) {
	u.authForm(w, r, "signup", "Sign up")
}

// authForm shows the sign-up or login page, titled title; someone logged in already goes
// where the page would have taken them.
func (u *UI) authForm(w http.ResponseWriter, r *http.Request, page, title string) {
	next := safeNext(r.URL.Query().Get("next"))
	if u.me(r) != nil {
		u.redirect(w, r, next)
		return
	}
	u.render(w, r, http.StatusOK, page, view{Title: title, Data: authFormData{Next: next}})
}

// handleSignUp creates an account and logs it in.
func (u *UI) handleSignUp(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{
		"email":        {strings.TrimSpace(r.PostForm.Get("email"))},
		"display_name": {strings.TrimSpace(r.PostForm.Get("display_name"))},
	})
	password := r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	body := map[string]string{"email": f.Get("email"), "password": password, "display_name": f.Get("display_name")}
	err := u.call(r.Context(), http.MethodPost, "/api/v1/accounts", "", body, nil)
	if err == nil {
		if err := u.logIn(w, r, f.Get("email"), password); err != nil {
			u.log.WarnContext(r.Context(), "log in after sign-up", "err", err)
			u.flash(w, "account-created")
			u.redirect(w, r, "/login?next="+url.QueryEscape(next))
			return
		}
	}
	var ae *apiError
	switch {
	case err == nil:
		u.flash(w, "welcome")
		u.redirect(w, r, next)
		return
	case !errors.As(err, &ae):
		u.fail(w, r, err)
		return
	case ae.Status == http.StatusConflict:
		f.Fail("email", "An account with this email address exists already. Log in instead, or use another address.")
	case ae.Status == http.StatusUnprocessableEntity:
		f.applyAPIErrors(ae.Fields, accountFields())
	case ae.Status == http.StatusTooManyRequests:
		f.General = "Too many attempts. Wait a few minutes and try again."
	default:
		u.fail(w, r, err)
		return
	}
	u.render(w, r, ae.Status, "signup", view{Title: "Sign up", Form: f, Data: authFormData{Next: next}})
}

// handleLoginForm shows the login form.
func (u *UI) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	u.authForm(w, r, "login", "Log in")
}

// handleLogin logs in.
func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"email": {strings.TrimSpace(r.PostForm.Get("email"))}})
	next := safeNext(r.PostForm.Get("next"))
	err := u.logIn(w, r, f.Get("email"), r.PostForm.Get("password"))
	if err == nil {
		u.flash(w, "login")
		u.redirect(w, r, next)
		return
	}
	status := http.StatusUnauthorized
	if apiStatus(err) == http.StatusUnauthorized {
		f.General = "The email address or the password is not right."
	} else if status = refusal(w, f, err, accountFields()); status == 0 {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, status, "login", view{Title: "Log in", Form: f, Data: authFormData{Next: next}})
}

// throttledMessage says in plain words why a login was refused with 429, and when to try
// again: the API's detail says whether the account is locked for everyone or only this
// connection is paused.
func throttledMessage(ae *apiError) string {
	wait := "a few minutes"
	if secs, err := strconv.Atoi(ae.RetryAfter); err == nil && secs > 0 {
		wait = fmt.Sprintf("%d minutes", (secs+59)/60)
		if secs <= 60 {
			wait = "a minute"
		}
	}
	if strings.Contains(ae.Detail, "locked for everyone") {
		return "This account is locked for now: there were too many wrong passwords for it from many places. " +
			"If it is yours, look in your email for the link that unlocks it and sets a new password, " +
			"or use “Forgot your password?” below. Otherwise try again in " + wait + "."
	}
	if strings.Contains(ae.Detail, "for this account from your address") {
		return "Too many wrong passwords for this account from your connection: try again in " + wait +
			", or use “Forgot your password?” below. Logging in from another connection works now."
	}
	return "Too many failed logins from your connection. Try again in " + wait + "."
}

// logIn exchanges an email and password for tokens and keeps them in the session cookies.
// The CSRF token is replaced too, so that no token known before the login is valid after.
func (u *UI) logIn(w http.ResponseWriter, r *http.Request, email, password string) error {
	var pair tokenPair
	if err := u.call(r.Context(), http.MethodPost, "/api/v1/auth/token", "", map[string]string{"email": email, "password": password}, &pair); err != nil {
		return err
	}
	u.setSession(r, pair)
	st := stateOf(r)
	st.csrf = newCSRFToken()
	u.setCookie(w, cookieCSRF, st.csrf, u.cfg.SessionLifetime, http.SameSiteLaxMode)
	return nil
}

// handleLogout ends the session.
func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	if loggedIn(r) {
		// Loading the account first refreshes an expired access token, so that the refresh
		// token sent to the logout is the current one.
		if u.me(r) != nil {
			st := stateOf(r)
			err := u.authCall(r, http.MethodPost, "/api/v1/auth/logout", map[string]string{"refresh_token": st.refresh}, nil)
			if err != nil && !errors.Is(err, errLoggedOut) {
				u.log.WarnContext(r.Context(), "log out", "err", err)
			}
		}
		if loggedIn(r) { // not cleared already by a refused session
			u.clearSession(r)
		}
	}
	u.flash(w, "logout")
	u.redirect(w, r, "/")
}

// confirmData is the data of a confirmation page.
type confirmData struct {
	Heading string
	Text    string
	// Action is where the form posts.
	Action string
	// Button is the label of the button that confirms.
	Button string
	// CancelURL is where the person goes when they change their mind.
	CancelURL string
	// Check is the label of a check box that must be ticked, "" for none.
	Check string
	// Password asks for the account's current password.
	Password bool
}

// deleteAccountConfirm is the confirmation page of an account's deletion.
func deleteAccountConfirm() confirmData {
	return confirmData{
		Heading: "Delete your account",
		Text: "This deletes your account, the events you organize and your reminders. People who asked " +
			"for a reminder of one of your events will be emailed that it is cancelled. This cannot be undone.",
		Action:    "/account/delete",
		Button:    "Delete my account",
		CancelURL: "/account",
		Check:     "I understand: delete my account and everything in it",
		Password:  true,
	}
}

// handleDeleteAccountForm asks for confirmation before deleting the account.
func (u *UI) handleDeleteAccountForm(w http.ResponseWriter, r *http.Request) {
	u.renderLoggedIn(w, r, "confirm", view{Title: "Delete your account", Data: deleteAccountConfirm()})
}

// handleDeleteAccount deletes the account once the person has confirmed it with the box
// and the account's current password.
func (u *UI) handleDeleteAccount(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"confirm": {r.PostForm.Get("confirm")}})
	password := r.PostForm.Get("current_password")
	if password == "" {
		f.Fail("current_password", "Enter your current password")
	}
	if r.PostForm.Get("confirm") != "yes" {
		f.Fail("confirm", "Tick the box to confirm that you want to delete your account")
	}
	status := http.StatusUnprocessableEntity
	if !f.Failed() {
		err := u.passwordCall(r, http.MethodDelete, "/api/v1/accounts/me", map[string]string{"current_password": password}, nil)
		if err == nil {
			u.clearSession(r)
			u.flash(w, "account-deleted")
			u.redirect(w, r, "/")
			return
		}
		if status = refusal(w, f, err, formFields{"current_password": {"current_password", "Current password"}}); status == 0 {
			u.fail(w, r, err)
			return
		}
	}
	u.render(w, r, status, "confirm", view{Title: "Delete your account", Form: f, Data: deleteAccountConfirm()})
}
