package web

import (
	"errors"
	"net/http"
	"net/url"
)

// consentData is the data of the page of a consent link.
type consentData struct {
	// Token is the token of the link.
	Token   string
	Consent consent
}

// handleConsentForm shows who asks to email reminders to whom, what was answered so far,
// and, while nothing was, the buttons that accept and decline. It needs no login: the
// link's token is the recipient's proof.
func (u *UI) handleConsentForm(w http.ResponseWriter, r *http.Request) {
	u.consentPage(w, r, http.StatusOK, newForm(nil))
}

// consentPage shows the page of the consent link of r with status and f.
func (u *UI) consentPage(w http.ResponseWriter, r *http.Request, status int, f *form) {
	token := r.PathValue("token")
	var c consent
	if err := u.call(r.Context(), http.MethodGet, "/api/v1/consents/"+url.PathEscape(token), "", nil, &c); err != nil {
		if apiStatus(err) == http.StatusNotFound {
			u.deadLink(w, r)
			return
		}
		u.fail(w, r, err)
		return
	}
	u.render(w, r, status, "consent", view{Title: "Reminders from " + c.Requester.DisplayName, Form: f, Data: consentData{Token: token, Consent: c}})
}

// deadLink answers 404 for a consent or unsubscribe link the API does not know.
func (u *UI) deadLink(w http.ResponseWriter, r *http.Request) {
	u.errorPage(w, r, http.StatusNotFound, "This link does not work",
		"EventPost does not know this link. Check that it was copied whole from the email.")
}

// handleConsent records the recipient's answer, accept or decline.
func (u *UI) handleConsent(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	decision := r.PostForm.Get("decision")
	if decision != "accept" && decision != "decline" {
		f := newForm(nil)
		f.General = "Choose Accept or Decline."
		u.consentPage(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	var c consent
	err := u.call(r.Context(), http.MethodPost, "/api/v1/consents/"+url.PathEscape(token), "", map[string]string{"decision": decision}, &c)
	var ae *apiError
	switch {
	case err == nil:
		flash := "consent-accepted"
		if decision == "decline" {
			flash = "consent-declined"
		}
		u.flash(w, flash)
		u.redirect(w, r, "/consent/"+url.PathEscape(token))
	case !errors.As(err, &ae):
		u.fail(w, r, err)
	case ae.Status == http.StatusNotFound:
		u.deadLink(w, r)
	case ae.Status == http.StatusConflict || ae.Status == http.StatusUnprocessableEntity:
		f := newForm(nil)
		f.General = "Your answer was not recorded"
		if ae.Detail != "" {
			f.General += ": " + ae.Detail
		}
		u.consentPage(w, r, ae.Status, f)
	default:
		u.fail(w, r, err)
	}
}

// unsubscribeData is the data of the page of an unsubscribe link.
type unsubscribeData struct {
	// Token is the token of the link.
	Token string
	// Done is set once the link has been used.
	Done bool
}

// handleUnsubscribeForm shows the page of an unsubscribe link, with the button that
// unsubscribes. Opening the link changes nothing: mail scanners open links too.
func (u *UI) handleUnsubscribeForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "unsubscribe", view{Title: "Unsubscribe", Data: unsubscribeData{Token: r.PathValue("token")}})
}

// handleUnsubscribe stops the reminder emails the link's token names. It is the UI's one
// form post without a CSRF token (see csrfExempt): the button of the page, and the
// one-click POST of mail providers (RFC 8058), which comes with no cookies. The page it
// answers needs no login.
func (u *UI) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	err := u.call(r.Context(), http.MethodPost, "/api/v1/unsubscribe/"+url.PathEscape(token), "", nil, nil)
	switch {
	case err == nil:
		u.render(w, r, http.StatusOK, "unsubscribe", view{Title: "Unsubscribed", Data: unsubscribeData{Token: token, Done: true}})
	case apiStatus(err) == http.StatusNotFound:
		u.deadLink(w, r)
	default:
		u.fail(w, r, err)
	}
}
