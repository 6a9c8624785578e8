package ics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/ics"
)

func TestRender(t *testing.T) {
	lat, lon := 52.52, 13.405
	end := time.Date(2027, 3, 1, 21, 0, 0, 0, time.UTC)
	e := ics.Event{
		ID: "0190-abc", Title: "Jazz, wine; and \\ more", Description: "Line one\nLine two " + strings.Repeat("é", 60),
		StartsAt: time.Date(2027, 3, 1, 19, 30, 0, 0, time.FixedZone("CET", 3600)), EndsAt: &end,
		Location:  &ics.Location{Name: "Club", Address: "Street 1, Berlin", Lat: &lat, Lon: &lon},
		UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	out := string(ics.Render(e, "http://localhost:8080/events/0190-abc", time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)))

	for _, want := range []string{
		"BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", "BEGIN:VEVENT\r\n", "UID:0190-abc@eventpost\r\n",
		"DTSTAMP:20260202T000000Z\r\n", "DTSTART:20270301T183000Z\r\n", "DTEND:20270301T210000Z\r\n",
		`SUMMARY:Jazz\, wine\; and \\ more` + "\r\n", `LOCATION:Club\, Street 1\, Berlin` + "\r\n",
		"URL:http://localhost:8080/events/0190-abc\r\n", "GEO:52.520000;13.405000\r\n", "END:VCALENDAR\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("calendar lacks %q:\n%s", want, out)
		}
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line %d is %d octets long: %q", i, len(line), line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d holds a bare line break: %q", i, line)
		}
	}
	unfolded := strings.ReplaceAll(out, "\r\n ", "")
	if !strings.Contains(unfolded, `DESCRIPTION:Line one\nLine two `+strings.Repeat("é", 60)) {
		t.Errorf("description does not unfold to the original text:\n%s", unfolded)
	}
}

func TestRenderUsesOnlineURL(t *testing.T) {
	u := "https://meet.example/x"
	out := string(ics.Render(ics.Event{ID: "1", Title: "t", OnlineURL: &u}, "http://page", time.Now()))
	if !strings.Contains(out, "URL:https://meet.example/x\r\n") || !strings.Contains(out, "LOCATION:https://meet.example/x\r\n") {
		t.Errorf("online event calendar:\n%s", out)
	}
}
