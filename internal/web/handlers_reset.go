package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// forgotData is the data of the forgot-password page.
type forgotData struct {
	// Sent is set once a link was asked for Email.
	Sent  bool
	Email string
}

// handleForgotForm asks for the address of the account whose password is forgotten.
func (u *UI) handleForgotForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "forgot", view{Title: "Forgot your password?", Data: forgotData{}})
}

// handleForgot asks the API to email a password-reset link. The page says the same whether
// or not an account has the address, as the API does.
func (u *UI) handleForgot(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"email": {strings.TrimSpace(r.PostForm.Get("email"))}})
	err := u.call(r.Context(), http.MethodPost, "/api/v1/auth/password-reset", "", map[string]string{"email": f.Get("email")}, nil)
	var ae *apiError
	switch {
	case err == nil:
		u.render(w, r, http.StatusOK, "forgot", view{Title: "Forgot your password?", Data: forgotData{Sent: true, Email: f.Get("email")}})
		return
	case !errors.As(err, &ae):
		u.fail(w, r, err)
		return
	case ae.Status == http.StatusUnprocessableEntity:
		f.applyAPIErrors(ae.Fields, accountFields())
	case ae.Status == http.StatusTooManyRequests:
		f.General = "Too many requests. Wait a few minutes and try again."
	default:
		u.fail(w, r, err)
		return
	}
	u.render(w, r, ae.Status, "forgot", view{Title: "Forgot your password?", Form: f, Data: forgotData{}})
}

// resetData is the data of the reset-password page.
type resetData struct {
	// Token is the token of the link the page was opened with.
	Token string
}

// handleResetForm shows the form that sets a new password, for the link's token.
func (u *UI) handleResetForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	f := newForm(nil)
	if token == "" {
		f.General = "This page needs the link from the email we sent you. Ask for a new one if you no longer have it."
	}
	u.render(w, r, http.StatusOK, "reset", view{Title: "Choose a new password", Form: f, Data: resetData{Token: token}})
}

// handleReset sets the new password with the link's token, then sends the person to log in.
func (u *UI) handleReset(w http.ResponseWriter, r *http.Request) {
	token := r.PostForm.Get("token")
	f := newForm(nil)
	body := map[string]string{"token": token, "password": r.PostForm.Get("password")}
	err := u.call(r.Context(), http.MethodPost, "/api/v1/auth/password-reset/confirm", "", body, nil)
	var ae *apiError
	switch {
	case err == nil:
		if loggedIn(r) {
			u.clearSession(r) // its login was revoked with every other
		}
		u.flash(w, "password-reset")
		u.redirect(w, r, "/login")
		return
	case !errors.As(err, &ae):
		u.fail(w, r, err)
		return
	case ae.Status == http.StatusUnprocessableEntity:
		for _, fe := range ae.Fields {
			if fe.Field == "token" {
				f.General = "This link does not work any more: it was used already, it is more than an hour old, " +
					"or a newer one was used. Ask for a new link below."
			}
		}
		f.applyAPIErrors(ae.Fields, formFields{"password": {"password", "New password"}})
	case ae.Status == http.StatusTooManyRequests:
		f.General = "Too many requests. Wait a few minutes and try again."
	default:
		u.fail(w, r, err)
		return
	}
	u.render(w, r, ae.Status, "reset", view{Title: "Choose a new password", Form: f, Data: resetData{Token: token}})
}
