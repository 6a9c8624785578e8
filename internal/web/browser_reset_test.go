package web_test

import (
	"net/http"
	"regexp"
	"testing"
)

// resetLink finds the reset page's link in an email.
var resetLink = regexp.MustCompile(`https?://[^\s"<>]+/reset-password\?token=([A-Za-z0-9_-]+)`)

// TestBrowserForgotPasswordResetLogIn walks a person who forgot her password through the
// pages: she asks for a link on the login page, opens the link of the email, chooses a new
// password, is told to log in, and logs in with it; the old password no longer works, and
// the link works once.
func TestBrowserForgotPasswordResetLogIn(t *testing.T) {
	b := startBrowser(t)
	api := apiClient{t: t, base: b.base}
	api.signUp("Grace Hopper", "grace@example.com", "old password 1906")

	b.open("/login")
	b.wantText("details.rules", "How we keep your account safe")
	b.click(`a[href="/forgot-password"]`, http.StatusOK)
	b.fill("#f-email", "grace@example.com")
	b.click(`form[action="/forgot-password"] button[type="submit"]`, http.StatusOK)
	b.wantText(".notice", "grace@example.com")

	m := resetLink.FindStringSubmatch(b.waitMail("grace@example.com", "Set a new EventPost password"))
	if m == nil {
		t.Fatal("the reset email holds no link to the reset page")
	}
	path := "/reset-password?token=" + m[1] // the link is on the public URL; the page is here
	b.open(path)
	b.fill("#f-password", "short")
	b.click(`form[action="/reset-password"] button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantText("#f-password-error", "8")
	b.fill("#f-password", "new password 1952")
	b.click(`form[action="/reset-password"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Your new password is set")

	b.fill("#f-email", "grace@example.com")
	b.fill("#f-password", "old password 1906")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusUnauthorized)
	b.fill("#f-password", "new password 1952")
	b.click(`form[action="/login"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "You are logged in")
	b.wantText(".nav-account", "Grace Hopper")

	// The link worked once.
	b.open(path)
	b.fill("#f-password", "third password 1992")
	b.click(`form[action="/reset-password"] button[type="submit"]`, http.StatusUnprocessableEntity)
	b.wantText(".error-summary", "does not work any more")
}
