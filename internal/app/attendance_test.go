package app_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
)

// attendancePeople and attendancePlaces size TestAttendanceThroughTheGateway, as in the store
// contract suite (200 sign-ups take about 6 s here).
const attendancePeople, attendancePlaces = 200, 50

// TestAttendanceThroughTheGateway has attendancePeople people go to an event with
// attendancePlaces places at once, through the gateway of the all-in-one system: exactly
// attendancePlaces are going, the others waitlisted at positions 1 to N without gaps; when
// one going person leaves, the first waitlisted is going.
func TestAttendanceThroughTheGateway(t *testing.T) {
	// 200 requests at once make the gateway dial connections to the events service that it
	// may never use; a server's graceful shutdown waits up to 5 s for such new connections, so
	// the system gets more time to stop than the default.
	c, _, _ := startSystemWith(t, func(cfg *app.Config) { cfg.ShutdownTimeout = 15 * time.Second })
	c.mail = nil // the addresses need no confirmation here
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

	answers := make([]response, attendancePeople)
	for i, token := range tokens {
		wg.Go(func() {
			answers[i] = c.do("PUT", "/api/v1/events/"+id+"/attendance", token, map[string]any{"status": "going"})
		})
	}
	wg.Wait()
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

	c.must(204, "DELETE", "/api/v1/events/"+id+"/attendance", tokens[going[0]], nil)
	first := waitlist[1]
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
}
