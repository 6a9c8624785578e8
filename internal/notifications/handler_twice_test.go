package notifications_test

import (
	"net/http"
	"testing"
)

// Handler may be called any number of times: the request metrics are registered once, when
// the service is built, so a second call neither panics nor breaks the first handler.
func TestHandlerTwice(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := e.h
	second := e.svc.Handler()
	for name, h := range map[string]http.Handler{"first": first, "second": second} {
		e.h = h
		if w := e.do(t, alice, "GET", "/api/v1/notifications/nope", nil); w.Code != http.StatusNotFound {
			t.Errorf("%s handler: GET of an unknown reminder = %d %s, want 404", name, w.Code, w.Body)
		}
	}
}
