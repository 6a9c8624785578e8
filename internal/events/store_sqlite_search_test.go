package events

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestSQLiteSearchMatchesReference checks that the SQLite search, whatever index it walks
// and however it expands words into terms, finds the same events in the same order as a
// plain reference query (every word a prefix query of the full-text table, every other filter
// checked per row, sorted by start and ID) over a few thousand sample events, some of them
// retitled with accented words and some deleted: for every benchmark shape, every prefix of
// many words, words that begin no term, pairs of words, places with and without events, and
// second pages.
func TestSQLiteSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, database.SQLite, filepath.Join(t.TempDir(), "events.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.Seed(ctx, NewSample(3, now), 3000, nil); err != nil {
		t.Fatal(err)
	}
	// Accented words (kept as prefix queries), terms that only deleted events held, and
	// events that moved.
	for _, stmt := range []string{
		`UPDATE events SET title = 'Café Musicalité Naïve Jazzfest' WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 40 OFFSET 5)`,
		`UPDATE events SET title = 'Musicology Workshopping ' || title WHERE seq IN (SELECT seq FROM events ORDER BY seq DESC LIMIT 30 OFFSET 7)`,
		`UPDATE events SET description = description || ' Zyxwvut' WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 3 OFFSET 100)`,
		`DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 3 OFFSET 100)`,
		`DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 50 OFFSET 500)`,
	} {
		if _, err := s.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var organizer string
	if err := s.DB().QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		t.Fatal(err)
	}
	queries := referenceQueries(t, now, organizer)
	compared, nonEmpty := 0, 0
	for _, raw := range queries {
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseSearchQuery(v)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if q.From == nil {
			q.From = &now
		}
		for page := 0; page < 2; page++ {
			got, err := s.searchSQLite(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			want := referenceSearch(t, s, q)
			if !slices.Equal(ids(got), want) {
				t.Errorf("%s (page %d): got %d events %v, want %d %v", raw, page+1, len(got), ids(got), len(want), want)
			}
			compared++
			if len(want) == 0 {
				break
			}
			nonEmpty++
			if len(got) <= q.Limit {
				break
			}
			last := got[q.Limit-1]
			q.After = &Cursor{Time: last.StartsAt, ID: last.ID}
		}
	}
	// Words as a caller of the store may pass them, not lower-cased by ParseSearchQuery.
	for _, words := range [][]string{{"MUSIC"}, {"Musical"}, {"JAZZ", "Live"}, {"WORKSHOP"}, {"CAFÉ"}} {
		q := SearchQuery{Words: words, From: &now, Limit: 20}
		got, err := s.searchSQLite(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceSearch(t, s, q); len(want) == 0 || !slices.Equal(ids(got), want) {
			t.Errorf("words %q: got %v, want %v", words, ids(got), want)
		}
	}
	// The inputs must exercise both outcomes, and the expansions must have happened.
	if nonEmpty < compared/3 || nonEmpty == compared {
		t.Errorf("%d of %d searches found events: the inputs do not test much", nonEmpty, compared)
	}
	m, err := s.wordMatch(ctx, "musicolog")
	if err != nil || m != `("musicology")` {
		t.Errorf(`wordMatch("musicolog") = %q, %v; want ("musicology")`, m, err)
	}
}

func runePrefix(s string, n int) string { return string([]rune(s)[:min(n, len([]rune(s)))]) }

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// referenceQueries returns the query strings that TestSQLiteSearchMatchesReference tries.
func referenceQueries(t *testing.T, now time.Time, organizer string) []string {
	t.Helper()
	var out []string
	for _, shape := range benchShapes {
		for _, raw := range shape.queries {
			v, err := benchQuery(raw, now, organizer)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v.Encode())
		}
	}
	words := []string{"music", "musical", "musicology", "jazz", "jazzfest", "workshop", "workshopping", "tasting", "friends",
		"welcome", "evening", "night", "axolotl", "quokka", "theremin", "pulsar", "kakapo", "science", "python", "kubernetes",
		"photography", "neighbourhood", "stargazing", "café", "musicalité", "naïve", "zyxwvut", "the", "and"}
	seen := map[string]bool{}
	for _, w := range words {
		r := []rune(w)
		for n := 1; n <= len(r); n++ {
			if p := string(r[:n]); !seen[p] {
				seen[p] = true
				out = append(out, "q="+url.QueryEscape(p))
			}
		}
		out = append(out, "q="+url.QueryEscape(w+"x"), "q="+url.QueryEscape(strings.ToUpper(w)))
	}
	for i, w := range words {
		other := words[(i*7+3)%len(words)]
		out = append(out,
			"q="+url.QueryEscape(w+" "+other),
			"q="+url.QueryEscape(runePrefix(w, 5)+" "+runePrefix(other, 4))+"&limit=5",
			"q="+url.QueryEscape(w)+"&category=music",
			"q="+url.QueryEscape(w)+"&tag=free&limit=3",
			"q="+url.QueryEscape(w)+"&near=51.5074,-0.1278",
			"q="+url.QueryEscape(w)+"&organizer_id="+organizer,
			"q="+url.QueryEscape(w)+"&from="+url.QueryEscape(now.AddDate(0, 3, 0).Format(time.RFC3339))+
				"&to="+url.QueryEscape(now.AddDate(0, 4, 0).Format(time.RFC3339)),
		)
	}
	places := []string{"51.5074,-0.1278", "48.8566,2.3522", "-18.1248,178.4501", "-18.1248,-179.99", "45.764,4.8357",
		"0,-30", "-60,100", "89.9,0", "-89.9,45", "35.6762,139.6503", "51.6,-0.3"}
	for _, p := range places {
		for _, r := range []string{"1", "10", "25", "100", "500", "2000", "20000"} {
			out = append(out, "near="+p+"&radius_km="+r, "near="+p+"&radius_km="+r+"&limit=2&from="+
				url.QueryEscape(now.AddDate(0, 6, 0).Format(time.RFC3339)))
		}
		out = append(out, "near="+p+"&to="+url.QueryEscape(now.AddDate(0, 0, 3).Format(time.RFC3339)),
			"near="+p+"&category=food", "near="+p+"&q=music")
	}
	return out
}

// referenceSearch returns the IDs of the first q.Limit+1 events of q, by a plain query.
func referenceSearch(t *testing.T, s *SQLStore, q SearchQuery) []string {
	t.Helper()
	var c conds
	if len(q.Words) > 0 {
		words := make([]string, len(q.Words))
		for i, w := range q.Words {
			words[i] = prefixMatch(w)
		}
		c.add(`e.seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)`,
			`{title description tags} : (`+strings.Join(words, " AND ")+`)`)
	}
	timeFilters(&c, q)
	if q.Category != "" {
		c.add(`e.category_key = ?`, strings.ToLower(q.Category))
	}
	for _, tag := range q.Tags {
		c.add(`EXISTS (SELECT 1 FROM json_each(e.tags) WHERE value = ?)`, tag)
	}
	if q.OrganizerID != "" {
		c.add(`e.organizer_id = ?`, q.OrganizerID)
	}
	if q.Near != nil {
		c.add(`e.lat IS NOT NULL`)
		distanceFilter(&c, *q.Near)
	}
	rows, err := s.DB().Query(`SELECT e.id FROM events e NOT INDEXED WHERE `+c.sql()+` ORDER BY e.starts_at, e.id LIMIT ?`,
		append(c.args, q.Limit+1)...)
	if err != nil {
		t.Fatal(fmt.Errorf("reference: %w", err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
