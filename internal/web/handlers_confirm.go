package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// confirmEmailData is the data of the page that confirms an address.
type confirmEmailData struct {
	// Token is the token of the link the page was opened with.
	Token string
	// Dead is set when the link does not work (any more): the page offers a new one.
	Dead bool
}

// handleConfirmEmailForm shows the page of a confirmation link, with a button that
// confirms. Opening the link confirms nothing: mail scanners open links too.
func (u *UI) handleConfirmEmailForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	f := newForm(nil)
	data := confirmEmailData{Token: token}
	if token == "" {
		data.Dead = true
		f.General = "This page needs the link from the email we sent you."
	}
	u.render(w, r, http.StatusOK, "confirmemail", view{Title: "Confirm your email address", Form: f, Data: data})
}

// handleConfirmEmail confirms the address of the link's token, then shows the account (or,
// to someone not logged in, the login page).
func (u *UI) handleConfirmEmail(w http.ResponseWriter, r *http.Request) {
	token := r.PostForm.Get("token")
	f := newForm(nil)
	data := confirmEmailData{Token: token}
	var err error
	if token == "" {
		err = &apiError{Status: http.StatusUnprocessableEntity}
	} else {
		err = u.call(r.Context(), http.MethodPost, "/api/v1/accounts/confirm-email", "", map[string]string{"token": token}, nil)
	}
	var ae *apiError
	switch {
	case err == nil:
		u.flash(w, "email-confirmed")
		if u.me(r) != nil {
			u.redirect(w, r, "/account")
		} else {
			u.redirect(w, r, "/login?next=%2Faccount")
		}
		return
	case !errors.As(err, &ae):
		u.fail(w, r, err)
		return
	case ae.Status == http.StatusUnprocessableEntity:
		data.Dead = true
		f.General = "This link does not work any more: it was used already, it is more than 48 hours old, " +
			"or a newer link replaced it."
	case ae.Status == http.StatusTooManyRequests:
		if ae.RetryAfter != "" {
			w.Header().Set("Retry-After", ae.RetryAfter)
		}
		f.General = "Too many requests. Wait a few minutes and try again."
	default:
		u.fail(w, r, err)
		return
	}
	u.render(w, r, ae.Status, "confirmemail", view{Title: "Confirm your email address", Form: f, Data: data})
}

// handleResendConfirmation asks the API to email a new confirmation link to the account's
// address; the API sends at most one a minute.
func (u *UI) handleResendConfirmation(w http.ResponseWriter, r *http.Request) {
	err := u.authCall(r, http.MethodPost, "/api/v1/accounts/me/confirmation-email", nil, nil)
	switch apiStatus(err) {
	case 0:
		if err != nil {
			u.fail(w, r, err)
			return
		}
		u.flash(w, "confirmation-sent")
		u.redirect(w, r, "/account")
	case http.StatusConflict:
		u.flash(w, "already-confirmed")
		u.redirect(w, r, "/account")
	case http.StatusTooManyRequests:
		var ae *apiError
		errors.As(err, &ae)
		if ae.RetryAfter != "" {
			w.Header().Set("Retry-After", ae.RetryAfter)
		}
		f := newForm(nil)
		f.General = "We sent you a link less than a minute ago. Look for it in your inbox (and your spam folder), " +
			"or ask again " + waitWords(ae.RetryAfter) + "."
		u.accountPage(w, r, http.StatusTooManyRequests, f, "confirm")
	default:
		u.fail(w, r, err)
	}
}

// waitWords says in words how long the Retry-After value retryAfter (seconds) asks to
// wait: "in 42 seconds", or "in a minute" when it is not a number of seconds.
func waitWords(retryAfter string) string {
	secs, err := strconv.Atoi(retryAfter)
	switch {
	case err != nil || secs <= 0:
		return "in a minute"
	case secs == 1:
		return "in a second"
	case secs < 120:
		return fmt.Sprintf("in %d seconds", secs)
	}
	return fmt.Sprintf("in %d minutes", (secs+59)/60)
}
