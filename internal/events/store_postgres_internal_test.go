package events

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTSQuery(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  string // "" when nothing can match
	}{
		{"a word is a prefix", []string{"jaz"}, `'jaz':*`},
		{"every word must match", []string{"jazz", "night"}, `'jazz':* & 'night':*`},
		{"lower case", []string{"CAFE"}, `'cafe':*`},
		{"diacritics of Latin letters removed", []string{"café"}, `'cafe':*`},
		{"decomposed diacritics removed", []string{"e\u0301te\u0301"}, `'ete':*`},
		{"other scripts keep their marks", []string{"Йога"}, `'йога':*`},
		{"letters without diacritics stay", []string{"Straße"}, `'straße':*`},
		{"a word of several folds to a phrase", []string{"live-music"}, `'live' <-> 'music':*`},
		{"quotes and operators are separators", []string{"a'b&c"}, `'a' <-> 'b' <-> 'c':*`},
		{"no letter or digit", []string{"jazz", `"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tsQuery(tt.words)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("tsQuery(%q) = %q, %v; want %q", tt.words, got, ok, tt.want)
			}
		})
	}
}

func TestSearchText(t *testing.T) {
	e := Event{Title: "Café Concert — Ünïcödé!", Description: "Bring friends.\nDoors at 7pm", Tags: []string{"live-music", "free"}}
	want := "cafe concert unicode bring friends doors at 7pm live music free"
	if got := searchText(e); got != want {
		t.Errorf("searchText = %q, want %q", got, want)
	}
}

func TestPlaceCells(t *testing.T) {
	tests := []struct {
		name   string
		circle Circle
		want   []int32 // nil: searched as a box
	}{
		{"a city", Circle{Lat: 51.5074, Lon: -0.1278, RadiusKM: 25}, []int32{
			565*1440 + 718, 565*1440 + 719, 565*1440 + 720, 566*1440 + 718, 566*1440 + 719, 566*1440 + 720}},
		{"across the antimeridian", Circle{Lat: 10, Lon: 179.95, RadiusKM: 15}, []int32{
			399*1440 + 1439, 399*1440 + 1440, 400*1440 + 1439, 400*1440 + 1440, 399*1440 + 0, 400*1440 + 0}},
		{"smaller than half a cell", Circle{Lat: 51.5074, Lon: -0.1278, RadiusKM: 5}, nil},
		{"too many cells", Circle{Lat: 48.85, Lon: 2.35, RadiusKM: 2000}, nil},
		{"a pole", Circle{Lat: 89.9, Lon: 0, RadiusKM: 50}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := placeCells(boundingBox(tt.circle))
			if ok != (tt.want != nil) {
				t.Fatalf("placeCells(%+v) = %v, %v", tt.circle, got, ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithCustomPlans(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"URL", "postgres://u:p@db:5432/events?sslmode=disable",
			"postgres://u:p@db:5432/events?plan_cache_mode=force_custom_plan&sslmode=disable"},
		{"URL that sets it", "postgresql://db/events?plan_cache_mode=auto", "postgresql://db/events?plan_cache_mode=auto"},
		{"keywords", "host=db dbname=events", "host=db dbname=events plan_cache_mode=force_custom_plan"},
		{"keywords that set it", "host=db plan_cache_mode=auto", "host=db plan_cache_mode=auto"},
		{"empty: the environment's defaults", "", "plan_cache_mode=force_custom_plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withCustomPlans(tt.dsn)
			if err != nil || got != tt.want {
				t.Errorf("withCustomPlans(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
		})
	}
	t.Run("a bad URL is not repeated in the error", func(t *testing.T) {
		_, err := withCustomPlans("postgres://u:secret@db:port/events")
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("error %v", err)
		}
	})
}
