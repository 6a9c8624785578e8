package auth_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/eventpost/eventpost/internal/auth"
)

// BenchmarkLogin measures POST /api/v1/auth/token, whose cost is one argon2id verification
// (m=19456 KiB, t=2, p=1). The unknown-email and wrong-password cases should cost about the
// same as each other and as a success: that is what keeps account existence from leaking
// through timing.
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b, func(c *auth.Config) { c.AccountFailureLimit, c.AddressFailureLimit = 1<<30, 1<<30 })
	e.signUp(adaEmail, adaPassword, "Ada")
	cases := []struct {
		name, email, password string
		want                  int
	}{
		{"success", adaEmail, adaPassword, http.StatusOK},
		{"wrong_password", adaEmail, "wrong password", http.StatusUnauthorized},
		{"unknown_email", "nobody@example.com", adaPassword, http.StatusUnauthorized},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if rec := e.loginRec(c.email, c.password, fmt.Sprintf("10.0.%d.%d", i/250, i%250)); rec.Code != c.want {
					b.Fatalf("status %d, want %d", rec.Code, c.want)
				}
			}
		})
	}
}

// BenchmarkRefresh measures a refresh-token rotation: no password hashing, two writes.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b)
	e.signUp(adaEmail, adaPassword, "Ada")
	token := e.login(adaEmail, adaPassword).RefreshToken
	for b.Loop() {
		rec := e.refreshRec(token)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		token = decode[auth.TokenPair](b, rec).RefreshToken
	}
}
