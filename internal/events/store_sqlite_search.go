package events

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

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
	filterCount := len(q.Tags)
	for _, set := range []bool{q.Category != "", q.OrganizerID != "", q.Near != nil} {
		if set {
			filterCount++
		}
	}
	switch {
	case len(q.Words) > 0 || filterCount > 1:
		return s.searchText(ctx, q, want)
	case q.OrganizerID != "":
		return s.searchOrdered(ctx, q, driveOrganizer, want)
	case len(q.Tags) > 0:
		return s.searchOrdered(ctx, q, driveTag, want)
	case q.Category != "":
		return s.searchOrdered(ctx, q, driveCategory, want)
	case q.Near != nil:
		return s.searchNear(ctx, q, want)
	default:
		return s.searchOrdered(ctx, q, driveTime, want)
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
	query, args := textQuery(q)
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

func textQuery(q SearchQuery) (string, []any) {
	var c conds
	c.add(`events_fts MATCH ?`, ftsQuery(q))
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

// firstWindow is the length of the first window of start times that searchNear looks at;
// each next window is twice as long as the one before.
const firstWindow = 24 * time.Hour

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
	var first, last sql.NullInt64
	if err := s.DB().QueryRowContext(ctx, `SELECT
		(SELECT starts_at FROM events WHERE starts_at >= ? ORDER BY starts_at LIMIT 1),
		(SELECT starts_at FROM events WHERE starts_at <= ? ORDER BY starts_at DESC LIMIT 1)`, lo, hi,
	).Scan(&first, &last); err != nil {
		return nil, err
	}
	if !first.Valid || !last.Valid || first.Int64 > last.Int64 {
		return nil, nil
	}
	var out []Event
	width := firstWindow.Microseconds()
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
// (each as a word or the beginning of one) in their title, description or tags, and every
// facet that q asks for. Words are quoted, so no character of theirs is FTS5 syntax.
func ftsQuery(q SearchQuery) string {
	var parts []string
	if len(q.Words) > 0 {
		words := make([]string, len(q.Words))
		for i, w := range q.Words {
			words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"*`
		}
		parts = append(parts, `{title description tags} : (`+strings.Join(words, " ")+`)`)
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
