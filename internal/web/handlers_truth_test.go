package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/web"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestTimesAreWrittenOneWay(t *testing.T) {
	berlin, ny := mustLoad(t, "Europe/Berlin"), mustLoad(t, "America/New_York")
	kolkata, chatham := mustLoad(t, "Asia/Kolkata"), mustLoad(t, "Pacific/Chatham")
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ptr := func(v time.Time) *time.Time { return &v }
	tests := []struct {
		name  string
		start time.Time
		end   *time.Time
		loc   *time.Location
		want  string
	}{
		{"winter in Berlin", at(berlin, "2026-12-04T18:00"), ptr(at(berlin, "2026-12-04T20:00")), berlin, "Fri 4 Dec 2026, 18:00 – 20:00 UTC+1"},
		{"the same, in New York", at(berlin, "2026-12-04T18:00"), ptr(at(berlin, "2026-12-04T20:00")), ny, "Fri 4 Dec 2026, 12:00 – 14:00 UTC−5"},
		{"summer in Berlin, no end", at(berlin, "2027-07-01T09:30"), nil, berlin, "Thu 1 Jul 2027, 09:30 UTC+2"},
		{"UTC", at(time.UTC, "2027-01-01T00:00"), nil, time.UTC, "Fri 1 Jan 2027, 00:00 UTC"},
		{"half hours", at(kolkata, "2027-01-01T10:00"), nil, kolkata, "Fri 1 Jan 2027, 10:00 UTC+5:30"},
		{"quarter hours", at(chatham, "2027-06-01T10:00"), nil, chatham, "Tue 1 Jun 2027, 10:00 UTC+12:45"},
		{"over two days", at(berlin, "2027-01-01T22:00"), ptr(at(berlin, "2027-01-02T02:00")), berlin, "Fri 1 Jan 2027, 22:00 UTC+1 – Sat 2 Jan 2027, 02:00 UTC+1"},
		{"the night the clocks go back", at(berlin, "2027-10-31T01:00"), ptr(at(berlin, "2027-10-31T01:00").Add(3 * time.Hour)), berlin,
			"Sun 31 Oct 2027, 01:00 UTC+2 – 03:00 UTC+1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := web.FormatSpan(tt.start, tt.end, tt.loc); got != tt.want {
				t.Errorf("FormatSpan = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLocalAcrossDSTChanges(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		in, want string // want "" for no such time
	}{
		{"2027-01-15T09:00", "2027-01-15T09:00:00+01:00"},
		{"2027-07-15T09:00", "2027-07-15T09:00:00+02:00"},
		{"2027-03-28T01:59", "2027-03-28T01:59:00+01:00"},
		{"2027-03-28T02:30", ""}, // the clocks go from 02:00 to 03:00
		{"2027-03-28T03:00", "2027-03-28T03:00:00+02:00"},
		{"2027-10-31T02:30", "2027-10-31T02:30:00+02:00"}, // twice: the earlier
		{"2027-10-31T03:00", "2027-10-31T03:00:00+01:00"},
		{"2027-10-31T02:30:15", "2027-10-31T02:30:15+02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := web.ParseLocal(tt.in, berlin)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseLocal = %v, want an error: that time does not exist", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := got.Format(time.RFC3339); s != tt.want {
				t.Errorf("ParseLocal = %s, want %s", s, tt.want)
			}
		})
	}
}

func TestEventPageWritesTimesOneWay(t *testing.T) {
	api := newFakeAPI()
	n := map[string]any{"id": "n-1", "event_id": "ev-1", "email": "ada@example.com", "send_at": fakeStart.Add(-2 * time.Hour).Format(time.RFC3339),
		"minutes_before": 120, "status": "scheduled", "created_at": "2026-01-01T00:00:00Z"}
	api.reminders = []any{n}
	h := newUI(t, web.Config{}, api)
	b := html.UnescapeString(body(t, serve(h, request("GET", "/events/ev-1", nil, session()))))
	berlin := mustLoad(t, "Europe/Berlin")
	for _, want := range []string{
		">" + web.FormatWhen(fakeStart, berlin) + "</time>", // the byline
		">" + web.FormatSpan(fakeStart, nil, berlin) + "</time>",
		"You will be reminded 2 hours before: <time datetime=\"" + fakeStart.Add(-2*time.Hour).Format(time.RFC3339) + "\">" +
			web.FormatWhen(fakeStart.Add(-2*time.Hour), berlin) + "</time>",
		"data-local data-tz=\"Europe/Berlin\"",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// No zone abbreviation: every time is in the one layout, with its offset.
	for _, abbr := range []string{" CET", " CEST", " GMT"} {
		if strings.Contains(b, abbr) {
			t.Errorf("the page writes a zone as %q", abbr)
		}
	}
}

// TestEventPageListsRemindersOfEveryPage checks that the event page shows the viewer's
// pending reminders for the event from every page of the list, not only the first.
func TestEventPageListsRemindersOfEveryPage(t *testing.T) {
	api := newFakeAPI()
	api.reminderPageSize = 2
	for i, ev := range []string{"ev-1", "ev-2", "ev-1", "ev-1", "ev-1", "ev-1"} {
		api.reminders = append(api.reminders, map[string]any{"id": fmt.Sprintf("n-%d", i), "event_id": ev,
			"email": "ada@example.com", "send_at": fakeStart.Add(-time.Duration(100-i) * time.Minute).Format(time.RFC3339),
			"minutes_before": 100 - i, "status": "scheduled", "created_at": "2026-01-01T00:00:00Z"})
	}
	h := newUI(t, web.Config{}, api)
	b := body(t, serve(h, request("GET", "/events/ev-1", nil, session())))
	for _, id := range []string{"n-0", "n-2", "n-3", "n-4", "n-5"} {
		if !strings.Contains(b, `action="/reminders/`+id+`/cancel"`) {
			t.Errorf("the event page lacks reminder %s", id)
		}
	}
	if strings.Contains(b, `action="/reminders/n-1/cancel"`) {
		t.Error("the event page shows a reminder of another event")
	}
	if n := api.count("GET /api/v1/notifications"); n != 3 {
		t.Errorf("%d calls to list the reminders, want 3 (5 reminders in pages of 2)", n)
	}
}

// TestReminderTimeIsInTheEventsZone checks that the form says which zone a chosen time is
// in, the event's, and that the time is read in it, DST changes included.
func TestReminderTimeIsInTheEventsZone(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	b := body(t, serve(h, request("GET", "/events/ev-1", nil, session())))
	for _, want := range []string{
		`<input type="hidden" name="tz" value="Europe/Berlin">`,
		`<label for="f-at">Date and time (Europe/Berlin)</label>`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the reminder form lacks %s", want)
		}
	}
	if strings.Contains(b, "data-browser-tz") {
		t.Error("the page's script may still put the browser's zone in the reminder form")
	}
	tests := []struct {
		at, want, wantErr string
	}{
		{at: "2030-01-15T09:00", want: "2030-01-15T09:00:00+01:00"},
		{at: "2030-05-01T09:15", want: "2030-05-01T09:15:00+02:00"},
		{at: "2030-10-27T02:30", want: "2030-10-27T02:30:00+02:00"},
		{at: "2030-03-31T02:30", wantErr: "There is no 02:30 on that day in Europe/Berlin: the clocks skip it."},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", "/events/ev-1/reminders", url.Values{"when": {"custom"}, "at": {tt.at}, "tz": {"Europe/Berlin"}}, session()))
			sent := api.bodies["POST /api/v1/notifications"]
			if tt.wantErr != "" {
				if resp.StatusCode != http.StatusUnprocessableEntity || len(sent) != 0 {
					t.Fatalf("status %d, %d reminders sent; want 422 and none", resp.StatusCode, len(sent))
				}
				if b := body(t, resp); !strings.Contains(b, tt.wantErr) {
					t.Errorf("the page lacks %q", tt.wantErr)
				}
				return
			}
			if resp.StatusCode != http.StatusSeeOther || len(sent) != 1 || sent[0]["send_at"] != tt.want {
				t.Fatalf("status %d, sent %v; want 303 and send_at %s", resp.StatusCode, sent, tt.want)
			}
		})
	}
}

// radio returns the radio button of the reminder form for value.
func radio(b, value string) string {
	return regexp.MustCompile(`<input type="radio" id="f-when-` + value + `"[^>]*>`).FindString(b)
}

func TestReminderPresetsDoNotDuplicate(t *testing.T) {
	reminder := func(minutes int, status, email string) map[string]any {
		return map[string]any{"id": "n-" + status, "event_id": "ev-1", "email": email,
			"send_at": fakeStart.Add(-time.Duration(minutes) * time.Minute).Format(time.RFC3339), "minutes_before": minutes,
			"status": status, "created_at": "2026-01-01T00:00:00Z"}
	}
	tests := []struct {
		name        string
		reminders   []any
		wantChecked string
		wantTaken   []string
		wantLine    string
	}{
		{name: "none yet: a day before", wantChecked: "1440"},
		{name: "a day before exists", reminders: []any{reminder(1440, "scheduled", "ada@example.com")},
			wantChecked: "60", wantTaken: []string{"1440"}, wantLine: "You will be reminded 1 day before: "},
		{name: "both exist: a chosen time", reminders: []any{reminder(1440, "scheduled", "ada@example.com"), reminder(60, "awaiting_consent", "ada@example.com")},
			wantChecked: "custom", wantTaken: []string{"1440", "60"}, wantLine: "Your reminder 1 hour before waits for the recipient to accept: "},
		{name: "a cancelled one does not count", reminders: []any{reminder(1440, "cancelled", "ada@example.com")}, wantChecked: "1440"},
		{name: "one to another address does not count", reminders: []any{reminder(1440, "scheduled", "bob@example.com")},
			wantChecked: "1440", wantLine: "Reminder to bob@example.com, 1 day before: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.reminders = append([]any{}, tt.reminders...)
			h := newUI(t, web.Config{}, api)
			b := body(t, serve(h, request("GET", "/events/ev-1", nil, session())))
			for _, v := range []string{"60", "1440", "10080", "custom"} {
				in := radio(b, v)
				if checked := strings.Contains(in, " checked"); checked != (v == tt.wantChecked) {
					t.Errorf("option %s checked = %v: %s", v, checked, in)
				}
				taken := false
				for _, w := range tt.wantTaken {
					taken = taken || w == v
				}
				label := regexp.MustCompile(`<label for="f-when-` + v + `">[^\n]*</label>`).FindString(b)
				if taken && (!strings.Contains(in, " disabled") || !strings.Contains(label, "(you have this reminder)")) {
					t.Errorf("option %s is not shown as a reminder held: %s %s", v, in, label)
				}
				if !taken && strings.Contains(label, "(you have this reminder)") {
					t.Errorf("option %s is shown as held: %s", v, label)
				}
			}
			if tt.wantLine != "" && !strings.Contains(html.UnescapeString(b), tt.wantLine) {
				t.Errorf("the page lacks %q", tt.wantLine)
			}
		})
	}
}

func TestIdenticalReminderSaysSo(t *testing.T) {
	api := newFakeAPI()
	api.duplicate = true
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("POST", "/events/ev-1/reminders", url.Values{"when": {"1440"}}, session()))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("status %d, want 409", resp.StatusCode)
	}
	if b := body(t, resp); !strings.Contains(b, "You already have this reminder") || !strings.Contains(b, `class="error-summary"`) {
		t.Error("the page does not say that the reminder exists already")
	}
}

func TestRemindersHeadTimesByWhatHappened(t *testing.T) {
	api := newFakeAPI()
	api.reminders = []any{
		map[string]any{"id": "n-1", "event_id": "ev-1", "email": "ada@example.com", "send_at": "2030-01-01T10:00:00Z", "status": "scheduled", "created_at": "2026-01-01T00:00:00Z"},
		map[string]any{"id": "n-2", "event_id": "ev-1", "email": "ada@example.com", "send_at": "2026-01-01T10:00:00Z", "sent_at": "2026-01-01T10:00:03Z",
			"status": "sent", "created_at": "2026-01-01T00:00:00Z"},
	}
	h := newUI(t, web.Config{}, api)
	b := body(t, serve(h, request("GET", "/reminders", nil, session())))
	for _, want := range []string{
		`<th scope="col">Email at</th>`,
		`<td data-label="Email at" class="email-time"><time datetime="2030-01-01T10:00:00Z">`,
		`<td data-label="Sent at" class="email-time">Sent <time datetime="2026-01-01T10:00:03Z">`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(b, "Email sent") {
		t.Error(`"Email sent" heads times that are not all sent`)
	}
	b = body(t, serve(h, request("GET", "/reminders?status=sent", nil, session())))
	if !strings.Contains(b, `<th scope="col">Sent at</th>`) {
		t.Error(`the list of sent reminders is not headed "Sent at"`)
	}
}

func TestFlashIsFocusedLikeErrorSummaries(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	b := body(t, serve(h, request("GET", "/", nil, session(), &http.Cookie{Name: "ep_flash", Value: "login"})))
	if !strings.Contains(b, `<div class="flash" role="status" tabindex="-1" data-focus-on-load>You are logged in.</div>`) {
		t.Errorf("the flash cannot take the focus: %s", regexp.MustCompile(`<div class="flash"[^\n]*`).FindString(b))
	}
}

// summaryOrder checks that the error summary of page b lists its errors in the order of
// their fields on the page.
func summaryOrder(t *testing.T, b string, want ...string) {
	t.Helper()
	summary := regexp.MustCompile(`(?s)<div class="error-summary".*?</div>`).FindString(b)
	var got []string
	for _, m := range regexp.MustCompile(`<a href="#f-([a-z_0-9]+)">`).FindAllStringSubmatch(summary, -1) {
		got = append(got, m[1])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error summary (-want +got):\n%s", diff)
	}
	last := -1
	for _, name := range got {
		i := strings.Index(b, `id="f-`+name+`"`)
		if i < last {
			t.Errorf("the field %s comes before the one above it in the summary", name)
		}
		last = i
	}
}

func TestErrorSummariesFollowTheForm(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	resp := serve(h, request("POST", "/signup", url.Values{"email": {"nope"}, "password": {"short"}, "display_name": {""}}))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("sign-up: status %d, want 422", resp.StatusCode)
	}
	summaryOrder(t, body(t, resp), "display_name", "email", "password")

	b := body(t, serve(h, request("GET", "/?from=someday&to=2027-01-01&lat=95&lon=500&radius=-1&q=jazz", nil)))
	summaryOrder(t, b, "from", "lat", "lon", "radius")

	b = body(t, serve(h, request("POST", "/my/events/new", url.Values{
		"title": {"Jazz"}, "starts_at": {"2020-01-01T18:30"}, "timezone": {"UTC"}, "capacity": {"many"}, "tags": {"jazz"}, "lat": {"95"}, "lon": {"1"},
		"reminder_1": {"x"}, "reminder_1_unit": {"hours"},
	}, session())))
	// The form finds these before asking the API.
	summaryOrder(t, b, "capacity", "reminder_1")

	b = body(t, serve(h, request("POST", "/account/delete", url.Values{}, session())))
	summaryOrder(t, b, "current_password", "confirm")
}

func TestSearchEchoesOnlyValidDates(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	resp := serve(h, request("GET", "/?from=2027-13-45&to=2027-02-01", nil))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	b := body(t, resp)
	if in := regexp.MustCompile(`<input id="f-from"[^>]*>`).FindString(b); !strings.Contains(in, `value=""`) {
		t.Errorf("an invalid date is echoed into the date input: %s", in)
	}
	if in := regexp.MustCompile(`<input id="f-to"[^>]*>`).FindString(b); !strings.Contains(in, `value="2027-02-01"`) {
		t.Errorf("a valid date is not kept: %s", in)
	}
	if !strings.Contains(b, "From must be a date") {
		t.Error("the error is not shown")
	}
	b = body(t, serve(h, request("GET", "/?lat=52&lon=13&radius=far", nil)))
	if in := regexp.MustCompile(`<input id="f-radius"[^>]*>`).FindString(b); !strings.Contains(in, `value=""`) {
		t.Errorf("a number input is given text: %s", in)
	}
}

func TestEventFormAddressIsOneLine(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	b := body(t, serve(h, request("GET", "/my/events/new", nil, session())))
	if in := regexp.MustCompile(`<input id="f-location_address"[^>]*>`).FindString(b); !strings.Contains(in, `autocomplete="address-line1"`) {
		t.Errorf("the one-line address input: %s", in)
	}
}

// TestSearchCountsAndPages pages through 45 events, 20 a page, forward and back.
func TestSearchCountsAndPages(t *testing.T) {
	api := newFakeAPI()
	api.searchable = 45
	h := newUI(t, web.Config{}, api)
	type page struct {
		count, title, first string
		next, prev          bool
	}
	visit := func(path string, want page) (next, prev string) {
		t.Helper()
		resp := serve(h, request("GET", path, nil))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		b := html.UnescapeString(body(t, resp))
		if got := regexp.MustCompile(`<p class="result-count">([^<]*)</p>`).FindStringSubmatch(b); got == nil || got[1] != want.count {
			t.Errorf("GET %s: count %v, want %q", path, got, want.count)
		}
		if got := regexp.MustCompile(`<title>([^<]*) · EventPost</title>`).FindStringSubmatch(b); got == nil || got[1] != want.title {
			t.Errorf("GET %s: title %v, want %q", path, got, want.title)
		}
		if got := regexp.MustCompile(`<h3><a href="/events/[^"]*">([^<]*)</a></h3>`).FindStringSubmatch(b); got == nil || got[1] != want.first {
			t.Errorf("GET %s: first event %v, want %q", path, got, want.first)
		}
		if m := regexp.MustCompile(`<a href="([^"]*)" rel="next"`).FindStringSubmatch(b); m != nil {
			next = m[1]
		}
		if m := regexp.MustCompile(`<a href="([^"]*)" rel="prev"`).FindStringSubmatch(b); m != nil {
			prev = m[1]
		}
		if (next != "") != want.next || (prev != "") != want.prev {
			t.Errorf("GET %s: next %q, previous %q; want next %v, previous %v", path, next, prev, want.next, want.prev)
		}
		return next, prev
	}
	page1 := page{count: "Events 1–20 of more than 20", title: "More than 20 events for “jazz”", first: "Event 1", next: true}
	page2 := page{count: "Events 21–40 of more than 40", title: "More than 40 events for “jazz”, page 2", first: "Event 21", next: true, prev: true}
	page3 := page{count: "Events 41–45 of 45", title: "45 events for “jazz”, page 3", first: "Event 41", prev: true}
	next, _ := visit("/?q=jazz", page1)
	next, _ = visit(next, page2)
	if next != "/?cursor=o40&prev=o20&q=jazz" {
		t.Errorf("page 2 links page 3 as %q", next)
	}
	_, prev := visit(next, page3)
	_, prev = visit(prev, page2)
	if prev != "/?q=jazz" {
		t.Errorf("page 2 links page 1 as %q", prev)
	}
	visit(prev, page1)

	api.searchable = 5
	visit("/?q=jazz", page{count: "5 events", title: "5 events for “jazz”", first: "Event 1"})
}

func TestPageLinksRememberABoundedPast(t *testing.T) {
	api := newFakeAPI()
	api.searchable = 1000
	h := newUI(t, web.Config{}, api)
	q := url.Values{"cursor": {"o500"}}
	for i := 1; i <= 24; i++ {
		q.Add("prev", "o"+strconv.Itoa(i*20))
	}
	b := html.UnescapeString(body(t, serve(h, request("GET", "/?"+q.Encode(), nil))))
	next := regexp.MustCompile(`<a href="([^"]*)" rel="next"`).FindStringSubmatch(b)
	if next == nil {
		t.Fatal("no next page")
	}
	u, err := url.Parse(next[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query()["prev"]; len(got) != 20 || got[19] != "o500" || u.Query().Get("deep") != "1" {
		t.Errorf("the next page's link remembers %v (deep %q), want the 20 latest pages, marked deep", got, u.Query().Get("deep"))
	}
	if !strings.Contains(b, `<p class="result-count">20 events on this page, after 420 events or more</p>`) {
		t.Errorf("a page whose place is not known claims one: %s", regexp.MustCompile(`<p class="result-count">[^<]*</p>`).FindString(b))
	}
}

func TestStalePageLinkSaysSo(t *testing.T) {
	api := newFakeAPI()
	api.searchable = 45
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/?q=jazz&cursor=not-a-cursor&prev=o20", nil))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	b := body(t, resp)
	for _, want := range []string{"This page of results is out of date", `<a href="/?q=jazz" class="first-page-link">`} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(b, "cursor") {
		t.Error("the page speaks of cursors")
	}

	resp = serve(h, request("GET", "/reminders?cursor=nope&status=sent", nil, session()))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reminders: status %d, want 400", resp.StatusCode)
	}
	b = body(t, resp)
	if !strings.Contains(b, "This page is out of date") || !strings.Contains(b, `<a href="/reminders?status=sent">Go to the first page</a>`) || strings.Contains(b, "cursor") {
		t.Error("the reminders page does not explain a stale link in plain words")
	}
}

func TestRemindersPageBack(t *testing.T) {
	api := newFakeAPI()
	api.reminders = []any{map[string]any{"id": "n-1", "event_id": "ev-1", "email": "ada@example.com", "send_at": "2030-01-01T10:00:00Z",
		"status": "scheduled", "created_at": "2026-01-01T00:00:00Z"}}
	h := newUI(t, web.Config{}, api)
	b := body(t, serve(h, request("GET", "/reminders?status=scheduled", nil, session())))
	if !strings.Contains(b, `<a href="/reminders?cursor=c2&amp;status=scheduled" rel="next"`) || strings.Contains(b, `rel="prev"`) {
		t.Errorf("the first page's links: %s", regexp.MustCompile(`(?s)<nav class="pager".*?</nav>`).FindString(b))
	}
	// The fake API answers c2 with an empty last page.
	b = body(t, serve(h, request("GET", "/reminders?cursor=c2&status=scheduled", nil, session())))
	if !strings.Contains(b, `<a href="/reminders?status=scheduled" rel="prev"`) || strings.Contains(b, `rel="next"`) {
		t.Errorf("the second page's links: %s", regexp.MustCompile(`(?s)<nav class="pager".*?</nav>`).FindString(b))
	}
}

func TestDeepPagesGoBackAsFarAsTheyRemember(t *testing.T) {
	api := newFakeAPI()
	api.searchable = 1000
	h := newUI(t, web.Config{}, api)
	b := body(t, serve(h, request("GET", "/?cursor=o500&prev=o480&deep=1", nil)))
	if !strings.Contains(b, `<a href="/?cursor=o480&amp;deep=1" rel="prev"`) {
		t.Errorf("the previous page of a deep list: %s", regexp.MustCompile(`(?s)<nav class="pager".*?</nav>`).FindString(b))
	}
	// The page before the earliest remembered is not known: the link goes to the first.
	b = body(t, serve(h, request("GET", "/?cursor=o500&deep=1", nil)))
	if strings.Contains(b, `rel="prev"`) || !strings.Contains(b, `<a href="/" class="button button-secondary">First page</a>`) {
		t.Errorf("the earliest remembered page of a deep list: %s", regexp.MustCompile(`(?s)<nav class="pager".*?</nav>`).FindString(b))
	}
	if !strings.Contains(b, `<p class="result-count">20 events on this page, after 20 events or more</p>`) {
		t.Errorf("count: %s", regexp.MustCompile(`<p class="result-count">[^<]*</p>`).FindString(b))
	}
}
