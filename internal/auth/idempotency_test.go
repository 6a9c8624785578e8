package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// signUpWithKey signs up anonymously from clientIP with the Idempotency-Key key.
func (e *env) signUpWithKey(clientIP, key, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/accounts", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(idempotency.Header, key)
	e.keys.Sign(req, "gateway", "auth", svcauth.Claims{ClientIP: clientIP})
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *env) outboxLen() int {
	e.t.Helper()
	msgs, err := outbox.Pending(context.Background(), e.store.DB())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(msgs)
}

func TestSignUpWithIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := jsonBody(t, map[string]string{"email": "ada@example.com", "password": "long enough", "display_name": "Ada"})

	first := e.signUpWithKey("192.0.2.1", "signup-1", body)
	wantStatus(t, first, http.StatusCreated)
	sent := e.outboxLen()
	second := e.signUpWithKey("192.0.2.1", "signup-1", body)
	wantStatus(t, second, http.StatusCreated) // not 409: the first answer, again
	if got := second.Header().Get(idempotency.ReplayedHeader); got != "true" {
		t.Errorf("second: %s = %q, want true", idempotency.ReplayedHeader, got)
	}
	if second.Body.String() != first.Body.String() || second.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("second answer %s (Location %q), want the first's %s (Location %q)",
			second.Body, second.Header().Get("Location"), first.Body, first.Header().Get("Location"))
	}
	if n := e.outboxLen(); n != sent {
		t.Errorf("the replay added %d outbox messages", n-sent)
	}
	if _, err := e.store.AccountByEmail(context.Background(), "ada@example.com"); err != nil {
		t.Errorf("account: %v", err)
	}

	other := e.signUpWithKey("192.0.2.1", "signup-1", strings.Replace(body, "Ada", "Bob", 1))
	wantStatus(t, other, http.StatusUnprocessableEntity)
	bad := e.signUpWithKey("192.0.2.1", "", body)
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	for name, rec := range map[string]*httptest.ResponseRecorder{"other body": other, "empty key": bad} {
		if !strings.Contains(rec.Body.String(), `"field":"`+idempotency.Header+`"`) {
			t.Errorf("%s: %s does not name %s", name, rec.Body, idempotency.Header)
		}
	}

	// The key of an anonymous caller is its address's: from another address the same
	// request runs, and finds the email taken.
	wantStatus(t, e.signUpWithKey("198.51.100.7", "signup-1", body), http.StatusConflict)
	if n := e.outboxLen(); n != sent {
		t.Errorf("refused requests added %d outbox messages", n-sent)
	}
}
