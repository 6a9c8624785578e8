package events

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// searchSQLite is Search in SQLite, returning up to q.Limit+1 events.
//
// A search with words, or with two filters or more among tags, category, organizer and
// distance, is driven by the full-text table, which intersects the lists of words and
// facets and yields matches in the order of seq, that is of start time. A search with one
// of these filters walks the index of that filter in the result order; one with only a
// distance queries the R*Tree in windows of start times.
func (s *SQLStore) searchSQLite(ctx context.Context, q SearchQuery) ([]Event, error) {
	want := q.Limit + 1
	switch d := searchDriver(q); d {
	case driveText:
		return s.searchText(ctx, q, want)
	case driveNear:
		return s.searchNear(ctx, q, want)
	default:
		return s.searchOrdered(ctx, q, d, want)
	}
}

// searchDriver returns the index that searchSQLite walks for q.
func searchDriver(q SearchQuery) driver {
	filterCount := len(q.Tags)
	for _, set := range []bool{q.Category != "", q.OrganizerID != "", q.Near != nil} {
		if set {
			filterCount++
		}
	}
	switch {
	case len(q.Words) > 0 || filterCount > 1:
		return driveText
	case q.OrganizerID != "":
		return driveOrganizer
	case len(q.Tags) > 0:
		return driveTag
	case q.Category != "":
		return driveCategory
	case q.Near != nil:
		return driveNear
	default:
		return driveTime
	}
}

// driver names the index that a search walks; the other filters are checked per row.
type driver int

const (
	driveTime driver = iota
	driveCategory
	driveOrganizer
	driveTag
	driveText
	driveNear
)

// filters adds the conditions of q on the events row e, leaving out what the driver d
// checks itself. Words are left to the full-text table, which drives every search that has
// them.
func filters(c *conds, q SearchQuery, d driver) {
	timeFilters(c, q)
	if q.OrganizerID != "" && d != driveOrganizer {
		c.add(`e.organizer_id = ?`, q.OrganizerID)
	}
	if q.Category != "" && d != driveCategory {
		c.add(`e.category_key = ?`, strings.ToLower(q.Category))
	}
	tags := q.Tags
	if d == driveTag {
		tags = tags[1:]
	}
	for _, t := range tags {
		c.add(`EXISTS (SELECT 1 FROM event_tags x WHERE x.tag = ? AND x.starts_at = e.starts_at AND x.event_id = e.id)`, t)
	}
	if q.Near != nil {
		nearFilter(c, *q.Near)
	}
}

// searchOrdered answers q by walking an index in the result order.
func (s *SQLStore) searchOrdered(ctx context.Context, q SearchQuery, d driver, want int) ([]Event, error) {
	query, args := orderedQuery(q, d, want)
	return s.queryEvents(ctx, query, args)
}

func orderedQuery(q SearchQuery, d driver, want int) (string, []any) {
	var c conds
	from := `events e INDEXED BY events_starts`
	order := `e.starts_at, e.id`
	switch d {
	case driveCategory:
		from = `events e INDEXED BY events_category`
		c.add(`e.category_key = ?`, strings.ToLower(q.Category))
	case driveOrganizer:
		from = `events e INDEXED BY events_organizer`
		c.add(`e.organizer_id = ?`, q.OrganizerID)
	case driveTag:
		from = `event_tags t CROSS JOIN events e ON e.id = t.event_id`
		order = `t.starts_at, t.event_id`
		c.add(`t.tag = ?`, q.Tags[0])
		if q.From != nil {
			c.add(`t.starts_at >= ?`, database.Micros(*q.From))
		}
		if q.To != nil {
			c.add(`t.starts_at <= ?`, database.Micros(*q.To))
		}
		if q.After != nil {
			c.add(`(t.starts_at, t.event_id) > (?, ?)`, database.Micros(q.After.Time), q.After.ID)
		}
	}
	filters(&c, q, d)
	return `SELECT ` + eventColumns + ` FROM ` + from + ` WHERE ` + c.sql() + ` ORDER BY ` + order + ` LIMIT ?`, append(c.args, want)
}

// searchText answers q from the full-text table, which gives the matches in the order of
// seq: by start second, but in no particular order within one second. It reads matches until
// it has want of them and has seen the whole second of the last one, then sorts them.
func (s *SQLStore) searchText(ctx context.Context, q SearchQuery, want int) ([]Event, error) {
	words := make([]string, len(q.Words))
	for i, w := range q.Words {
		m, err := s.wordMatch(ctx, w)
		if err != nil {
			return nil, err
		}
		if m == "" { // no indexed word begins with w
			return nil, nil
		}
		words[i] = m
	}
	query, args := textQuery(q, words)
	rows, err := s.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out  []Event
		last int64 // the start second of the want-th match
	)
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		sec := secFloor(database.Micros(e.StartsAt))
		if len(out) >= want && sec != last {
			break
		}
		out = append(out, e)
		if len(out) == want {
			last = sec
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortEvents(out)
	return out[:min(len(out), want)], nil
}

// textQuery returns the query of searchText; words are the FTS5 expressions of q.Words (see
// wordMatch).
func textQuery(q SearchQuery, words []string) (string, []any) {
	var c conds
	c.add(`events_fts MATCH ?`, ftsQuery(q, words))
	lo := int64(math.MinInt64)
	if q.From != nil {
		lo = database.Micros(*q.From)
	}
	if q.After != nil {
		lo = max(lo, database.Micros(q.After.Time))
	}
	if lo != math.MinInt64 {
		c.add(`events_fts.rowid >= ?`, secFloor(lo)<<seqShift)
	}
	if q.To != nil {
		c.add(`events_fts.rowid < ?`, (secFloor(database.Micros(*q.To))+1)<<seqShift)
	}
	filters(&c, q, driveText)
	return `SELECT ` + eventColumns + ` FROM events_fts CROSS JOIN events e ON e.seq = events_fts.rowid
		WHERE ` + c.sql() + ` ORDER BY events_fts.rowid`, c.args
}

// windowEvents is how many events of all places the first window of start times that
// searchNear looks at holds: its length follows the density of events, so that the window
// costs the same at any number of events; each next window is twice as long as the one
// before.
const windowEvents = 500

// searchNear answers q, whose only filter besides time is a distance, from the R*Tree. The
// R*Tree gives its matches in no useful order, so searchNear queries windows of start times,
// from the earliest possible start on, each twice as long as the one before, until it has
// want events: few windows for a crowded place, small ones for an empty place.
func (s *SQLStore) searchNear(ctx context.Context, q SearchQuery, want int) ([]Event, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if q.From != nil {
		lo = database.Micros(*q.From)
	}
	if q.After != nil {
		lo = max(lo, database.Micros(q.After.Time))
	}
	if q.To != nil {
		hi = database.Micros(*q.To)
	}
	first, last, err := s.nearSpan(ctx, *q.Near, lo, hi)
	if err != nil || !first.Valid || !last.Valid || first.Int64 > last.Int64 {
		return nil, err
	}
	width, err := s.firstWindow(ctx, first.Int64)
	if err != nil {
		return nil, err
	}
	var out []Event
	for start := first.Int64; ; width *= 2 {
		end := start + width
		final := end > last.Int64 || end < start // past the last event, or overflowed
		page, err := s.searchNearWindow(ctx, q, start, end, final, want-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(out) >= want || final {
			return out, nil
		}
		start = end
	}
}

// firstWindow returns the length, in microseconds, of the first window of start times from
// start on: up to the start of the windowEvents-th event of all from start on, at least a
// second; when fewer events are left, longer than any time.
func (s *SQLStore) firstWindow(ctx context.Context, start int64) (int64, error) {
	var kth sql.NullInt64
	err := s.DB().QueryRowContext(ctx, firstWindowQuery, start, windowEvents-1).Scan(&kth)
	if err == sql.ErrNoRows || err == nil && !kth.Valid {
		return math.MaxInt64, nil
	}
	if err != nil {
		return 0, err
	}
	return max(kth.Int64-start, 1_000_000), nil
}

// firstWindowQuery returns the start of the event ?2 places after the first that starts at ?1
// or later.
const firstWindowQuery = `SELECT starts_at FROM events WHERE starts_at >= ?1 ORDER BY starts_at LIMIT 1 OFFSET ?2`

// nearSpan returns the earliest and the latest start in [lo, hi] of the events that may lie
// in c, or NULLs when there is none. The latest is that of all events. When a few map cells
// cover c, the earliest is the start second of the first event of those cells, from their
// posting lists in the full-text table (which seq orders by start second), so that searchNear
// queries the R*Tree only from the time of the first event near c on, and not at all for a
// place where there is none: the R*Tree alone has no cheap way to tell, and reads most of its
// nodes to find nothing. Otherwise it is the start of the first event of all.
func (s *SQLStore) nearSpan(ctx context.Context, c Circle, lo, hi int64) (first, last sql.NullInt64, err error) {
	cells := coveringCells(boundingBox(c))
	if len(cells) == 0 {
		err = s.DB().QueryRowContext(ctx, `SELECT
			(SELECT starts_at FROM events WHERE starts_at >= ? ORDER BY starts_at LIMIT 1),
			(SELECT starts_at FROM events WHERE starts_at <= ? ORDER BY starts_at DESC LIMIT 1)`, lo, hi,
		).Scan(&first, &last)
		return first, last, err
	}
	loSeq := int64(math.MinInt64)
	if lo != math.MinInt64 {
		loSeq = secFloor(lo) << seqShift
	}
	err = s.DB().QueryRowContext(ctx, nearSpanQuery, `facets : (`+strings.Join(cells, " OR ")+`)`, loSeq, hi).Scan(&first, &last)
	if err != nil || !first.Valid {
		return sql.NullInt64{}, sql.NullInt64{}, err
	}
	first.Int64 = max(lo, (first.Int64>>seqShift)*1_000_000)
	return first, last, nil
}

// nearSpanQuery returns the seq of the first event whose facets match ?1 with a seq from ?2 on,
// and the start of the last event that starts at ?3 or before.
const nearSpanQuery = `SELECT
	(SELECT rowid FROM events_fts WHERE events_fts MATCH ?1 AND rowid >= ?2 ORDER BY rowid LIMIT 1),
	(SELECT starts_at FROM events WHERE starts_at <= ?3 ORDER BY starts_at DESC LIMIT 1)`

// searchNearWindow returns the first limit events of q that start in [start, end), or from
// start on when final.
func (s *SQLStore) searchNearWindow(ctx context.Context, q SearchQuery, start, end int64, final bool, limit int) ([]Event, error) {
	query, args := nearWindowQuery(q, start, end, final, limit)
	return s.queryEvents(ctx, query, args)
}

func nearWindowQuery(q SearchQuery, start, end int64, final bool, limit int) (string, []any) {
	var (
		c   conds
		sub []string
		b   = boundingBox(*q.Near)
	)
	for _, lons := range b.lons {
		box := `SELECT seq FROM events_geo WHERE max_lat >= ? AND min_lat <= ? AND max_start >= ?`
		c.args = append(c.args, b.minLat, b.maxLat, secFloor(start))
		if !final {
			box += ` AND min_start <= ?`
			c.args = append(c.args, secFloor(end-1))
		}
		if lons != anyLon {
			box += ` AND max_lon >= ? AND min_lon <= ?`
			c.args = append(c.args, lons[0], lons[1])
		}
		sub = append(sub, box)
	}
	c.add(`e.starts_at >= ?`, start)
	if !final {
		c.add(`e.starts_at < ?`, end)
	}
	filters(&c, q, driveNear)
	return `SELECT ` + eventColumns + ` FROM (` + strings.Join(sub, ` UNION ALL `) + `) g CROSS JOIN events e ON e.seq = g.seq
		WHERE ` + c.sql() + ` ORDER BY e.starts_at, e.id LIMIT ?`, append(c.args, limit)
}

// ftsQuery returns the FTS5 query that preselects the events of q: those holding every word
// in their title, description or tags, and every facet that q asks for. words are the FTS5
// expressions of q's words, each matching the tokens that begin with its word (wordMatch).
func ftsQuery(q SearchQuery, words []string) string {
	var parts []string
	if len(words) > 0 {
		// Explicit ANDs: FTS5 joins only phrases by a space, not parenthesized expressions.
		parts = append(parts, `{title description tags} : (`+strings.Join(words, " AND ")+`)`)
	}
	if q.OrganizerID != "" {
		parts = append(parts, `facets : o`+hex.EncodeToString([]byte(q.OrganizerID)))
	}
	if q.Category != "" {
		parts = append(parts, `facets : c`+hex.EncodeToString([]byte(strings.ToLower(q.Category))))
	}
	for _, t := range q.Tags {
		parts = append(parts, `facets : t`+hex.EncodeToString([]byte(t)))
	}
	if q.Near != nil {
		if cells := coveringCells(boundingBox(*q.Near)); len(cells) > 0 {
			parts = append(parts, `facets : (`+strings.Join(cells, " OR ")+`)`)
		}
	}
	if len(parts) == 0 {
		// Not reached: searchText is used for words or facets. Match every event.
		return `facets : o*`
	}
	return strings.Join(parts, " AND ")
}

// cellLevels are the sizes, in degrees, of the map cells indexed as facets (the migration
// computes the same cells).
var cellLevels = []struct {
	prefix string
	size   float64
}{{"ga", 0.25}, {"gb", 2}, {"gc", 16}}

// maxCells is how many cells a distance filter may name in a full-text query.
const maxCells = 32

// coveringCells returns the facet tokens of the cells of the finest level that cover b with
// at most maxCells cells, or nil when none does.
func coveringCells(b bbox) []string {
	for _, l := range cellLevels {
		cells, ok := gridCells(b, l.size, maxCells)
		if !ok {
			continue
		}
		tokens := make([]string, len(cells))
		for i, c := range cells {
			tokens[i] = fmt.Sprintf("%s%dx%d", l.prefix, c[0], c[1])
		}
		return tokens
	}
	return nil
}

// maxPrefixIndex is the length, in characters, of the longest prefix that events_fts has a
// prefix index for (its prefix option): a prefix query up to that long reads one posting list
// as far as it needs, a longer one merges the whole posting lists of all the terms it matches
// before it yields its first row.
const maxPrefixIndex = 3

// maxWordTerms is how many terms a word may expand into (see wordMatch): FTS5 steps through
// the posting lists of an OR in step, comparing each.
const maxWordTerms = 64

// ftsString returns s as an FTS5 string, quoted, so that no character of it is FTS5 syntax.
func ftsString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// prefixMatch returns the FTS5 prefix query of the tokens that begin with w.
func prefixMatch(w string) string { return ftsString(w) + `*` }

// wordMatch returns the FTS5 expression that matches the tokens that begin with w, one of the
// words of a query, or "" when no token of the index does. A short word, which a prefix index
// serves, is a prefix query; a longer one is the terms of the index that begin with it, each
// matched exactly (("music" OR "musical")), which FTS5 reads in step, as far as the search
// needs, where the prefix query would merge their whole posting lists; fts_terms lists them
// (terms of deleted events too, which match nothing). A word with characters
// other than ASCII letters and digits, which the tokenizer may fold (é as e), and a word that
// begins more than maxWordTerms terms stay prefix queries. The terms are read in a statement
// of their own: an event that a concurrent write stores with a new term between the two
// statements may be missed, as if it had been stored after the search.
func (s *SQLStore) wordMatch(ctx context.Context, w string) (string, error) {
	if utf8.RuneCountInString(w) <= maxPrefixIndex || !asciiAlnum(w) {
		return prefixMatch(w), nil
	}
	// The tokenizer folds ASCII letters to lower case, and nothing else of an ASCII word.
	terms, err := s.termsWithPrefix(ctx, strings.ToLower(w), maxWordTerms+1)
	switch {
	case err != nil:
		return "", err
	case len(terms) == 0:
		return "", nil
	case len(terms) > maxWordTerms:
		return prefixMatch(w), nil
	}
	for i, t := range terms {
		terms[i] = ftsString(t)
	}
	return `(` + strings.Join(terms, ` OR `) + `)`, nil
}

// termsWithPrefix returns up to limit terms of the full-text index that begin with prefix,
// which is ASCII, from fts_terms: a range of its primary key.
func (s *SQLStore) termsWithPrefix(ctx context.Context, prefix string, limit int) ([]string, error) {
	rows, err := s.DB().QueryContext(ctx, termsQuery, prefix, prefixEnd(prefix), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var terms []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	return terms, rows.Err()
}

// termsQuery selects the terms in [?1, ?2), up to ?3 of them.
const termsQuery = `SELECT term FROM fts_terms WHERE term >= ?1 AND term < ?2 ORDER BY term LIMIT ?3`

// prefixEnd returns the least string above every string that begins with prefix, a non-empty
// ASCII string whose last character is below DEL.
func prefixEnd(prefix string) string {
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
}

// asciiAlnum reports whether w is made of ASCII letters and digits only.
func asciiAlnum(w string) bool {
	for i := range len(w) {
		c := w[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
