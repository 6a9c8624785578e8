package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// wrongPassword is the error of a current-password field the API refused.
const wrongPassword = "The password is not right"

// accountData is the data of the account page.
type accountData struct {
	Account account
	// Section names the form of the page whose errors it shows: name, email, password or
	// confirm (the request for a new confirmation link); "" for none.
	Section string
	// Calendar is the account's personal calendar feed.
	Calendar calendarData
}

// handleAccount shows the account, its settings and, while its address is not confirmed,
// a way to ask for a new confirmation link.
func (u *UI) handleAccount(w http.ResponseWriter, r *http.Request) {
	u.accountPage(w, r, http.StatusOK, newForm(nil), "")
}

// accountPage shows the account page with status, the form f of its section (name, email,
// password or confirm) holding errors; the other forms show the account's values.
func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, status int, f *form, section string) {
	var a account
	if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me", nil, &a); err != nil {
		u.fail(w, r, err)
		return
	}
	if _, ok := f.Values["display_name"]; !ok {
		f.Values.Set("display_name", a.DisplayName)
	}
	if _, ok := f.Values["email"]; !ok {
		f.Values.Set("email", a.Email)
	}
	u.render(w, r, status, "account", view{Title: "Your account", User: &a, Form: f, Data: accountData{Account: a, Section: section, Calendar: u.calendar(r)}})
}

// passwordCall makes an authenticated API call that carries the account's current password.
// Its 401 means that password is wrong, not that the session ended: the session is checked
// (and refreshed when it must be) first, and a 401 is returned as it is, never retried.
func (u *UI) passwordCall(r *http.Request, method, path string, body, out any) error {
	st := stateOf(r)
	if st.me == nil {
		var a account
		if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me", nil, &a); err != nil {
			return err
		}
		st.me, st.meLoaded = &a, true
	}
	return u.call(r.Context(), method, path, st.access, body, out)
}

// refusal records on f the API's refusal err of a change to the account, with fields
// mapping the API's field names to the form's, and returns the status to answer with; 0
// when err is no refusal the form can show (answer it with fail). A 401 is a wrong
// current password, shown on the form's field for it.
func refusal(w http.ResponseWriter, f *form, err error, fields formFields) int {
	var ae *apiError
	if !errors.As(err, &ae) {
		return 0
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		if pw, ok := fields["current_password"]; ok {
			f.Fail(pw.name, wrongPassword)
			return ae.Status
		}
		return 0
	case http.StatusUnprocessableEntity:
		f.applyAPIErrors(ae.Fields, fields)
	case http.StatusTooManyRequests:
		if ae.RetryAfter != "" {
			w.Header().Set("Retry-After", ae.RetryAfter)
		}
		f.General = throttledMessage(ae)
	default:
		return 0
	}
	return ae.Status
}

// handleChangeName changes the account's display name.
func (u *UI) handleChangeName(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"display_name": {strings.TrimSpace(r.PostForm.Get("display_name"))}})
	u.changeAccount(w, r, f, "name", "name-changed", func() error {
		return u.authCall(r, http.MethodPatch, "/api/v1/accounts/me", map[string]string{"display_name": f.Get("display_name")}, nil)
	}, func(err error) int {
		return refusal(w, f, err, formFields{"display_name": {"display_name", "Name"}})
	})
}

// changeAccount asks the API, with call, for the change the section form f of the account
// page holds, unless f failed already. On success it flashes done and goes back to the
// account page; when refuse shows the API's refusal on f (and returns its status; 0: it
// cannot), the form is shown again; any other error is a failure page.
func (u *UI) changeAccount(w http.ResponseWriter, r *http.Request, f *form, section, done string, call func() error, refuse func(error) int) {
	if f.Failed() {
		u.accountPage(w, r, http.StatusUnprocessableEntity, f, section)
		return
	}
	err := call()
	if err == nil {
		u.flash(w, done)
		u.redirect(w, r, "/account")
		return
	}
	status := refuse(err)
	if status == 0 {
		u.fail(w, r, err)
		return
	}
	u.accountPage(w, r, status, f, section)
}

// handleChangeEmail asks to change the account's address. The change waits for the link
// the API mails to the new address.
func (u *UI) handleChangeEmail(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"email": {strings.TrimSpace(r.PostForm.Get("email"))}})
	password := r.PostForm.Get("email_current_password")
	if f.Get("email") == "" {
		f.Fail("email", "Enter the new email address")
	}
	if password == "" {
		f.Fail("email_current_password", "Enter your current password to change your address")
	}
	u.changeAccount(w, r, f, "email", "email-change-pending", func() error {
		return u.passwordCall(r, http.MethodPatch, "/api/v1/accounts/me",
			map[string]string{"email": f.Get("email"), "current_password": password}, nil)
	}, func(err error) int {
		if apiStatus(err) == http.StatusConflict {
			f.Fail("email", "Another account has this email address already")
			return http.StatusConflict
		}
		return refusal(w, f, err, formFields{
			"email": {"email", "Email address"}, "current_password": {"email_current_password", "Current password"},
		})
	})
}

// handleChangePassword changes the account's password. The API ends every other login of
// the account and keeps this one, so the browser stays logged in.
func (u *UI) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	f := newForm(nil)
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if current == "" {
		f.Fail("current_password", "Enter your current password")
	}
	if next == "" {
		f.Fail("new_password", "Choose a new password")
	}
	u.changeAccount(w, r, f, "password", "password-changed", func() error {
		return u.passwordCall(r, http.MethodPatch, "/api/v1/accounts/me",
			map[string]string{"password": next, "current_password": current}, nil)
	}, func(err error) int {
		return refusal(w, f, err, formFields{
			"password": {"new_password", "New password"}, "current_password": {"current_password", "Current password"},
		})
	})
}
