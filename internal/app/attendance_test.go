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

// attendanceSize sizes an attendance story: people answer going at once to an event with
// places places, and the organizer reads the attendees pageSize at a time.
type attendanceSize struct{ people, places, pageSize int }

// The distributed system's story is sized as the store contract suite (200 sign-ups take 17 s
// there). In the all-in-one system the auth service runs in the test binary, whose race
// detector makes each password hash cost 0.7 s instead of 0.1 s: 200 sign-ups and logins took
// 4 min 23 s in a full run, and 40 took 55 s beside the fuzz stage: it has 24 people, three
// pages of them.
var (
	distributedAttendance = attendanceSize{people: 200, places: 50, pageSize: 100}
	allInOneAttendance    = attendanceSize{people: 24, places: 8, pageSize: 10}
)

// TestAttendanceThroughTheGateway runs attendanceStory through the gateway of the all-in-one
// system.
func TestAttendanceThroughTheGateway(t *testing.T) {
	// 200 requests at once make the gateway dial connections to the events service that it
	// may never use; a server's graceful shutdown waits up to 5 s for such new connections, so
	// the system gets more time to stop than the default.
	c, smtp, _ := startSystemWith(t, func(cfg *app.Config) { cfg.ShutdownTimeout = 15 * time.Second })
	attendanceStory(t, c, smtp, allInOneAttendance)
}

// attendanceStory has size.people people go to an event with size.places places at once:
// exactly size.places are going, the others waitlisted at positions 1 to N without gaps;
// when one going person leaves, the first waitlisted is going and gets one waitlist_promoted
// email (their address confirmed first).
func attendanceStory(t *testing.T, c *client, smtp *smtptest.Server, size attendanceSize) {
	c.mail = nil // the addresses need no confirmation here, but the first waitlisted person's
	defer func() { c.mail = smtp }()
	organizer, _ := c.signUpAndLogIn("organizer@example.com", "Organizer")
	ev := c.must(201, "POST", "/api/v1/events", organizer, map[string]any{
		"title": "Small room", "starts_at": rfc3339(time.Now().Add(48 * time.Hour)), "capacity": size.places,
	})
	id := ev["id"].(string)
	// The events service learns the organizer's name from auth's account.changed.
	eventually(t, 30*time.Second, "the organizer's name on the event", func() bool {
		o, _ := c.must(200, "GET", "/api/v1/events/"+id, "", nil)["organizer"].(map[string]any)
		return o["display_name"] == "Organizer"
	})

	start := time.Now()
	tokens := make([]string, size.people)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				tokens[i], _ = c.signUpAndLogIn(fmt.Sprintf("person%03d@example.com", i), fmt.Sprintf("Person %03d", i))
			}
		})
	}
	for i := range size.people {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d sign-ups took %s", size.people, time.Since(start))

	start = time.Now()
	answers := make([]response, size.people)
	for i, token := range tokens {
		wg.Go(func() {
			answers[i] = c.do("PUT", "/api/v1/events/"+id+"/attendance", token, map[string]any{"status": "going"})
		})
	}
	wg.Wait()
	t.Logf("%d answers to going at once took %s", size.people, time.Since(start))
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
	if len(going) != size.places || len(waitlist) != size.people-size.places {
		t.Fatalf("%d going, %d distinct waitlist positions; want %d and %d", len(going), len(waitlist),
			size.places, size.people-size.places)
	}
	for p := 1; p <= size.people-size.places; p++ {
		if _, ok := waitlist[float64(p)]; !ok {
			t.Fatalf("no one at waitlist position %d", p)
		}
	}
	attendees := func() []any { // every page the organizer reads
		var all []any
		path := fmt.Sprintf("/api/v1/events/%s/attendees?limit=%d", id, size.pageSize)
		for pages := 1; ; pages++ {
			page := c.must(200, "GET", path, organizer, nil)
			all = append(all, page["items"].([]any)...)
			next, ok := page["next_cursor"].(string)
			if !ok || pages > size.people/size.pageSize+1 {
				return all
			}
			path = fmt.Sprintf("/api/v1/events/%s/attendees?limit=%d&cursor=%s", id, size.pageSize, next)
		}
	}
	if seen := len(attendees()); seen != size.people {
		t.Fatalf("the organizer sees %d attendees, want %d", seen, size.people)
	}
	c.must(403, "GET", "/api/v1/events/"+id+"/attendees", tokens[0], nil)

	got := c.must(200, "GET", "/api/v1/events/"+id, "", nil)
	if got["going_count"] != float64(size.places) || got["interested_count"] != float64(0) || got["spots_left"] != float64(0) {
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
		for _, a := range attendees() {
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
	attendanceStory(t, c, smtp, distributedAttendance)
	defaultRemindersStory(t, c)
	calendarFeedStory(t, c)
}
