package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/web"
)

// loggedIn is the access cookie of the fake API's account.
var loggedIn = &http.Cookie{Name: "ep_access", Value: "a1"}

// wantIn checks that page holds every string of want, and none of wantNot.
func wantIn(t *testing.T, page string, want, wantNot []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	for _, w := range wantNot {
		if strings.Contains(page, w) {
			t.Errorf("the page holds %q", w)
		}
	}
}

// attendPanel returns the attendance panel of an event page.
func attendPanel(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<section class="attend-panel".*?</section>`).FindString(page)
	if m == "" {
		t.Fatal("the event page has no attendance panel")
	}
	return m
}

func TestEventPageShowsAttendance(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		cookies    []*http.Cookie
		attendance []map[string]any
		want       []string
		wantNot    []string
	}{
		{
			name: "a visitor sees the counts and a way to log in", event: "ev-cap",
			want: []string{"<strong>8</strong> going", "<strong>3</strong> interested", "12 places left",
				`href="/login?next=/events/ev-cap">Log in to go</a>`},
			wantNot: []string{"<form", "You are"},
		},
		{
			name: "someone who does not go yet", event: "ev-cap", cookies: []*http.Cookie{loggedIn},
			want: []string{"12 places left", `action="/events/ev-cap/attendance"`, `name="status" value="going" class="button">Going</button>`,
				`name="status" value="interested"`},
			wantNot: []string{"Log in to go", "You are", `action="/events/ev-cap/leave"`},
		},
		{
			name: "a full event offers the waitlist", event: "ev-full", cookies: []*http.Cookie{loggedIn},
			want:    []string{"Full — join the waitlist", `value="going" class="button">Join the waitlist</button>`},
			wantNot: []string{"places left"},
		},
		{
			name: "someone going", event: "ev-cap", cookies: []*http.Cookie{loggedIn},
			attendance: []map[string]any{{"event_id": "ev-cap", "status": "going", "position": nil}},
			want:       []string{"You are going", `action="/events/ev-cap/leave"`, ">Leave</button>", "Interested instead"},
			wantNot:    []string{`value="going"`},
		},
		{
			name: "someone on the waitlist", event: "ev-full", cookies: []*http.Cookie{loggedIn},
			attendance: []map[string]any{{"event_id": "ev-full", "status": "waitlisted", "position": 3}},
			want:       []string{"You are on the waitlist, position 3", "Leave the waitlist"},
			wantNot:    []string{`value="going"`},
		},
		{
			name: "someone interested", event: "ev-1", cookies: []*http.Cookie{loggedIn},
			attendance: []map[string]any{{"event_id": "ev-1", "status": "interested", "position": nil}},
			want:       []string{"You are interested", `value="going" class="button">Going</button>`, ">Leave</button>"},
			wantNot:    []string{`value="interested"`, "places left", "Full"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.attendance = tt.attendance
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("GET", "/events/"+tt.event, nil, tt.cookies...))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			page := body(t, resp)
			wantIn(t, attendPanel(t, page), tt.want, tt.wantNot)
			// The organizer's name, escaped, links to their events.
			wantIn(t, page, []string{`Organized by <a href="/?organizer_id=someone-else" class="organizer-link">Lena &lt;Vogt&gt;</a>`}, nil)
		})
	}
}

// TestEventPageFindsTheViewersAttendance checks that the event page pages through the
// viewer's attendances (100 a page, at most 3 pages) and, past them, offers every action.
func TestEventPageFindsTheViewersAttendance(t *testing.T) {
	tests := []struct {
		name      string
		filler    int
		wantCalls int
		want      []string
		wantNot   []string
	}{
		{name: "on the second page", filler: 150, wantCalls: 2, want: []string{"You are going"}, wantNot: []string{`value="going"`}},
		{name: "on the third page", filler: 250, wantCalls: 3, want: []string{"You are going"}},
		{
			name: "past the pages looked through", filler: 300, wantCalls: 3,
			want:    []string{`value="going"`, `value="interested"`, `action="/events/ev-cap/leave"`},
			wantNot: []string{"You are"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.fillerAttendance = tt.filler
			api.attendance = []map[string]any{{"event_id": "ev-cap", "status": "going", "position": nil}}
			h := newUI(t, web.Config{}, api)
			page := body(t, serve(h, request("GET", "/events/ev-cap", nil, loggedIn)))
			wantIn(t, attendPanel(t, page), tt.want, tt.wantNot)
			if n := api.count("GET /api/v1/accounts/me/attendance"); n != tt.wantCalls {
				t.Errorf("%d calls to list the attendances, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestAttend(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantMethod string // the API call made, "" for none
		wantBody   map[string]any
		wantFlash  string
		wantPanel  string // on the event page shown next
	}{
		{
			name: "going", path: "/events/ev-cap/attendance", form: url.Values{"status": {"going"}},
			wantMethod: "PUT", wantBody: map[string]any{"status": "going"}, wantFlash: "going", wantPanel: "You are going",
		},
		{
			name: "going to a full event", path: "/events/ev-full/attendance", form: url.Values{"status": {"going"}},
			wantMethod: "PUT", wantBody: map[string]any{"status": "going"}, wantFlash: "waitlisted",
			wantPanel: "You are on the waitlist, position 3",
		},
		{
			name: "interested", path: "/events/ev-cap/attendance", form: url.Values{"status": {"interested"}},
			wantMethod: "PUT", wantBody: map[string]any{"status": "interested"}, wantFlash: "interested", wantPanel: "You are interested",
		},
		{
			name: "leaving", path: "/events/ev-cap/leave", form: url.Values{},
			wantMethod: "DELETE", wantFlash: "left", wantPanel: `value="going"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", tt.path, tt.form, loggedIn))
			id := strings.Split(tt.path, "/")[2]
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/events/"+id+"#attend" {
				t.Fatalf("status %d, Location %q; want 303 back to the event", resp.StatusCode, resp.Header.Get("Location"))
			}
			if c := setCookies(resp)["ep_flash"]; c == nil || c.Value != tt.wantFlash {
				t.Errorf("flash %+v, want %q", c, tt.wantFlash)
			}
			call := tt.wantMethod + " /api/v1/events/" + id + "/attendance"
			if n := api.count(call); n != 1 {
				t.Errorf("%d calls %s, want 1", n, call)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff([]map[string]any{tt.wantBody}, api.bodies[call]); diff != "" {
					t.Errorf("body sent (-want +got):\n%s", diff)
				}
			}
			page := body(t, serve(h, request("GET", "/events/"+id, nil, loggedIn)))
			if panel := attendPanel(t, page); !strings.Contains(panel, tt.wantPanel) {
				t.Errorf("the event page then lacks %q:\n%s", tt.wantPanel, panel)
			}
		})
	}
}

func TestAttendRefusesWhatItCannotDo(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("POST", "/events/ev-cap/attendance", url.Values{"status": {"maybe"}}, loggedIn))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown status: status %d, want 400", resp.StatusCode)
	}
	resp = serve(h, request("POST", "/events/nope/attendance", url.Values{"status": {"going"}}, loggedIn))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown event: status %d, want 404", resp.StatusCode)
	}
	if n := api.count("PUT /api/v1/events/ev-cap/attendance"); n != 0 {
		t.Errorf("an unknown status reached the API (%d calls)", n)
	}
	// A visitor logs in first, and comes back to the event.
	resp = serve(h, request("POST", "/events/ev-cap/attendance", url.Values{"status": {"going"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fevents%2Fev-cap" {
		t.Errorf("a visitor: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestMyEventsShowsTheEventsIGoTo(t *testing.T) {
	api := newFakeAPI()
	api.attendance = []map[string]any{
		{"event_id": "ev-cap", "status": "going", "position": nil},
		{"event_id": "ev-full", "status": "waitlisted", "position": 3},
		{"event_id": "ev-1", "status": "interested", "position": nil},
		{"event_id": "ev-deleted", "status": "going", "position": nil},
	}
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/my/events", nil, loggedIn))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	page := body(t, resp)
	section := regexp.MustCompile(`(?s)<section class="attending".*?</section>`).FindString(page)
	rows := regexp.MustCompile(`(?s)<li class="my-event attending-event" data-status="(\w+)">.*?href="(/events/[^"]+)">([^<]+)</a>.*?<p class="attend-mark[^"]*">([^<]+)</p>`).FindAllStringSubmatch(section, -1)
	var got [][]string
	for _, r := range rows {
		got = append(got, r[1:])
	}
	want := [][]string{
		{"going", "/events/ev-cap", "Harbour kayak tour", "Going"},
		{"waitlisted", "/events/ev-full", "Pottery workshop", "Waitlist, position 3"},
		{"interested", "/events/ev-1", "Rooftop jazz night", "Interested"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events I go to (-want +got):\n%s", diff)
	}
	wantIn(t, section, []string{"1 of these events could not be shown right now."}, nil)
	if n := api.count("GET /api/v1/events/ev-deleted"); n != 1 {
		t.Errorf("%d calls for the deleted event, want 1", n)
	}
}

func TestMyEventsPagesTheEventsIGoTo(t *testing.T) {
	api := newFakeAPI()
	api.fillerAttendance = 20 // events that no longer exist, then one that does
	api.attendance = []map[string]any{{"event_id": "ev-cap", "status": "going", "position": nil}}
	h := newUI(t, web.Config{}, api)
	page := body(t, serve(h, request("GET", "/my/events", nil, loggedIn)))
	if !strings.Contains(page, `href="/my/events?attending=15"`) {
		t.Fatalf("no link to the next page of the events I go to")
	}
	if strings.Contains(page, "/events/ev-cap") {
		t.Error("the first page shows an event of the second")
	}
	page = body(t, serve(h, request("GET", "/my/events?attending=15", nil, loggedIn)))
	wantIn(t, page, []string{`href="/events/ev-cap">Harbour kayak tour</a>`}, []string{"attending=15"})
}

func TestMyEventsWithNoAttendance(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	page := body(t, serve(h, request("GET", "/my/events", nil, loggedIn)))
	wantIn(t, page, []string{"You are not going to any event yet."}, nil)
}

func TestEventListByOrganizer(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	page := body(t, serve(h, request("GET", "/?organizer_id=someone-else", nil)))
	wantIn(t, page, []string{
		"<title>Events by Lena &lt;Vogt&gt; · EventPost</title>",
		`<input type="hidden" name="organizer_id" value="someone-else">`,
		`<a href="/">Show everyone's</a>`,
	}, nil)
	page = body(t, serve(h, request("GET", "/?organizer_id=nobody", nil)))
	wantIn(t, page, []string{"Events by this organizer", "No events match"}, nil)
}

func TestEventFormDefaultReminders(t *testing.T) {
	base := url.Values{"title": {"Salon"}, "starts_at": {"2030-01-01T18:30"}, "timezone": {"UTC"}}
	with := func(kv ...string) url.Values {
		v := cloneForm(base)
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name     string
		form     url.Values
		wantSent []any             // default_reminders sent; nil: not sent
		wantErrs map[string]string // errors beside the fields; then nothing is sent
	}{
		{name: "none", form: with()},
		{
			name: "a day and an hour", wantSent: []any{1440.0, 60.0},
			form: with("reminder_1", "1", "reminder_1_unit", "days", "reminder_2", " 1 ", "reminder_2_unit", "hours", "reminder_3_unit", "weeks"),
		},
		{
			name: "a week, 15 minutes and 4 weeks", wantSent: []any{10080.0, 15.0, 40320.0},
			form: with("reminder_1", "1", "reminder_1_unit", "weeks", "reminder_2", "15", "reminder_2_unit", "minutes",
				"reminder_3", "4", "reminder_3_unit", "weeks"),
		},
		{
			name: "not numbers",
			form: with("reminder_1", "soon", "reminder_1_unit", "days", "reminder_3", "1.5", "reminder_3_unit", "hours"),
			wantErrs: map[string]string{
				"reminder_1": "Reminder 1 must be a whole number, such as 2",
				"reminder_3": "Reminder 3 must be a whole number, such as 2",
			},
		},
		{
			name: "negative, too early, an unknown unit",
			form: with("reminder_1", "-1", "reminder_1_unit", "hours", "reminder_2", "29", "reminder_2_unit", "days",
				"reminder_3", "2", "reminder_3_unit", "years"),
			wantErrs: map[string]string{
				"reminder_1": "Reminder 1 must be a whole number, such as 2",
				"reminder_2": "Reminder 2 must be at most 4 weeks before the start",
				"reminder_3": "Reminder 3: choose minutes, hours, days or weeks",
			},
		},
		{
			name:     "twice the same time",
			form:     with("reminder_1", "1", "reminder_1_unit", "days", "reminder_2", "24", "reminder_2_unit", "hours"),
			wantErrs: map[string]string{"reminder_2": "Reminder 2 is the same as another reminder"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", "/my/events/new", tt.form, loggedIn))
			b := body(t, resp)
			sent := api.bodies["POST /api/v1/events"]
			if tt.wantErrs != nil {
				if resp.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", resp.StatusCode)
				}
				if len(sent) != 0 {
					t.Errorf("a form with bad reminders was sent to the API: %v", sent)
				}
				for field, msg := range tt.wantErrs {
					errTag := regexp.MustCompile(`<p class="field-error" id="f-` + field + `-error">.*` + regexp.QuoteMeta(msg) + `</p>`)
					if !errTag.MatchString(b) {
						t.Errorf("no error %q beside the field %s", msg, field)
					}
					input := regexp.MustCompile(`<input id="f-` + field + `"[^>]*>`).FindString(b)
					if !strings.Contains(input, "f-"+field+"-error") || !strings.Contains(input, `aria-invalid="true"`) {
						t.Errorf("the input %s is not tied to its error: %s", field, input)
					}
				}
				if n := strings.Count(b, `class="field-error"`); n != len(tt.wantErrs) {
					t.Errorf("%d field errors shown, want %d", n, len(tt.wantErrs))
				}
				// What was typed is kept, if a number input can hold it (a browser sends
				// nothing else from one).
				v := tt.form.Get("reminder_1")
				if _, err := strconv.Atoi(v); err != nil {
					v = ""
				}
				if input := regexp.MustCompile(`<input id="f-reminder_1"[^>]*>`).FindString(b); !strings.Contains(input, `value="`+v+`"`) {
					t.Errorf("reminder 1 is %s, want the value %q", input, v)
				}
				return
			}
			// The fake API refuses every event, after recording it.
			if len(sent) != 1 {
				t.Fatalf("%d create calls, want 1", len(sent))
			}
			got, ok := sent[0]["default_reminders"]
			switch {
			case tt.wantSent == nil && ok:
				t.Errorf("default_reminders sent though none is filled in: %v", got)
			case tt.wantSent != nil && !cmp.Equal(tt.wantSent, got):
				t.Errorf("default_reminders sent = %v, want %v", got, tt.wantSent)
			}
		})
	}
}

func TestEditEventShowsAndClearsDefaultReminders(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	page := body(t, serve(h, request("GET", "/my/events/ev-mine/edit", nil, loggedIn)))
	for field, want := range map[string][2]string{"reminder_1": {"1", "days"}, "reminder_2": {"90", "minutes"}, "reminder_3": {"", "hours"}} {
		input := regexp.MustCompile(`<input id="f-` + field + `"[^>]*>`).FindString(page)
		if !strings.Contains(input, `value="`+want[0]+`"`) {
			t.Errorf("%s: %s, want the value %q", field, input, want[0])
		}
		sel := regexp.MustCompile(`(?s)<select id="f-` + field + `_unit".*?</select>`).FindString(page)
		if !strings.Contains(sel, `<option value="`+want[1]+`" selected>`) {
			t.Errorf("%s: the unit %q is not selected: %s", field, want[1], sel)
		}
	}
	// Emptying them clears the event's default reminders.
	form := url.Values{"title": {"Ada's salon"}, "starts_at": {"2030-01-01T18:30"}, "timezone": {"UTC"}}
	resp := serve(h, request("POST", "/my/events/ev-mine/edit", form, loggedIn))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	sent := api.bodies["PATCH /api/v1/events/ev-mine"]
	if len(sent) != 1 {
		t.Fatalf("%d change calls, want 1", len(sent))
	}
	if got, ok := sent[0]["default_reminders"]; !ok || !cmp.Equal(got, []any{}) {
		t.Errorf("default_reminders sent = %v (sent: %v), want []", got, ok)
	}
}

func TestEventPageNamesTheDefaultReminders(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	page := body(t, serve(h, request("GET", "/events/ev-mine", nil, loggedIn)))
	wantIn(t, attendPanel(t, page), []string{"Going sets reminders for you: 1 day before, 90 minutes before."}, nil)
}

func TestAccountShowsTheCalendarFeed(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	page := body(t, serve(h, request("GET", "/account", nil, loggedIn)))
	input := regexp.MustCompile(`<input id="f-calendar_url"[^>]*>`).FindString(page)
	for _, want := range []string{`value="https://events.example.org/api/v1/calendars/feed-secret-1.ics"`, " readonly", `type="text"`} {
		if !strings.Contains(input, want) {
			t.Errorf("the feed's field %s lacks %s", input, want)
		}
	}
	wantIn(t, page, []string{
		`<button type="button" class="button button-secondary" data-copy="f-calendar_url" hidden>Copy</button>`,
		`<form method="post" action="/account/calendar/rotate"`,
		"The old address stops working",
		"Add calendar from URL",
	}, nil)

	resp := serve(h, request("POST", "/account/calendar/rotate", url.Values{}, loggedIn))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account#calendar" {
		t.Fatalf("rotate: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := setCookies(resp)["ep_flash"]; c == nil || c.Value != "calendar-rotated" {
		t.Errorf("flash %+v", c)
	}
	if n := api.count("POST /api/v1/accounts/me/calendar/rotate"); n != 1 {
		t.Errorf("%d rotate calls, want 1", n)
	}
	page = body(t, serve(h, request("GET", "/account", nil, loggedIn)))
	wantIn(t, page, []string{"feed-secret-2.ics"}, []string{"feed-secret-1"})
}

func TestAccountWorksWithoutTheCalendarFeed(t *testing.T) {
	api := newFakeAPI()
	api.calendarMissing = true
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/account", nil, loggedIn))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	wantIn(t, body(t, resp), []string{"Your calendar feed is not available right now.", "Change your name"},
		[]string{`id="f-calendar_url"`, "/account/calendar/rotate"})
}

func TestRotateCalendarLoggedOutGoesToLogin(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("POST", "/account/calendar/rotate", url.Values{}))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := api.count("POST /api/v1/accounts/me/calendar/rotate"); n != 0 {
		t.Errorf("%d rotate calls, want 0", n)
	}
}
