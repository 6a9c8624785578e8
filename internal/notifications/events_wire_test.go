package notifications

import (
	"testing"

	"github.com/eventpost/eventpost/internal/messages/wiretest"
)

// TestEventAnswerReadsTheRESTEvent checks that notifications reads the events service's
// REST Event field for field, capacity aside.
func TestEventAnswerReadsTheRESTEvent(t *testing.T) {
	wiretest.Check[eventAnswer](t, wiretest.Event(), "capacity")
}
