package events_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// exported is what a calendar parser other than ours reads of an .ics export.
type exported struct {
	contentType, method, uid, sequence, status, summary, start, lastModified string
}

// export fetches the .ics export of the event with the given ID and reads it with
// golang-ical; it fails the test unless the answer is 200 with one VEVENT.
func (f *fixture) export(t *testing.T, id string) exported {
	t.Helper()
	w := f.do(t, request{method: "GET", path: "/api/v1/events/" + id + "/ics"})
	if w.Code != http.StatusOK {
		t.Fatalf("GET .ics: %d %s", w.Code, w.Body)
	}
	c, err := ical.ParseCalendar(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse the export: %v\n%s", err, w.Body)
	}
	x := exported{contentType: w.Header().Get("Content-Type")}
	for _, p := range c.CalendarProperties {
		if p.IANAToken == string(ical.PropertyMethod) {
			x.method = p.Value
		}
	}
	evs := c.Events()
	if len(evs) != 1 {
		t.Fatalf("the export holds %d events, want 1:\n%s", len(evs), w.Body)
	}
	value := func(p ical.ComponentProperty) string {
		if prop := evs[0].GetProperty(p); prop != nil {
			return prop.Value
		}
		return ""
	}
	x.uid, x.sequence, x.status = evs[0].Id(), value(ical.ComponentPropertySequence), value(ical.ComponentPropertyStatus)
	x.summary, x.start = value(ical.ComponentPropertySummary), value(ical.ComponentPropertyDtStart)
	x.lastModified = value(ical.ComponentPropertyLastModified)
	return x
}

// expectNotFound checks that GET path answers a 404 problem.
func (f *fixture) expectNotFound(t *testing.T, path string) {
	t.Helper()
	w := f.do(t, request{method: "GET", path: path})
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != problem.ContentType {
		t.Errorf("GET %s: %d %q, want a 404 problem", path, w.Code, w.Header().Get("Content-Type"))
	}
}

// TestExportOfADeletedEvent follows the .ics export of an event through a change, its
// deletion and the retention of its tombstone.
func TestExportOfADeletedEvent(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Jazz", "starts_at": "2030-03-01T18:30:00Z"}`)
	f.clock.Set(testNow.Add(time.Minute))
	if w := f.do(t, request{method: "PATCH", path: "/api/v1/events/" + e.ID, body: `{"title": "Blues"}`, caller: alice}); w.Code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", w.Code, w.Body)
	}
	uid := e.ID + "@eventpost.example"
	published := exported{
		contentType: "text/calendar; charset=utf-8; method=PUBLISH", method: "PUBLISH", uid: uid, sequence: "1",
		summary: "Blues", start: "20300301T183000Z", lastModified: "20300110T120100Z",
	}
	if got := f.export(t, e.ID); got != published {
		t.Errorf("export before the deletion = %+v, want %+v", got, published)
	}

	deletedAt := testNow.Add(time.Hour)
	f.clock.Set(deletedAt)
	if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID, caller: alice}); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	f.expectNotFound(t, "/api/v1/events/"+e.ID)
	cancelled := published
	cancelled.sequence, cancelled.status, cancelled.lastModified = "2", "CANCELLED", "20300110T130000Z"

	retention := events.DefaultDeletedRetention
	for _, at := range []time.Time{deletedAt, deletedAt.Add(retention - time.Microsecond)} {
		f.clock.Set(at)
		if got := f.export(t, e.ID); got != cancelled {
			t.Errorf("export %s after the deletion = %+v, want %+v", at.Sub(deletedAt), got, cancelled)
		}
		f.expectNotFound(t, "/api/v1/events/"+e.ID)
	}

	// Once the retention has passed the export answers 404, before and after the pruning.
	f.clock.Set(deletedAt.Add(retention))
	f.expectNotFound(t, "/api/v1/events/"+e.ID+"/ics")
	if n, err := f.svc.PruneTombstones(context.Background()); err != nil || n != 1 {
		t.Errorf("PruneTombstones = %d, %v, want 1", n, err)
	}
	f.expectNotFound(t, "/api/v1/events/"+e.ID+"/ics")
	f.clock.Set(deletedAt)
	f.expectNotFound(t, "/api/v1/events/"+e.ID+"/ics")
}

func TestExportOfAnEventThatNeverExisted(t *testing.T) {
	f := newFixture(t)
	f.create(t, alice, `{"title": "Jazz", "starts_at": "`+future(time.Hour)+`"}`)
	for _, id := range []string{"01890000-0000-7000-8000-000000000000", "nope"} {
		f.expectNotFound(t, "/api/v1/events/"+id+"/ics")
	}
}

// TestExportOfTheEventsOfADeletedAccount checks that the events of a deleted account
// leave tombstones too.
func TestExportOfTheEventsOfADeletedAccount(t *testing.T) {
	f := newFixture(t)
	e := f.create(t, alice, `{"title": "Jazz", "starts_at": "2030-03-01T18:30:00Z"}`)
	msg, err := broker.NewMessage(context.Background(), messages.TypeAccountDeleted, messages.AccountDeleted{AccountID: alice, DeletedAt: testNow})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(testNow.Add(time.Hour))
	if err := f.svc.Consumers()[0].Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	f.expectNotFound(t, "/api/v1/events/"+e.ID)
	want := exported{
		contentType: "text/calendar; charset=utf-8; method=PUBLISH", method: "PUBLISH", uid: e.ID + "@eventpost.example",
		sequence: "1", status: "CANCELLED", summary: "Jazz", start: "20300301T183000Z", lastModified: "20300110T130000Z",
	}
	if got := f.export(t, e.ID); got != want {
		t.Errorf("export after the account's deletion = %+v, want %+v", got, want)
	}
}

// TestDeletedRetentionSetting checks that Config.DeletedRetention bounds the export of a
// deleted event.
func TestDeletedRetentionSetting(t *testing.T) {
	f := newFixture(t, events.Config{PublicURL: "https://eventpost.example", DeletedRetention: time.Hour})
	e := f.create(t, alice, `{"title": "Jazz", "starts_at": "`+future(48*time.Hour)+`"}`)
	if w := f.do(t, request{method: "DELETE", path: "/api/v1/events/" + e.ID, caller: alice}); w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	f.clock.Set(testNow.Add(time.Hour - time.Microsecond))
	if got := f.export(t, e.ID); got.status != "CANCELLED" {
		t.Errorf("export within the retention: STATUS %q", got.status)
	}
	f.clock.Set(testNow.Add(time.Hour))
	f.expectNotFound(t, "/api/v1/events/"+e.ID+"/ics")
}
