package events

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// searchPostgres is Search in PostgreSQL, returning up to q.Limit+1 events.
//
// Every search is one SELECT … ORDER BY starts_at, id LIMIT n with the conditions of q, and
// the planner chooses, from the statistics of the values asked for, what drives it: the
// (starts_at, id) index walked in the result order with the other conditions checked per row
// when they match many events (a common word or tag, a city), or the index of a selective
// condition (a rare word or tag, an empty place; a category or organizer, whose indexes also
// give the result order) with the few matches sorted. Paging continues after the cursor with
// (starts_at, id) > (cursor), a range of the same indexes.
//
// Words match through a tsvector of the folded words (see foldWords) and prefix queries
// ('jazz':*). A distance names the map cells around the circle when there are a few of them
// (the cell statistics give the planner the number of events there, which it cannot infer from
// latitude and longitude taken apart), or else bounds latitude and longitude; the haversine
// formula then keeps the events inside the circle.
//
// A search that combines filters, one of them a category, organizer or map cells, first
// looks in windows of start times (see searchWindows): the planner, which takes the filters
// as independent, underestimates how many events match them all (jazz is mostly music), and
// would rather intersect the whole index of each filter, a cost that grows with the table,
// where the first matches in start order are near. So does a distance alone whose map cells
// hold a small share of the events (a town, see pgStats.nearAlone), whose first window that
// share sizes.
//
// A search for a tag or word that the statistics do not count among the common ones (see
// rareFilter) sorts its matches rather than walk the start times: the planner, which gives an
// unknown element a share of the table, would otherwise walk the whole table in order when
// the element is absent.
func (s *SQLStore) searchPostgres(ctx context.Context, q SearchQuery) ([]Event, error) {
	inWindows, err := s.inWindows(ctx, q)
	if err != nil {
		return nil, err
	}
	if inWindows {
		events, done, err := s.searchWindows(ctx, q, s.queryEvents)
		if err != nil || done {
			return events, err
		}
	}
	return s.searchPostgresOnce(ctx, q)
}

// inWindows reports whether q is searched in windows of start times first: when windowed
// says so, or for a distance search alone in common map cells (see pgStats.nearAlone).
func (s *SQLStore) inWindows(ctx context.Context, q SearchQuery) (bool, error) {
	if s.stats == nil {
		return false, nil
	}
	if windowed(q) {
		return true, nil
	}
	if q.Near == nil {
		return false, nil
	}
	st, err := s.pgStats(ctx)
	if err != nil {
		return false, err
	}
	return st.nearAlone(q), nil
}

// searchPostgresOnce runs the one SELECT of q over the whole table.
func (s *SQLStore) searchPostgresOnce(ctx context.Context, q SearchQuery) ([]Event, error) {
	query, args, ok, err := s.postgresWholeQuery(ctx, q)
	if err != nil || !ok {
		return nil, err
	}
	return s.queryEvents(ctx, query, args)
}

// postgresWholeQuery returns the query of q over the whole table (postgresSearchQuery, its
// matches sorted if it has a rare tag or word) and its arguments, or false when q matches no
// event.
func (s *SQLStore) postgresWholeQuery(ctx context.Context, q SearchQuery) (string, []any, bool, error) {
	sortMatches := false
	if s.stats != nil && len(q.Tags)+len(q.Words) > 0 {
		st, err := s.pgStats(ctx)
		if err != nil {
			return "", nil, false, err
		}
		sortMatches = st.rareFilter(q)
	}
	query, args, ok := postgresQuery(q, nil, sortMatches)
	return query, args, ok, nil
}

// postgresSearchQuery returns the query of q and its arguments, or false when q matches no
// event (a word without a letter or digit).
func postgresSearchQuery(q SearchQuery) (string, []any, bool) {
	return postgresQuery(q, nil, false)
}

// postgresQuery is postgresSearchQuery, where the tags and words of q that common reports
// (if not nil) are checked per row only: written as a CASE, which no index serves and whose
// selectivity the planner takes as one half (a common value in a window: the planner, taking
// several of them as independent, would expect a few matches, read the whole window and sort
// it, where walking the window in start order stops at the page); and, if
// sortMatches, ordered by an expression of the start time that no index gives, so that the
// planner reads the matches from the indexes of the filters and sorts them.
func postgresQuery(q SearchQuery, common func(kind, value string) bool, sortMatches bool) (string, []any, bool) {
	var c conds
	timeFilters(&c, q)
	if q.OrganizerID != "" {
		c.add(`e.organizer_id = ?`, q.OrganizerID)
	}
	if q.Category != "" {
		c.add(`e.category_key = ?`, strings.ToLower(q.Category))
	}
	var (
		cells   []int32
		byCells bool // q.Near is searched by the map cells around it
	)
	if q.Near != nil {
		cells, byCells = placeCells(boundingBox(*q.Near))
	}
	switch {
	case len(q.Tags) > 0 && byCells:
		// Each tag in the cells around the circle: a few entries of events_tag_cells, where
		// the tag's own list holds every event with it, wherever it is.
		for _, t := range q.Tags {
			c.add(`e.tag_cells && ?`, tagCells(t, cells))
		}
	case len(q.Tags) > 0:
		indexed, checked := split(q.Tags, "tags", common)
		if len(indexed) > 0 {
			c.add(`e.tags @> ?`, indexed)
		}
		if len(checked) > 0 {
			c.add(`CASE WHEN e.tags @> ? THEN true ELSE false END`, checked)
		}
	}
	if len(q.Words) > 0 && !wordFilters(&c, q.Words, common) {
		return "", nil, false
	}
	switch {
	case byCells:
		c.add(`e.cell = ANY(?)`, cells)
		distanceFilter(&c, *q.Near)
	case q.Near != nil:
		nearFilter(&c, *q.Near)
	}
	order := `e.starts_at`
	if sortMatches {
		order = `e.starts_at + 0` // the same order
	}
	return database.Postgres.Rebind(`SELECT ` + postgresEventColumns + ` FROM events e WHERE ` + c.sql() +
		` ORDER BY ` + order + `, e.id LIMIT ?`), append(c.args, q.Limit+1), true
}

// wordFilters adds the conditions that e holds every one of words (see tsQuery), those that
// common reports checked per row only, or returns false when a word has no letter or digit.
func wordFilters(c *conds, words []string, common func(kind, value string) bool) bool {
	if _, ok := tsQuery(words); !ok {
		return false
	}
	indexed, checked := split(words, "search", common)
	if tsq, ok := tsQuery(indexed); ok && len(indexed) > 0 {
		c.add(`e.search @@ to_tsquery('simple', ?)`, tsq)
	}
	if tsq, ok := tsQuery(checked); ok && len(checked) > 0 {
		c.add(`CASE WHEN e.search @@ to_tsquery('simple', ?) THEN true ELSE false END`, tsq)
	}
	return true
}

// split returns the values of the column kind that common does not report, and those it
// does; all of them first when common is nil.
func split(values []string, kind string, common func(kind, value string) bool) (rest, reported []string) {
	for _, v := range values {
		if common != nil && common(kind, v) {
			reported = append(reported, v)
		} else {
			rest = append(rest, v)
		}
	}
	return rest, reported
}

// The grid of the column cell (see the migration, which computes cells with the same formula).
const (
	// cellSize is the side of a cell, in degrees.
	cellSize = 0.25
	// cellsPerRow is how many cells a row of the grid, a band of latitudes, holds.
	cellsPerRow = 360 / cellSize
	// maxPlaceCells is how many cells a search may name.
	maxPlaceCells = 256
)

// placeCells returns the cells that cover the bounding box b of a distance search, or false
// when b is better searched as a box: when it is less than half a cell tall (the cells would
// hold many more events than the circle, and their count would mislead the planner) or needs
// more than maxPlaceCells cells.
func placeCells(b bbox) ([]int32, bool) {
	if b.maxLat-b.minLat < cellSize/2 {
		return nil, false
	}
	grid, ok := gridCells(b, cellSize, maxPlaceCells)
	if !ok {
		return nil, false
	}
	cells := make([]int32, len(grid))
	for i, c := range grid {
		cells[i] = int32(c[0]*cellsPerRow + c[1])
	}
	return cells, true
}

// tagCells returns the elements of the column tag_cells (see its migration) that an event
// holding tag in one of cells has: the tag, a space, the cell.
func tagCells(tag string, cells []int32) []string {
	out := make([]string, len(cells))
	for i, cell := range cells {
		out[i] = tag + " " + strconv.Itoa(int(cell))
	}
	return out
}

// tsQuery returns the text search query that matches the events holding every one of words
// as a word or the beginning of one, or false when a word has no letter or digit. A word that
// folds to several (as "live-music" does) must match them in a row, the last as a prefix.
func tsQuery(words []string) (string, bool) {
	parts := make([]string, 0, len(words))
	for _, w := range words {
		tokens := foldWords(w)
		if len(tokens) == 0 {
			return "", false
		}
		for i, t := range tokens {
			tokens[i] = "'" + t + "'" // t holds only letters, digits and marks: nothing to escape
		}
		parts = append(parts, strings.Join(tokens, " <-> ")+":*")
	}
	return strings.Join(parts, " & "), true
}

// searchText returns the words of e that a search finds it by, folded, separated by spaces.
func searchText(e Event) string {
	return strings.Join(foldWords(e.Title+" "+e.Description+" "+strings.Join(e.Tags, " ")), " ")
}

// foldWords splits s into words where queryWords does, at every character that is not a
// letter, a digit or a combining mark, and returns them lower-cased and with the diacritics of
// Latin letters removed (as SQLite's full-text index does), so that "Café", "cafe" and "CAFE"
// are the same word. The store folds in Go rather than in SQL so that indexed text and queries
// fold alike whatever the database's locale, and without the unaccent extension.
func foldWords(s string) []string {
	var out []string
	for w := range strings.FieldsFuncSeq(s, notWordChar) {
		if w = foldWord(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

func foldWord(w string) string {
	w = strings.ToLower(w)
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return w
	}
	var (
		b     strings.Builder
		latin bool // whether the last letter was a Latin one
	)
	for _, r := range norm.NFD.String(w) {
		if !unicode.Is(unicode.Mn, r) {
			latin = unicode.Is(unicode.Latin, r)
		} else if latin {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}
