package web

import (
	"testing"

	"github.com/eventpost/eventpost/internal/messages/wiretest"
)

// TestEventReadsTheRESTEvent checks that the web UI reads the public API's Event field for
// field, but the attendance counts, the organizer and the default reminders, which it does not
// show yet.
func TestEventReadsTheRESTEvent(t *testing.T) {
	wiretest.Check[event](t, wiretest.Event(), "going_count", "interested_count", "spots_left",
		"organizer.id", "organizer.display_name", "default_reminders")
}
