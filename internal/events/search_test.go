package events_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

func TestParseSearchQuery(t *testing.T) {
	at := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		tm = tm.UTC()
		return &tm
	}
	cursor := events.Cursor{Time: time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC), ID: "0190f2a0-0000-7000-8000-000000000001"}
	tests := []struct {
		query string
		want  events.SearchQuery
	}{
		{"", events.SearchQuery{Limit: 20}},
		{"q=Jazz+CAFÉ-night jazz", events.SearchQuery{Words: []string{"jazz", "café", "night"}, Limit: 20}},
		{"q=" + url.QueryEscape(`"AND" (OR) *`), events.SearchQuery{Words: []string{"and", "or"}, Limit: 20}},
		{"q=***", events.SearchQuery{Limit: 20}},
		{"from=2030-01-01T10:00:00%2B02:00&to=2030-01-02T00:00:00Z", events.SearchQuery{From: at("2030-01-01T08:00:00Z"), To: at("2030-01-02T00:00:00Z"), Limit: 20}},
		{"from=2030-01-01T10:00:00+02:00", events.SearchQuery{From: at("2030-01-01T08:00:00Z"), Limit: 20}},
		{"from=2030-01-01T10:00:00.1234567Z", events.SearchQuery{From: at("2030-01-01T10:00:00.123456Z"), Limit: 20}},
		{"from=2030-01-01T00:00:00Z&to=2030-01-01T00:00:00Z", events.SearchQuery{From: at("2030-01-01T00:00:00Z"), To: at("2030-01-01T00:00:00Z"), Limit: 20}},
		{"category=Live+Music", events.SearchQuery{Category: "Live Music", Limit: 20}},
		{"tag=Jazz&tag=free&tag=jazz", events.SearchQuery{Tags: []string{"jazz", "free"}, Limit: 20}},
		{"near=48.85,2.35", events.SearchQuery{Near: &events.Circle{Lat: 48.85, Lon: 2.35, RadiusKM: 25}, Limit: 20}},
		{"near=-90,-180&radius_km=20000", events.SearchQuery{Near: &events.Circle{Lat: -90, Lon: -180, RadiusKM: 20000}, Limit: 20}},
		{"near=+1.5,%20-2&radius_km=0.5", events.SearchQuery{Near: &events.Circle{Lat: 1.5, Lon: -2, RadiusKM: 0.5}, Limit: 20}},
		{"organizer_id=abc", events.SearchQuery{OrganizerID: "abc", Limit: 20}},
		{"limit=1", events.SearchQuery{Limit: 1}},
		{"limit=100", events.SearchQuery{Limit: 100}},
		{"cursor=" + paging.EncodeKey(cursor), events.SearchQuery{After: &cursor, Limit: 20}},
		{"unknown=1&q=", events.SearchQuery{Limit: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.ParseSearchQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSearchQueryShape(t *testing.T) {
	tests := []struct {
		q    events.SearchQuery
		want string
	}{
		{events.SearchQuery{}, "list"},
		{events.SearchQuery{Words: []string{"a"}, Tags: []string{"b"}}, "q"},
		{events.SearchQuery{Tags: []string{"a"}}, "tag"},
		{events.SearchQuery{Tags: []string{"a", "b"}}, "combined"},
		{events.SearchQuery{Category: "a", Near: &events.Circle{}}, "combined"},
		{events.SearchQuery{Near: &events.Circle{}}, "near"},
		{events.SearchQuery{Category: "a"}, "category"},
		{events.SearchQuery{OrganizerID: "a"}, "organizer"},
	}
	for _, tt := range tests {
		if got := tt.q.Shape(); got != tt.want {
			t.Errorf("%+v: Shape() = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestParsePageQuery checks the paging of the attendance lists: 50 by default, as the
// API's Limit parameter says for every list of version 1.1.
func TestParsePageQuery(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 50}, {"limit=1", 1}, {"limit=100", 100}} {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := events.ParsePageQuery(v)
		if err != nil || q.Limit != tt.want || q.After != 0 {
			t.Errorf("ParsePageQuery(%q) = %+v, %v; want limit %d", tt.query, q, err, tt.want)
		}
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "cursor=x", "cursor=" + paging.EncodeKey(paging.Key{ID: "e"})} {
		v, err := url.ParseQuery(bad)
		if err != nil {
			t.Fatal(err)
		}
		if q, err := events.ParsePageQuery(v); err == nil {
			t.Errorf("ParsePageQuery(%q) = %+v, want a 422", bad, q)
		}
	}
}

func FuzzParseSearchQuery(f *testing.F) {
	for _, seed := range []string{
		"", "q=jazz", "q=%22AND%22*", "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00%2B01:00", "category=Music",
		"tag=a&tag=b", "near=48.8,2.3&radius_km=10", "near=1e400,0", "limit=5", "cursor=MTg5MzQ1NjAwMDAwMDAwMCxpZA",
		"organizer_id=x", "q=" + strings.Repeat("é", 300), "near=NaN,Inf&radius_km=-0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := events.ParseSearchQuery(v)
		if err != nil {
			pe, ok := err.(*problem.Error)
			if !ok || pe.Status != 422 || len(pe.Fields) == 0 {
				t.Fatalf("error %v is not a 422 naming fields", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > events.MaxLimit {
			t.Errorf("limit %d", q.Limit)
		}
		if len(q.Words) > events.MaxQueryWords || len(q.Tags) > events.MaxTags {
			t.Errorf("%d words, %d tags", len(q.Words), len(q.Tags))
		}
		for _, w := range q.Words {
			if w == "" || strings.ContainsAny(w, "\"*(): ") {
				t.Errorf("word %q", w)
			}
		}
		if n := q.Near; n != nil && !(n.Lat >= -90 && n.Lat <= 90 && n.Lon >= -180 && n.Lon <= 180 && n.RadiusKM > 0 && n.RadiusKM <= events.MaxRadiusKM) {
			t.Errorf("near %+v", *n)
		}
		if q.From != nil && q.To != nil && q.To.Before(*q.From) {
			t.Errorf("to before from")
		}
		if q.After != nil {
			back, err := paging.DecodeKey(paging.EncodeKey(*q.After))
			if err != nil || !cmp.Equal(back, *q.After) {
				t.Errorf("cursor %+v does not round-trip: %+v, %v", *q.After, back, err)
			}
		}
	})
}
