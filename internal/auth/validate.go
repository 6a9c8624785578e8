package auth

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Limits on account fields.
const (
	maxEmailBytes       = 254
	minPasswordRunes    = 8
	maxPasswordRunes    = 128
	maxDisplayNameRunes = 80
)

// SignUpInput is what a person gives to create an account.
type SignUpInput struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// validate checks in and returns it normalized (email and display name trimmed), or a
// *validation.Error naming every invalid field.
func (in SignUpInput) validate() (SignUpInput, error) {
	var errs validation.List
	in.Email = strings.TrimSpace(in.Email)
	if msg := checkEmail(in.Email); msg != "" {
		errs.Add("email", msg)
	}
	if msg := checkPassword(in.Password); msg != "" {
		errs.Add("password", msg)
	}
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if msg := checkDisplayName(in.DisplayName); msg != "" {
		errs.Add("display_name", msg)
	}
	return in, errs.Err()
}

// checkEmail returns what is wrong with a trimmed email address, or "".
func checkEmail(email string) string {
	switch {
	case email == "":
		return "is required"
	case len(email) > maxEmailBytes:
		return "must be at most 254 bytes"
	case !utf8.ValidString(email):
		return "must be valid UTF-8"
	case hasControl(email):
		return "must not contain control characters"
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "must be a plain email address such as name@example.com"
	}
	return ""
}

// checkPassword returns what is wrong with a password, or "".
func checkPassword(password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return "is required"
	case n < minPasswordRunes:
		return "must be at least 8 characters"
	case n > maxPasswordRunes:
		return "must be at most 128 characters"
	}
	return ""
}

// checkDisplayName returns what is wrong with a trimmed display name, or "".
func checkDisplayName(name string) string {
	switch {
	case name == "":
		return "is required"
	case utf8.RuneCountInString(name) > maxDisplayNameRunes:
		return "must be at most 80 characters"
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case hasControl(name):
		return "must not contain control characters"
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// emailKey is the form under which an email address is unique: trimmed and lower-cased.
func emailKey(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// requireFields returns a *validation.Error naming each of the given fields whose value is
// empty.
func requireFields(fields ...[2]string) error {
	var errs validation.List
	for _, f := range fields {
		if f[1] == "" {
			errs.Add(f[0], "is required")
		}
	}
	return errs.Err()
}
