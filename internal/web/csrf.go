package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// csrfField is the name of the hidden form field that carries the CSRF token.
const csrfField = "csrf"

// csrfTokenLength is the length of a CSRF token: 32 random bytes, base64url without padding.
const csrfTokenLength = 43

// newCSRFToken returns a fresh random CSRF token.
func newCSRFToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails: it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// validCSRFToken reports whether s has the shape of a token newCSRFToken makes.
func validCSRFToken(s string) bool {
	if len(s) != csrfTokenLength {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// checkCSRF reports whether the form post r may be acted on: it must come from a page of
// this site (Sec-Fetch-Site and Origin, when the browser sends them) and carry in its form
// the token of the browser's CSRF cookie (a synchronizer token, compared in constant time).
// r's form must be parsed.
func (u *UI) checkCSRF(r *http.Request) (bool, string) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false, "cross-site request (Sec-Fetch-Site: " + site + ")"
	}
	if origin := r.Header.Get("Origin"); origin != "" && !u.sameOrigin(r, origin) {
		return false, "foreign origin"
	}
	cookie := u.cookieValue(r, cookieCSRF)
	form := r.PostForm.Get(csrfField)
	if cookie == "" || form == "" {
		return false, "missing token"
	}
	if subtle.ConstantTimeCompare([]byte(cookie), []byte(form)) != 1 {
		return false, "token mismatch"
	}
	return true, ""
}

// sameOrigin reports whether origin, an Origin header, is this site: the host the request
// was sent to, or the origin of the configured public URL.
func (u *UI) sameOrigin(r *http.Request, origin string) bool {
	if origin == "null" {
		return false
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	if u.publicOrigin != "" && strings.EqualFold(origin, u.publicOrigin) {
		return true
	}
	return strings.EqualFold(o.Host, r.Host)
}

// csrfExempt reports whether the form post r is the one that needs no CSRF token nor a
// same-origin check: the POST of an unsubscribe link, /unsubscribe/{token}. Mail providers
// send it from their servers, with no cookies and no form (RFC 8058 one-click), and it can
// do nothing but what the secret token of its own URL names.
func csrfExempt(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.URL.EscapedPath(), "/unsubscribe/")
	return ok && r.Method == http.MethodPost && token != "" && !strings.Contains(token, "/")
}
