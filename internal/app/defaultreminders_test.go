package app_test

import (
	"slices"
	"testing"
	"time"
)

// TestDefaultRemindersThroughTheGateway runs defaultRemindersStory through the gateway of the
// all-in-one system.
func TestDefaultRemindersThroughTheGateway(t *testing.T) {
	c, _, _ := startSystem(t)
	defaultRemindersStory(t, c)
}

// defaultRemindersStory: an event has default reminders 1440 and 60; a person who goes gets
// exactly those two reminders, as their own; when the event moves, both move; when the person
// leaves, both are cancelled. (That a repeated attendance.changed creates them once is
// checked at the consumer, in internal/notifications: here each message is delivered as the
// broker delivers it.)
func defaultRemindersStory(t *testing.T, c *client) {
	organizer, _ := c.signUpAndLogIn("defaults-organizer@example.com", "Defaults Organizer")
	person, _ := c.signUpAndLogIn("defaults-person@example.com", "Defaults Person")
	other, _ := c.signUpAndLogIn("defaults-other@example.com", "Defaults Other")
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	ev := c.must(201, "POST", "/api/v1/events", organizer, map[string]any{
		"title": "Talk with defaults", "starts_at": rfc3339(start), "default_reminders": []int{1440, 60},
	})
	id := ev["id"].(string)
	if d, _ := ev["default_reminders"].([]any); !slices.Equal(d, []any{float64(1440), float64(60)}) {
		t.Fatalf("created event's default_reminders: %v", ev["default_reminders"])
	}

	type reminder struct {
		minutes float64
		sendAt  time.Time
		status  string
	}
	// reminders returns the person's reminders of the event, soonest first.
	reminders := func(token string) []reminder {
		t.Helper()
		var out []reminder
		for _, it := range c.must(200, "GET", "/api/v1/notifications?limit=100", token, nil)["items"].([]any) {
			n := it.(map[string]any)
			if n["event_id"] != id {
				continue
			}
			if n["email"] != "defaults-person@example.com" {
				t.Errorf("a default reminder to %v, want the person's own address", n["email"])
			}
			at, err := time.Parse(time.RFC3339Nano, n["send_at"].(string))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := n["minutes_before"].(float64)
			out = append(out, reminder{m, at.UTC(), n["status"].(string)})
		}
		return out
	}
	expect := func(start time.Time, status string) []reminder {
		return []reminder{
			{1440, start.Add(-24 * time.Hour), status},
			{60, start.Add(-time.Hour), status},
		}
	}

	c.must(200, "PUT", "/api/v1/events/"+id+"/attendance", person, map[string]any{"status": "going"})
	c.must(200, "PUT", "/api/v1/events/"+id+"/attendance", other, map[string]any{"status": "interested"})
	want := expect(start, "scheduled")
	eventually(t, 30*time.Second, "the two default reminders of the person who goes", func() bool {
		return slices.Equal(reminders(person), want)
	})
	// Going again changes nothing; the interested person has none.
	c.must(200, "PUT", "/api/v1/events/"+id+"/attendance", person, map[string]any{"status": "going"})
	if got := reminders(other); len(got) != 0 {
		t.Errorf("the interested person has reminders: %v", got)
	}

	moved := start.Add(24 * time.Hour)
	c.must(200, "PATCH", "/api/v1/events/"+id, organizer, map[string]any{"starts_at": rfc3339(moved)})
	want = expect(moved, "scheduled")
	eventually(t, 30*time.Second, "both reminders moving with the event", func() bool {
		return slices.Equal(reminders(person), want)
	})

	c.must(204, "DELETE", "/api/v1/events/"+id+"/attendance", person, nil)
	want = expect(moved, "cancelled")
	eventually(t, 30*time.Second, "both reminders cancelled when the person leaves", func() bool {
		return slices.Equal(reminders(person), want)
	})
}
