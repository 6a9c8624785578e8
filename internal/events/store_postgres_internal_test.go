package events

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

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

func TestWindowEnd(t *testing.T) {
	// 1,000 events, 100 between each two bounds.
	st := &pgStats{rows: 1000, bounds: []int64{0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}}
	tests := []struct {
		name        string
		first       int64
		rows        float64
		want        int64
		wantInRange bool
	}{
		{"from the first bound", 0, 250, 250, true},
		{"before the first bound", -500, 100, 100, true},
		{"within a bucket", 150, 100, 250, true},
		{"rounded up", 150, 100.5, 251, true},
		{"into the last bucket", 0, 950, 950, true},
		{"past the last bound", 500, 500, 0, false},
		{"from the last bound", 1000, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := st.windowEnd(tt.first, tt.rows)
			if ok != tt.wantInRange || ok && got != tt.want {
				t.Errorf("windowEnd(%d, %v) = %d, %v; want %d, %v", tt.first, tt.rows, got, ok, tt.want, tt.wantInRange)
			}
		})
	}
	uneven := &pgStats{rows: 300, bounds: []int64{0, 10, 1000, 1010}} // 100 events in each bucket
	if got, ok := uneven.windowEnd(5, 100); !ok || got != 505 {
		t.Errorf("uneven buckets: windowEnd(5, 100) = %d, %v; want 505 (half of the first, half of the second)", got, ok)
	}
	for _, none := range []*pgStats{{rows: 1000}, {rows: 0, bounds: st.bounds}, {rows: 1000, bounds: []int64{5}}} {
		if got, ok := none.windowEnd(0, 1); ok {
			t.Errorf("without a histogram (%+v): windowEnd = %d, want none", none, got)
		}
	}
}

func TestParseBigintArray(t *testing.T) {
	got, err := parseBigintArray("{-1,0,1796389200000000}")
	if err != nil || !slices.Equal(got, []int64{-1, 0, 1796389200000000}) {
		t.Errorf("parseBigintArray = %v, %v", got, err)
	}
	for _, bad := range []string{"", "{}", "1,2", "{1,x}", "{1,2", "1,2}"} {
		if got, err := parseBigintArray(bad); err == nil {
			t.Errorf("parseBigintArray(%q) = %v, want an error", bad, got)
		}
	}
}

func TestStatsMatches(t *testing.T) {
	st := &pgStats{
		rows:  1_000_000,
		elems: map[string][]string{"tags": {"beginners", "chess"}, "search": {"jazz", "jazzy", "live", "music", "musical"}},
		freqs: map[string][]float64{"tags": {0.08, 0.01}, "search": {0.015, 0.01, 0.005, 0.03, 0.002}},
	}
	tests := []struct {
		kind, value string
		want        float64
	}{
		{"tags", "beginners", 80_000},
		{"tags", "chess", 10_000},
		{"tags", "zebra", 0},              // not among the common ones
		{"search", "jazz", 25_000},        // jazz and jazzy
		{"search", "jazzy", 10_000},       //
		{"search", "jaz", 25_000},         // a prefix of both
		{"search", "live-music", 5_000},   // as rare as "live"
		{"search", "jazzy-music", 10_000}, // jazzy then music: as rare as jazzy
		{"search", "MUSIC", 32_000},       // folded: music and musical
		{"search", "\"", 0},               // no word
		{"search", "axolotl", 0},          // not among the common ones
		{"search", "musicals", 0},         // begins none
		{"tags", "jazz", 0},               // the words' statistics are not the tags'
		{"search", "beginners", 0},        // and the other way round
	}
	for _, tt := range tests {
		if got := st.matches(tt.kind, tt.value); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.kind, tt.value, got, tt.want)
		}
	}
}

func TestWindowed(t *testing.T) {
	paris := &Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 25}
	tiny := &Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 1} // a box, not cells
	tests := []struct {
		name string
		q    SearchQuery
		want bool
	}{
		{"words and a category", SearchQuery{Words: []string{"jazz"}, Category: "music"}, true},
		{"a tag and cells", SearchQuery{Tags: []string{"free"}, Near: paris}, true},
		{"an organizer and a tag", SearchQuery{Tags: []string{"free"}, OrganizerID: "o"}, true},
		{"a category and cells", SearchQuery{Category: "music", Near: paris}, true},
		{"words and tags only", SearchQuery{Words: []string{"jazz"}, Tags: []string{"free", "live"}}, true},
		{"two tags", SearchQuery{Tags: []string{"free", "live"}}, true},
		{"words and a tag", SearchQuery{Words: []string{"jazz"}, Tags: []string{"free"}}, false},
		{"a tag and a box", SearchQuery{Tags: []string{"free"}, Near: tiny}, false},
		{"one filter", SearchQuery{Category: "music"}, false},
		{"two words", SearchQuery{Words: []string{"live", "jazz"}}, false},
		{"nothing", SearchQuery{}, false},
	}
	for _, tt := range tests {
		if got := windowed(tt.q); got != tt.want {
			t.Errorf("%s: windowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNearAlone(t *testing.T) {
	town := &Circle{Lat: 45.764, Lon: 4.8357, RadiusKM: 10}
	cells, ok := placeCells(boundingBox(*town))
	if !ok || len(cells) < 2 {
		t.Fatalf("the town's cells: %v, %v", cells, ok)
	}
	share := func(total float64) *pgStats { // total spread over the town's cells
		st := &pgStats{rows: 1000, cells: map[int32]float64{}}
		for _, c := range cells {
			st.cells[c] = total / float64(len(cells))
		}
		return st
	}
	tests := []struct {
		name  string
		st    *pgStats
		q     SearchQuery
		alone bool
		first float64 // rows of the first window, 21 wanted
	}{
		{"a town", share(0.007), SearchQuery{Near: town}, true, windowMargin * 21 / 0.007},
		{"a town, times too", share(0.007), SearchQuery{Near: town, From: &time.Time{}}, true, windowMargin * 21 / 0.007},
		{"a dense town", share(0.01), SearchQuery{Near: town}, true, windowEventsPerResult * 21},
		{"a big city", share(0.07), SearchQuery{Near: town}, false, windowEventsPerResult * 21},
		{"cells none of the common ones", share(0), SearchQuery{Near: town}, false, windowEventsPerResult * 21},
		{"a town and a category", share(0.001), SearchQuery{Near: town, Category: "music"}, false, windowMargin * 21 / 0.001},
		{"a town and a word", share(0.007), SearchQuery{Near: town, Words: []string{"jazz"}}, false, windowMargin * 21 / 0.007},
		{"a box, not cells", share(0.007), SearchQuery{Near: &Circle{Lat: 45.764, Lon: 4.8357, RadiusKM: 1}}, false, windowEventsPerResult * 21},
		{"no place", share(0.007), SearchQuery{Category: "music"}, false, windowEventsPerResult * 21},
	}
	for _, tt := range tests {
		if got := tt.st.nearAlone(tt.q); got != tt.alone {
			t.Errorf("%s: nearAlone = %v, want %v", tt.name, got, tt.alone)
		}
		if got := tt.st.firstWindow(tt.q, 21); math.Abs(got-tt.first) > 1e-6 {
			t.Errorf("%s: firstWindow = %v, want %v", tt.name, got, tt.first)
		}
	}
}

func TestPostgresQueryCommon(t *testing.T) {
	q := SearchQuery{Words: []string{"jazz", "axolotl"}, Tags: []string{"free", "chess"}, Category: "Music", Limit: 20}
	common := func(kind, value string) bool { return value == "jazz" || value == "free" }
	query, args, ok := postgresQuery(q, common, false)
	if !ok {
		t.Fatal("matches nothing")
	}
	for _, want := range []string{
		`e.tags @> $2`, `CASE WHEN e.tags @> $3 THEN true ELSE false END`,
		`e.search @@ to_tsquery('simple', $4)`, `CASE WHEN e.search @@ to_tsquery('simple', $5) THEN true ELSE false END`,
	} {
		if !strings.Contains(query, want) {
			t.Errorf("query lacks %s:\n%s", want, query)
		}
	}
	wantArgs := []any{"music", []string{"chess"}, []string{"free"}, `'axolotl':*`, `'jazz':*`, 21}
	if diff := cmp.Diff(wantArgs, args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	plain, plainArgs, _ := postgresSearchQuery(q)
	if strings.Contains(plain, "CASE WHEN") || len(plainArgs) != 4 {
		t.Errorf("without statistics every tag and word is indexed: %s %v", plain, plainArgs)
	}
	if _, _, ok := postgresQuery(SearchQuery{Words: []string{"jazz", "\""}, Category: "music", Limit: 20}, common, false); ok {
		t.Error("a word without a letter or digit matches nothing, also when the others are common")
	}
}

func TestRareFilter(t *testing.T) {
	st := &pgStats{
		rows:  1000,
		elems: map[string][]string{"tags": {"free", "jazz"}, "search": {"jazz", "music"}},
		freqs: map[string][]float64{"tags": {0.2, 0.1}, "search": {0.1, 0.3}},
	}
	tests := []struct {
		name string
		q    SearchQuery
		want bool
	}{
		{"common tags", SearchQuery{Tags: []string{"free", "jazz"}}, false},
		{"an absent tag", SearchQuery{Tags: []string{"free", "zebra"}}, true},
		{"a common prefix", SearchQuery{Words: []string{"mus"}}, false},
		{"an absent word", SearchQuery{Words: []string{"zebra"}}, true},
		{"a word with an absent part", SearchQuery{Words: []string{"jazz-zebra"}}, true},
		{"no tag or word", SearchQuery{Category: "music"}, false},
	}
	for _, tt := range tests {
		if got := st.rareFilter(tt.q); got != tt.want {
			t.Errorf("%s: rareFilter = %v, want %v", tt.name, got, tt.want)
		}
	}
	none := &pgStats{rows: 1000, elems: map[string][]string{}}
	if none.rareFilter(SearchQuery{Tags: []string{"zebra"}}) {
		t.Error("without common elements nothing is known rare")
	}
	if (&pgStats{elems: st.elems, freqs: st.freqs}).rareFilter(SearchQuery{Tags: []string{"zebra"}}) {
		t.Error("without a count of rows nothing is known rare")
	}
	sorted, _, _ := postgresQuery(SearchQuery{Tags: []string{"zebra"}, Limit: 20}, nil, true)
	if !strings.Contains(sorted, "ORDER BY e.starts_at + 0, e.id LIMIT") {
		t.Errorf("sorted matches: %s", sorted)
	}
}
