package app_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// startSystem starts the all-in-one system on random loopback ports with mail going to a real
// SMTP server inside the test.
func startSystem(t *testing.T) (*client, *smtptest.Server, *app.System) {
	t.Helper()
	return startSystemWith(t, nil)
}

// startSystemWith is startSystem with the configuration edited by configure (when not nil).
func startSystemWith(t *testing.T, configure func(*app.Config)) (*client, *smtptest.Server, *app.System) {
	t.Helper()
	smtp := smtptest.Start(t)
	cfg := app.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), PublicURL: "http://eventpost.test",
		SMTPURL: smtp.URL(), MailFrom: "EventPost <no-reply@eventpost.test>",
		RateLimit: 10000, RateBurst: 10000, ShutdownTimeout: 5 * time.Second, InProcessTransport: true,
	}
	if configure != nil {
		configure(&cfg)
	}
	sys, err := app.Start(context.Background(), cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	c := newClient(t, sys.URL)
	c.mail = smtp
	c.waitReady()
	return c, smtp, sys
}

// TestUserStory walks the whole user story through the gateway of the all-in-one system,
// whose gateway reaches the services in process (the default) or over their loopback
// sockets: the same answers either way, each checked against the OpenAPI document.
func TestUserStory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end story: skipped with -short")
	}
	for _, tc := range []struct {
		name      string
		inProcess bool
	}{{"in process", true}, {"sockets", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the story mostly waits for reminders to fall due
			c, smtp, _ := startSystemWith(t, func(cfg *app.Config) { cfg.InProcessTransport = tc.inProcess })
			userStory(t, c, smtp)
		})
	}
}

// userStory walks the whole user story through the gateway at c, reading the mail that
// reaches smtp: sign-up and welcome, log-in, events and search, reminders both ways arriving
// on time with their .ics, moving and deleting events and the mails that follow, refresh
// rotation and reuse, logout, and account deletion with what it removes.
func userStory(t *testing.T, c *client, smtp *smtptest.Server) {

	// Sign up: the welcome mail arrives, complete.
	alice, _ := c.signUpAndLogIn("alice@example.com", "Alice")
	_, welcome := mailTo(t, smtp, "alice@example.com", "Welcome")
	if welcome.Text == "" || welcome.HTML == "" || welcome.Get("Message-Id") == "" || welcome.Get("Date") == "" {
		t.Errorf("welcome mail lacks a part or header: text %d bytes, html %d bytes, headers %v",
			len(welcome.Text), len(welcome.HTML), welcome.Header)
	}
	c.must(409, "POST", "/api/v1/accounts", "", map[string]any{"email": "ALICE@example.com", "password": "another password", "display_name": "A"})
	bob, bobRefresh := c.signUpAndLogIn("bob@example.com", "Bob")
	me := c.must(200, "GET", "/api/v1/accounts/me", bob, nil)
	if me["email"] != "bob@example.com" || me["display_name"] != "Bob" {
		t.Errorf("GET /accounts/me = %v", me)
	}

	// Alice publishes events; writes need a token.
	now := time.Now()
	c.must(401, "POST", "/api/v1/events", "", map[string]any{"title": "x", "starts_at": rfc3339(now.Add(time.Hour))})
	jazzStart := now.Add(time.Minute + 5*time.Second).Truncate(time.Second)
	jazz := c.must(201, "POST", "/api/v1/events", alice, map[string]any{
		"title": "Rooftop jazz night", "description": "Live quartet on the roof.",
		"starts_at": jazzStart.In(time.FixedZone("CET", 3600)).Format(time.RFC3339), "timezone": "Europe/Berlin",
		"location": map[string]any{"name": "Sky Bar", "address": "Alexanderplatz 1, Berlin", "lat": 52.5219, "lon": 13.4132},
		"category": "music", "tags": []string{"Jazz", "live"},
	})
	games := c.must(201, "POST", "/api/v1/events", alice, map[string]any{
		"title": "Board games meetup", "starts_at": rfc3339(now.Add(48 * time.Hour)), "tags": []string{"games"},
		"online_url": "https://meet.example/games",
	})
	talk := c.must(201, "POST", "/api/v1/events", alice, map[string]any{
		"title": "Go talk", "starts_at": rfc3339(now.Add(72 * time.Hour)), "timezone": "America/New_York", "category": "tech",
	})
	jazzID, gamesID, talkID := jazz["id"].(string), games["id"].(string), talk["id"].(string)
	if jazz["starts_at"] != jazzStart.UTC().Format(time.RFC3339) {
		t.Errorf("starts_at answered %v, want %s in UTC", jazz["starts_at"], jazzStart.UTC().Format(time.RFC3339))
	}

	// Search.
	search := func(query string) []string {
		t.Helper()
		page := c.must(200, "GET", "/api/v1/events?"+query, "", nil)
		var ids []string
		for _, it := range page["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		return ids
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{jazzID, gamesID, talkID}},
		{"q=JAZZ", []string{jazzID}},
		{"q=quartet", []string{jazzID}},
		{"tag=jazz&tag=live", []string{jazzID}},
		{"category=tech", []string{talkID}},
		{"near=52.52,13.40&radius_km=5", []string{jazzID}},
		{"from=" + url.QueryEscape(rfc3339(now.Add(24*time.Hour))) + "&to=" + url.QueryEscape(rfc3339(now.Add(60*time.Hour))), []string{gamesID}},
		{"q=nothing-matches-this", nil},
	} {
		if got := search(tt.query); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("search %q = %v, want %v", tt.query, got, tt.want)
		}
	}
	page1 := c.must(200, "GET", "/api/v1/events?limit=2", "", nil)
	cursor, _ := page1["next_cursor"].(string)
	if len(page1["items"].([]any)) != 2 || cursor == "" {
		t.Fatalf("first page of 2: %v", page1)
	}
	if got := search("limit=2&cursor=" + url.QueryEscape(cursor)); len(got) != 1 || got[0] != talkID {
		t.Errorf("second page = %v, want [%s]", got, talkID)
	}
	c.must(422, "GET", "/api/v1/events?limit=0", "", nil)

	ics := c.do("GET", "/api/v1/events/"+jazzID+"/ics", "", nil)
	if ics.Status != 200 || !strings.HasPrefix(ics.Header.Get("Content-Type"), "text/calendar") ||
		!strings.Contains(string(ics.Body), "UID:"+jazzID) {
		t.Errorf(".ics export: %d %s\n%s", ics.Status, ics.Header.Get("Content-Type"), ics.Body)
	}

	// Bob asks for reminders both ways.
	c.must(401, "POST", "/api/v1/notifications", "", map[string]any{"event_id": jazzID, "minutes_before": 1})
	c.must(404, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": "no-such-event", "minutes_before": 1})
	c.must(422, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": jazzID, "minutes_before": 1, "send_at": rfc3339(now.Add(time.Hour))})
	relative := c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": jazzID, "minutes_before": 1, "note": "Bring earplugs"})
	absAt := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	if absAt.Equal(jazzStart.Add(-time.Minute)) {
		absAt = absAt.Add(time.Second) // the same reminder as the relative one would be refused (409)
	}
	absolute := c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": jazzID, "send_at": rfc3339(absAt)})
	wantRelAt := jazzStart.Add(-time.Minute).UTC().Format(time.RFC3339)
	if relative["send_at"] != wantRelAt || relative["status"] != "scheduled" {
		t.Errorf("relative reminder = %v, want send_at %s and scheduled", relative, wantRelAt)
	}
	relID, absID := relative["id"].(string), absolute["id"].(string)
	c.must(404, "GET", "/api/v1/notifications/"+relID, alice, nil)

	// Both arrive on time, with the event as .ics and its start in the event's zone.
	for _, r := range []struct {
		id     string
		sendAt time.Time
	}{{absID, absAt}, {relID, jazzStart.Add(-time.Minute)}} {
		m, p := mailTo(t, smtp, "bob@example.com", "Reminder: Rooftop jazz night")
		_ = m
		eventually(t, 30*time.Second, "reminder "+r.id+" to be sent", func() bool {
			n := c.must(200, "GET", "/api/v1/notifications/"+r.id, bob, nil)
			return n["status"] == "sent"
		})
		n := c.must(200, "GET", "/api/v1/notifications/"+r.id, bob, nil)
		sentAt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(n["sent_at"]))
		if err != nil {
			t.Fatalf("sent_at of %s: %v", r.id, err)
		}
		if sentAt.Before(r.sendAt) {
			t.Errorf("reminder %s was sent at %s, before its time %s", r.id, sentAt, r.sendAt)
		}
		t.Logf("reminder %s: due %s, sent %s late", r.id, r.sendAt.Format(time.RFC3339), sentAt.Sub(r.sendAt))
		cal, ok := p.Attachments["event.ics"]
		if !ok || !strings.Contains(string(cal.Data), "UID:"+jazzID) {
			t.Errorf("reminder lacks the event's .ics attachment: %v", p.Attachments)
		}
		berlin, _ := time.LoadLocation("Europe/Berlin")
		if local := jazzStart.In(berlin).Format("15:04"); !strings.Contains(p.Text, local) || !strings.Contains(p.HTML, local) {
			t.Errorf("reminder does not show the start in Berlin time (%s):\n%s", local, p.Text)
		}
	}
	_, withNote := mailTo(t, smtp, "bob@example.com", "Reminder: Rooftop jazz night")
	if countMail(t, smtp, "bob@example.com", "Reminder: Rooftop jazz night") != 2 {
		t.Errorf("want exactly two reminder mails")
	}
	noteSeen := false
	for _, m := range smtp.Messages() {
		if p, _ := m.Parse(); strings.Contains(p.Text, "Bring earplugs") {
			noteSeen = true
		}
	}
	if !noteSeen {
		t.Errorf("no reminder carries the person's note; one of them:\n%s", withNote.Text)
	}

	// Moving an event moves relative reminders and tells their owners.
	talkRem := c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": talkID, "minutes_before": 60})
	gamesRem := c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": gamesID, "minutes_before": 30})
	c.must(403, "PATCH", "/api/v1/events/"+talkID, bob, map[string]any{"title": "Mine now"})
	newTalkStart := now.Add(74 * time.Hour)
	moved := c.must(200, "PATCH", "/api/v1/events/"+talkID, alice, map[string]any{"starts_at": rfc3339(newTalkStart), "description": "Moved by two hours."})
	if moved["starts_at"] != rfc3339(newTalkStart) || moved["title"] != "Go talk" {
		t.Errorf("patched event = %v", moved)
	}
	wantTalkAt := rfc3339(newTalkStart.Add(-time.Hour))
	eventually(t, 30*time.Second, "the talk reminder to move", func() bool {
		return c.must(200, "GET", "/api/v1/notifications/"+talkRem["id"].(string), bob, nil)["send_at"] == wantTalkAt
	})
	mailTo(t, smtp, "bob@example.com", "Changed: Go talk")

	// Deleting an event cancels its reminders and tells their owners.
	c.must(403, "DELETE", "/api/v1/events/"+talkID, bob, nil)
	c.must(204, "DELETE", "/api/v1/events/"+talkID, alice, nil)
	c.must(404, "GET", "/api/v1/events/"+talkID, "", nil)
	eventually(t, 30*time.Second, "the talk reminder to be cancelled", func() bool {
		return c.must(200, "GET", "/api/v1/notifications/"+talkRem["id"].(string), bob, nil)["status"] == "cancelled"
	})
	mailTo(t, smtp, "bob@example.com", "Cancelled: Go talk")
	scheduled := c.must(200, "GET", "/api/v1/notifications?status=scheduled", bob, nil)
	if list := scheduled["items"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != gamesRem["id"] {
		t.Errorf("Bob's scheduled reminders = %v, want only the games one", list)
	}
	if scheduled["next_cursor"] != nil {
		t.Errorf("next_cursor = %v on the only page, want null", scheduled["next_cursor"])
	}
	// The list pages: a page of one at a time gives the whole list, in its order.
	whole := c.must(200, "GET", "/api/v1/notifications?limit=100", bob, nil)["items"].([]any)
	if len(whole) < 2 {
		t.Fatalf("Bob holds %d reminders, want at least 2 to page through", len(whole))
	}
	var paged []any
	for path := "/api/v1/notifications?limit=1"; ; {
		page := c.must(200, "GET", path, bob, nil)
		paged = append(paged, page["items"].([]any)...)
		next, ok := page["next_cursor"].(string)
		if !ok || len(paged) > len(whole) {
			break
		}
		path = "/api/v1/notifications?limit=1&cursor=" + url.QueryEscape(next)
	}
	if diff := cmp.Diff(whole, paged); diff != "" {
		t.Errorf("Bob's reminders a page of one at a time (-whole +paged):\n%s", diff)
	}
	c.must(422, "GET", "/api/v1/notifications?cursor=not-a-cursor", bob, nil)
	c.must(422, "GET", "/api/v1/notifications?limit=0", bob, nil)
	c.must(422, "GET", "/api/v1/notifications?limit=101", bob, nil)

	// Refresh tokens rotate; reusing one revokes the whole login.
	pair := c.must(200, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": bobRefresh})
	c.must(200, "GET", "/api/v1/accounts/me", pair["access_token"].(string), nil)
	c.must(401, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": bobRefresh})
	c.must(401, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": pair["refresh_token"]})
	c.must(401, "GET", "/api/v1/accounts/me", pair["access_token"].(string), nil)
	c.must(401, "GET", "/api/v1/accounts/me", bob, nil)

	// Logout revokes that login.
	bob, bobRefresh = c.logIn("bob@example.com", "Bob")
	c.must(204, "POST", "/api/v1/auth/logout", bob, map[string]any{"refresh_token": bobRefresh})
	c.must(401, "GET", "/api/v1/notifications", bob, nil)
	c.must(401, "POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": bobRefresh})
	bob, _ = c.logIn("bob@example.com", "Bob")

	// Deleting an account refuses its tokens at once and removes its events; reminders for
	// them are cancelled and their owners told.
	c.must(401, "DELETE", "/api/v1/accounts/me", alice, map[string]any{"current_password": "not Alice's"})
	c.must(204, "DELETE", "/api/v1/accounts/me", alice, map[string]any{"current_password": "correct horse Alice"})
	c.must(401, "GET", "/api/v1/accounts/me", alice, nil)
	c.must(401, "POST", "/api/v1/events", alice, map[string]any{"title": "x", "starts_at": rfc3339(now.Add(time.Hour))})
	c.must(401, "POST", "/api/v1/auth/token", "", map[string]any{"email": "alice@example.com", "password": "correct horse Alice"})
	eventually(t, 30*time.Second, "Alice's events to be deleted", func() bool {
		return c.do("GET", "/api/v1/events/"+gamesID, "", nil).Status == 404
	})
	if got := search("organizer_id=" + url.QueryEscape(jazz["organizer_id"].(string))); len(got) != 0 {
		t.Errorf("Alice's events still listed: %v", got)
	}
	eventually(t, 30*time.Second, "Bob's games reminder to be cancelled", func() bool {
		return c.must(200, "GET", "/api/v1/notifications/"+gamesRem["id"].(string), bob, nil)["status"] == "cancelled"
	})
	mailTo(t, smtp, "bob@example.com", "Cancelled: Board games meetup")

	// Nothing was sent twice.
	for _, subject := range []string{"Welcome", "Changed: Go talk", "Cancelled: Go talk", "Cancelled: Board games meetup"} {
		for _, to := range []string{"alice@example.com", "bob@example.com"} {
			if n := countMail(t, smtp, to, subject); n > 1 {
				t.Errorf("%d mails %q to %s, want at most one", n, subject, to)
			}
		}
	}
	if n := countMail(t, smtp, "alice@example.com", "Cancelled"); n != 0 {
		t.Errorf("the deleted account was mailed %d cancellations", n)
	}
}
