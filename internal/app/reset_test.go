package app_test

import (
	"regexp"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// resetToken finds the token of the reset page's link in a mail's text.
var resetToken = regexp.MustCompile(`/reset-password\?token=([A-Za-z0-9_-]{16,128})`)

// passwordResetStory: a person who forgot her password asks for a link through the gateway,
// gets exactly one email at the SMTP server, sets a new password with it, and from then on
// her old logins are refused and the new password logs in; the link works once, and an
// unknown address is answered the same and gets nothing.
func passwordResetStory(t *testing.T, c *client, smtp *smtptest.Server) {
	t.Helper()
	access, refresh := c.signUpAndLogIn("forgetful@example.com", "Forgetful")
	known := c.do("POST", "/api/v1/auth/password-reset", "", map[string]any{"email": "Forgetful@example.com"})
	unknown := c.do("POST", "/api/v1/auth/password-reset", "", map[string]any{"email": "nobody-here@example.com"})
	if known.Status != 202 || unknown.Status != 202 || string(known.Body) != string(unknown.Body) {
		t.Fatalf("reset requests: %d %s / %d %s; want the same 202", known.Status, known.Body, unknown.Status, unknown.Body)
	}
	_, mail := mailTo(t, smtp, "forgetful@example.com", "Set a new EventPost password")
	m := resetToken.FindStringSubmatch(mail.Text)
	if m == nil || !resetToken.MatchString(mail.HTML) {
		t.Fatalf("the reset mail lacks the link in a part:\n%s\n%s", mail.Text, mail.HTML)
	}
	c.must(204, "POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": "correct horse Forgetful-new"})
	// The gateway held the answer until it knew of the revocation: the old login is refused.
	if r := c.do("GET", "/api/v1/accounts/me", access, nil); r.Status != 401 {
		t.Errorf("the access token from before the reset: %d, want 401", r.Status)
	}
	if r := c.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); r.Status != 401 {
		t.Errorf("the refresh token from before the reset: %d, want 401", r.Status)
	}
	if r := c.do("POST", "/api/v1/auth/token", "", map[string]any{"email": "forgetful@example.com", "password": "correct horse Forgetful"}); r.Status != 401 {
		t.Errorf("the old password: %d, want 401", r.Status)
	}
	newAccess, _ := c.logIn("forgetful@example.com", "Forgetful-new")
	c.must(200, "GET", "/api/v1/accounts/me", newAccess, nil)
	if r := c.do("POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": m[1], "password": "yet another password"}); r.Status != 422 {
		t.Errorf("the link used again: %d, want 422", r.Status)
	}
	if n := countMail(t, smtp, "nobody-here@example.com", ""); n != 0 {
		t.Errorf("%d emails to an address without an account", n)
	}
}

// TestPasswordResetStory runs passwordResetStory through the all-in-one system.
func TestPasswordResetStory(t *testing.T) {
	c, smtp, _ := startSystem(t)
	passwordResetStory(t, c, smtp)
}
