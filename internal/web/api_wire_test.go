package web

import (
	"testing"

	"github.com/eventpost/eventpost/internal/messages/wiretest"
)

// TestEventReadsTheRESTEvent checks that the web UI reads the public API's Event field for
// field.
func TestEventReadsTheRESTEvent(t *testing.T) {
	wiretest.Check[event](t, wiretest.Event())
}
