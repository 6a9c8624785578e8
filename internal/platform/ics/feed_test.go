package ics_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	ical "github.com/arran4/golang-ical"

	"github.com/eventpost/eventpost/internal/platform/ics"
)

// TestRenderFeedParses renders a feed of an event with two alarms and a cancelled one, and
// reads it back with a calendar parser other than ours.
func TestRenderFeedParses(t *testing.T) {
	live := fullEvent()
	gone := fullEvent()
	gone.ID, gone.Title, gone.Sequence = "0190-gone", "Gone", 2
	at := live.StartsAt.Add(-3 * time.Hour)
	out := ics.RenderFeed([]ics.Entry{
		{Event: live, EventURL: "https://x.example/events/0190-abc", Alarms: []ics.Alarm{
			{MinutesBefore: ptr(90), Description: "Leave now"}, {At: at},
		}},
		{Event: gone, Cancelled: true, Alarms: nil},
	}, ics.FeedOptions{Name: "EventPost — Ann, B", Host: "eventpost.example", Stamp: stamp})
	checkLines(t, string(out))
	if !bytes.Contains(out, []byte("X-WR-CALNAME:EventPost — Ann\\, B\r\n")) {
		t.Errorf("no escaped X-WR-CALNAME:\n%s", out)
	}
	c, err := ical.ParseCalendar(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, out)
	}
	evs := c.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2:\n%s", len(evs), out)
	}
	for _, e := range evs {
		if e.Id() == "" || value(e, ical.ComponentPropertyDtstamp) == "" {
			t.Errorf("VEVENT without UID or DTSTAMP (RFC 5545 3.6.1):\n%s", out)
		}
	}
	if got := evs[0].Id(); got != "0190-abc@eventpost.example" {
		t.Errorf("UID %q", got)
	}
	alarms := evs[0].Alarms()
	if len(alarms) != 2 {
		t.Fatalf("%d alarms, want 2:\n%s", len(alarms), out)
	}
	for i, want := range []struct{ trigger, valueParam, desc string }{
		{"-PT90M", "", "Leave now"},
		{"20270301T153000Z", "DATE-TIME", live.Title},
	} {
		a := alarms[i]
		tr := a.GetProperty(ical.ComponentPropertyTrigger)
		if tr == nil || tr.Value != want.trigger {
			t.Errorf("alarm %d TRIGGER %+v, want %s", i, tr, want.trigger)
			continue
		}
		if got := strings.Join(tr.ICalParameters["VALUE"], ","); got != want.valueParam {
			t.Errorf("alarm %d TRIGGER VALUE=%q, want %q", i, got, want.valueParam)
		}
		if got := a.GetProperty(ical.ComponentPropertyAction); got == nil || got.Value != "DISPLAY" {
			t.Errorf("alarm %d ACTION %+v", i, got)
		}
		if got := a.GetProperty(ical.ComponentPropertyDescription); got == nil || got.Value != want.desc {
			t.Errorf("alarm %d DESCRIPTION %+v, want %q", i, got, want.desc)
		}
	}
	if got := value(evs[1], ical.ComponentPropertyStatus); got != "CANCELLED" {
		t.Errorf("cancelled entry STATUS %q", got)
	}
	if got := value(evs[1], ical.ComponentPropertySequence); got != "3" {
		t.Errorf("cancelled entry SEQUENCE %q, want 3 (one above 2)", got)
	}
	if got := value(evs[0], ical.ComponentPropertyStatus); got != "" {
		t.Errorf("live entry STATUS %q", got)
	}
}

// TestRenderFeedWritesEventsAsRender: a feed's VEVENT is the one Render writes, byte for
// byte, and a cancelled one RenderCancelled's.
func TestRenderFeedWritesEventsAsRender(t *testing.T) {
	e := fullEvent()
	vevent := func(cal []byte) string {
		s := string(cal)
		return s[strings.Index(s, "BEGIN:VEVENT"):strings.Index(s, "END:VEVENT")]
	}
	o := ics.FeedOptions{Host: opts.Host, Stamp: opts.Stamp}
	for _, cancelled := range []bool{false, true} {
		feed := ics.RenderFeed([]ics.Entry{{Event: e, EventURL: opts.EventURL, Cancelled: cancelled}}, o)
		want := ics.Render(e, opts)
		if cancelled {
			want = ics.RenderCancelled(e, opts)
		}
		if vevent(feed) != vevent(want) {
			t.Errorf("cancelled %v: feed VEVENT\n%s\nwant\n%s", cancelled, vevent(feed), vevent(want))
		}
	}
	if empty := string(ics.RenderFeed(nil, o)); strings.Contains(empty, "VEVENT") || !strings.HasSuffix(empty, "END:VCALENDAR\r\n") {
		t.Errorf("empty feed:\n%s", empty)
	}
}
