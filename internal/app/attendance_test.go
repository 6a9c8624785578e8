package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// attendancePeople and attendancePlaces size TestAttendanceThroughTheGateway, as in the store
// contract suite (200 sign-ups take about 6 s here).
const attendancePeople, attendancePlaces = 200, 50

// TestAttendanceThroughTheGateway runs attendanceStory through the gateway of the all-in-one
// system.
func TestAttendanceThroughTheGateway(t *testing.T) {
	// 200 requests at once make the gateway dial connections to the events service that it
	// may never use; a server's graceful shutdown waits up to 5 s for such new connections, so
	// the system gets more time to stop than the default.
	c, smtp, _ := startSystemWith(t, func(cfg *app.Config) { cfg.ShutdownTimeout = 15 * time.Second })
	attendanceStory(t, c, smtp)
}

// attendanceStory has attendancePeople people go to an event with attendancePlaces places at
// once: exactly attendancePlaces are going, the others waitlisted at positions 1 to N
// without gaps; when one going person leaves, the first waitlisted is going and gets one
// waitlist_promoted email (their address confirmed first).
func attendanceStory(t *testing.T, c *client, smtp *smtptest.Server) {
	c.mail = nil // the addresses need no confirmation here, but the first waitlisted person's
	defer func() { c.mail = smtp }()
	organizer, _ := c.signUpAndLogIn("organizer@example.com", "Organizer")
	ev := c.must(201, "POST", "/api/v1/events", organizer, map[string]any{
		"title": "Small room", "starts_at": rfc3339(time.Now().Add(48 * time.Hour)), "capacity": attendancePlaces,
	})
	id := ev["id"].(string)
	// The events service learns the organizer's name from auth's account.changed.
	eventually(t, 30*time.Second, "the organizer's name on the event", func() bool {
		o, _ := c.must(200, "GET", "/api/v1/events/"+id, "", nil)["organizer"].(map[string]any)
		return o["display_name"] == "Organizer"
	})

	start := time.Now()
	tokens := make([]string, attendancePeople)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				tokens[i], _ = c.signUpAndLogIn(fmt.Sprintf("person%03d@example.com", i), fmt.Sprintf("Person %03d", i))
			}
		})
	}
	for i := range attendancePeople {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d sign-ups took %s", attendancePeople, time.Since(start))

	start = time.Now()
	answers := make([]response, attendancePeople)
	for i, token := range tokens {
		wg.Go(func() {
			answers[i] = c.do("PUT", "/api/v1/events/"+id+"/attendance", token, map[string]any{"status": "going"})
		})
	}
	wg.Wait()
	t.Logf("%d answers to going at once took %s", attendancePeople, time.Since(start))
	going, waitlist := []int{}, map[float64]int{}
	for i, r := range answers {
		if r.Status != http.StatusOK {
			t.Fatalf("person %d: %d %s", i, r.Status, r.Body)
		}
		a := r.JSON(t)
		switch a["status"] {
		case "going":
			going = append(going, i)
		case "waitlisted":
			waitlist[a["position"].(float64)] = i
		default:
			t.Fatalf("person %d: %v", i, a)
		}
	}
	if len(going) != attendancePlaces || len(waitlist) != attendancePeople-attendancePlaces {
		t.Fatalf("%d going, %d distinct waitlist positions; want %d and %d", len(going), len(waitlist),
			attendancePlaces, attendancePeople-attendancePlaces)
	}
	for p := 1; p <= attendancePeople-attendancePlaces; p++ {
		if _, ok := waitlist[float64(p)]; !ok {
			t.Fatalf("no one at waitlist position %d", p)
		}
	}
	seen, path := 0, "/api/v1/events/"+id+"/attendees?limit=100"
	for pages := 1; ; pages++ {
		page := c.must(200, "GET", path, organizer, nil)
		seen += len(page["items"].([]any))
		next, ok := page["next_cursor"].(string)
		if !ok || pages > attendancePeople/100+1 {
			break
		}
		path = "/api/v1/events/" + id + "/attendees?limit=100&cursor=" + next
	}
	if seen != attendancePeople {
		t.Fatalf("the organizer sees %d attendees, want %d", seen, attendancePeople)
	}
	c.must(403, "GET", "/api/v1/events/"+id+"/attendees", tokens[0], nil)

	got := c.must(200, "GET", "/api/v1/events/"+id, "", nil)
	if got["going_count"] != float64(attendancePlaces) || got["interested_count"] != float64(0) || got["spots_left"] != float64(0) {
		t.Errorf("the full event: going_count %v, interested_count %v, spots_left %v", got["going_count"], got["interested_count"], got["spots_left"])
	}

	// The first waitlisted person confirms the address and renames the account; the organizer
	// seeing the new name tells that the events service's copy of the account, which says
	// whether the address is confirmed, is as new as the confirmation.
	first := waitlist[1]
	firstEmail := fmt.Sprintf("person%03d@example.com", first)
	c.mail = smtp
	c.confirmAddress(firstEmail)
	c.must(200, "PATCH", "/api/v1/accounts/me", tokens[first], map[string]any{"display_name": "First in line"})
	eventually(t, 30*time.Second, "the events service knowing the first waitlisted person's new name", func() bool {
		page := c.must(200, "GET", "/api/v1/events/"+id+"/attendees?limit=100", organizer, nil)
		for _, a := range page["items"].([]any) {
			if a.(map[string]any)["display_name"] == "First in line" {
				return true
			}
		}
		return false
	})

	c.must(204, "DELETE", "/api/v1/events/"+id+"/attendance", tokens[going[0]], nil)
	mine := c.must(200, "GET", "/api/v1/accounts/me/attendance", tokens[first], nil)
	items := mine["items"].([]any)
	if len(items) != 1 || mine["next_cursor"] != nil {
		t.Fatalf("the first waitlisted person's attendance: %v", mine)
	}
	if a := items[0].(map[string]any); a["event_id"] != id || a["status"] != "going" || a["position"] != nil {
		t.Errorf("the first waitlisted person after a place freed: %v, want going", a)
	}
	second := c.must(200, "GET", "/api/v1/accounts/me/attendance", tokens[waitlist[2]], nil)
	if a := second["items"].([]any)[0].(map[string]any); a["status"] != "waitlisted" || a["position"] != float64(1) {
		t.Errorf("the second waitlisted person after a promotion: %v, want waitlisted at 1", a)
	}
	c.must(422, "GET", "/api/v1/accounts/me/attendance?cursor=nope", tokens[first], nil)
	c.must(204, "DELETE", "/api/v1/events/"+id+"/attendance", tokens[going[0]], nil)

	_, p := mailTo(t, smtp, firstEmail, "You have a place: Small room")
	if !strings.Contains(p.Text, "/events/"+id) || p.Attachments["event.ics"].Data == nil {
		t.Errorf("the promotion email lacks the event's link or its .ics:\n%s", p.Text)
	}
	if n := countMail(t, smtp, firstEmail, "You have a place"); n != 1 {
		t.Errorf("%d promotion emails to the first waitlisted person, want 1", n)
	}
	// No one else was promoted, so no one else is mailed; the second person (not confirmed)
	// would not be mailed anyway.
	if n := countMail(t, smtp, "@example.com", "You have a place"); n != 1 {
		t.Errorf("%d promotion emails in all, want 1", n)
	}
}

// TestDistributedAttendance runs attendanceStory, defaultRemindersStory and calendarFeedStory through the
// distributed system: two replicas of events (the race for the places is between them, on
// PostgreSQL), of notifications and of the email-sender, RabbitMQ between them.
func TestDistributedAttendance(t *testing.T) {
	smtp := smtptest.Start(t)
	_, c, _ := startCluster(t, smtp, map[string]int{discovery.Events: 2, discovery.Notifications: 2, discovery.Mailer: 2})
	attendanceStory(t, c, smtp)
	defaultRemindersStory(t, c)
	calendarFeedStory(t, c)
}
