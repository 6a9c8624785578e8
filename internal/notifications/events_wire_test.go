package notifications

import (
	"testing"

	"github.com/eventpost/eventpost/internal/messages/wiretest"
)

// TestEventAnswerReadsTheRESTEvent checks that notifications reads the events service's
// REST Event field for field, capacity, the attendance counts, the organizer and the default
// reminders (which attendance.changed carries) aside.
func TestEventAnswerReadsTheRESTEvent(t *testing.T) {
	wiretest.Check[eventAnswer](t, wiretest.Event(), "capacity", "going_count", "interested_count", "spots_left",
		"organizer.id", "organizer.display_name", "default_reminders")
}
