package events_test

import (
	"net/http"
	"testing"
)

// Handler may be called any number of times: the request metrics are registered once, when
// the service is built, so a second call neither panics nor breaks the first handler.
func TestHandlerTwice(t *testing.T) {
	f := newFixture(t)
	first := f.handler
	second := f.svc.Handler()
	for name, h := range map[string]http.Handler{"first": first, "second": second} {
		f.handler = h
		if w := f.do(t, request{method: "GET", path: "/api/v1/events/nope"}); w.Code != http.StatusNotFound {
			t.Errorf("%s handler: GET of an unknown event = %d %s, want 404", name, w.Code, w.Body)
		}
	}
}
