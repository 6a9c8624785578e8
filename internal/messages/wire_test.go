package messages_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/messages/wiretest"
)

// TestEventCarriesTheRESTEvent checks that the broker's Event holds every field of the REST
// Event but capacity, the attendance counts (going_count, interested_count, spots_left) and
// the organizer's name (organizer), which no consumer of the broker reads.
func TestEventCarriesTheRESTEvent(t *testing.T) {
	wiretest.Check[messages.Event](t, wiretest.Event(), notCarried...)
}

// TestSnapshotCopiesEveryField checks that events.Event.Snapshot, the producer of the
// broker's Event, copies every field of the REST Event but those notCarried.
func TestSnapshotCopiesEveryField(t *testing.T) {
	e := wiretest.Event()
	var served, snapshot map[string]any
	decode := func(v any, into *map[string]any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatal(err)
		}
	}
	decode(e, &served)
	decode(e.Snapshot(), &snapshot)
	for _, k := range notCarried {
		top, _, _ := strings.Cut(k, ".")
		delete(served, top)
	}
	if diff := cmp.Diff(served, snapshot); diff != "" {
		t.Errorf("Snapshot (-REST event +snapshot):\n%s", diff)
	}
}

// notCarried are the fields of the REST Event that the broker's Event leaves out. The
// default reminders travel in attendance.changed, beside the event.
var notCarried = []string{
	"capacity", "going_count", "interested_count", "spots_left", "organizer.id", "organizer.display_name",
	"default_reminders",
}
