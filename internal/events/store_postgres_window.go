package events

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// Windows of start times (searchWindows).
const (
	// windowEventsPerResult is how many events, per event asked for, the first window holds:
	// enough when one event in 200 matches.
	windowEventsPerResult = 200
	// windowMargin is how much more than the density of matches in the last window foretells
	// the next window holds.
	windowMargin = 1.5
	// windowGrowthMin and windowGrowthMax bound how much larger than the last a window is.
	windowGrowthMin, windowGrowthMax = 4, 16
	// maxWindows is how many windows a search tries before it searches the whole table.
	maxWindows = 3
	// maxWindowShare is the largest share of the table a window holds: a larger one costs
	// about as much as the whole table.
	maxWindowShare = 0.25
	// maxNearWindowShare is the largest share of the table in the map cells of a distance
	// search alone that is searched in windows (see pgStats.nearAlone). Measured at 100,000
	// and 1,000,000 sample events: towns of 0.15-0.7 % read 3-4 times fewer rows in windows,
	// cities of 6.5-7.3 % (2-3 % within the circle) read fewer walking the start times.
	maxNearWindowShare = 0.02
)

// windowed reports whether q is searched in windows first: whether it has two filters or more
// among words, tags, category, organizer and distance, one of them a category, an organizer or
// a distance that names map cells, whose B-tree indexes hold the start time; or two tags or
// more, which the planner takes as independent where they seldom are (jazz and live-music),
// and whose windows the index of start times bounds.
func windowed(q SearchQuery) bool {
	if len(q.Tags) >= 2 {
		return true
	}
	n := 0
	for _, set := range []bool{len(q.Words) > 0, len(q.Tags) > 0, q.Category != "", q.OrganizerID != "", q.Near != nil} {
		if set {
			n++
		}
	}
	if n < 2 {
		return false
	}
	if q.Category != "" || q.OrganizerID != "" {
		return true
	}
	if q.Near == nil {
		return false
	}
	_, cells := placeCells(boundingBox(*q.Near))
	return cells
}

// searchWindows searches q among the events that start in windows of increasing size from
// q's first start on (From, or the cursor), and returns the events of the first window that
// holds more than q.Limit matches, and true. These are the first matches of all in start
// order: the others start after the window. Each window is q with To at its end, so that the
// planner reads the indexes of the category, organizer or map cells, which hold the start
// time, within the window only; tags and words that match more events than the window holds
// (see pgStats.matches) are checked per row rather than read whole from their GIN indexes.
// The cost of a window thus follows its size, not the table's.
//
// The first window holds windowEventsPerResult events per event asked for (by the statistics
// of starts_at, see pgStats), the next ones as many as the matches of the last foretell, with
// a margin. It returns false, and q is searched as a whole, when a window finds no match (the
// filters are rare together: their indexes serve them best), after maxWindows windows, when
// a window would hold more than maxWindowShare of the table, or when the windows reach q's To
// or the end of the statistics.
//
// run runs each window's query (queryEvents, or a test's spy).
func (s *SQLStore) searchWindows(ctx context.Context, q SearchQuery, run func(ctx context.Context, query string, args []any) ([]Event, error)) ([]Event, bool, error) {
	st, err := s.pgStats(ctx)
	if err != nil {
		return nil, false, err
	}
	var first int64
	if q.From != nil {
		first = database.Micros(*q.From)
	}
	if q.After != nil {
		first = max(first, database.Micros(q.After.Time))
	}
	want := q.Limit + 1
	rows := st.firstWindow(q, want)
	for range maxWindows {
		end, ok := st.windowEnd(first, rows)
		if !ok || rows > maxWindowShare*st.rows || q.To != nil && database.Micros(*q.To) <= end {
			return nil, false, nil
		}
		w := q
		to := database.FromMicros(end)
		w.To = &to
		// A tag or word that matches more events than the window holds is checked per row
		// rather than read from its GIN index, which costs as many entries however narrow the
		// window: an entry costs much less than a row, but the window's rows that the B-tree
		// indexes give are few.
		common := func(kind, value string) bool { return st.matches(kind, value) > rows }
		query, args, ok := postgresQuery(w, common, false)
		if !ok {
			return nil, true, nil
		}
		events, err := run(ctx, query, args)
		if err != nil || len(events) >= want {
			return events, true, err
		}
		if len(events) == 0 {
			return nil, false, nil
		}
		rows *= min(max(windowMargin*float64(want)/float64(len(events)), windowGrowthMin), windowGrowthMax)
	}
	return nil, false, nil
}

// pgStatsTTL is how long the statistics of the events table are kept before they are read
// again.
const pgStatsTTL = time.Minute

// pgStats is what PostgreSQL's statistics of the events table (ANALYZE) say, as searchWindows
// reads them.
type pgStats struct {
	// rows is the number of events.
	rows float64
	// bounds are the histogram bounds of starts_at: as many events start between each two.
	bounds []int64
	// elems are the most common elements of tags and search (words), sorted, and freqs
	// their frequencies, by column.
	elems map[string][]string
	freqs map[string][]float64
	// cells are the frequencies of the most common map cells.
	cells map[int32]float64
	read  time.Time
}

// pgStatsCache holds the last pgStats read.
type pgStatsCache struct{ last atomic.Pointer[pgStats] }

// pgStats returns the statistics of the events table, read at most pgStatsTTL ago. A table
// never analyzed has none.
func (s *SQLStore) pgStats(ctx context.Context) (*pgStats, error) {
	if st := s.stats.last.Load(); st != nil && time.Since(st.read) < pgStatsTTL {
		return st, nil
	}
	st := &pgStats{read: time.Now(), elems: map[string][]string{}, freqs: map[string][]float64{}, cells: map[int32]float64{}}
	var bounds *string
	err := s.DB().QueryRowContext(ctx, `SELECT c.reltuples, s.histogram_bounds::text
		FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'events' AND s.attname = 'starts_at'
		WHERE c.oid = 'events'::regclass`).Scan(&st.rows, &bounds)
	if err != nil {
		return nil, fmt.Errorf("statistics of events: %w", err)
	}
	if bounds != nil {
		if st.bounds, err = parseBigintArray(*bounds); err != nil {
			return nil, fmt.Errorf("statistics of starts_at: %w", err)
		}
	}
	if err := s.readCommonElems(ctx, st); err != nil {
		return nil, err
	}
	if err := s.readCommonCells(ctx, st); err != nil {
		return nil, err
	}
	s.stats.last.Store(st)
	return st, nil
}

// readCommonElems reads into st the most common elements of tags and search.
func (s *SQLStore) readCommonElems(ctx context.Context, st *pgStats) error {
	rows, err := s.DB().QueryContext(ctx, `SELECT s.attname, e.elem, e.freq
		FROM pg_stats s CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e (elem, freq)
		WHERE s.schemaname = current_schema() AND s.tablename = 'events' AND s.attname IN ('tags', 'search') AND e.elem IS NOT NULL
		ORDER BY s.attname, e.elem COLLATE "C"`)
	if err != nil {
		return fmt.Errorf("statistics of tags and words: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			col, elem string
			freq      float64
		)
		if err := rows.Scan(&col, &elem, &freq); err != nil {
			return fmt.Errorf("statistics of tags and words: %w", err)
		}
		st.elems[col] = append(st.elems[col], elem)
		st.freqs[col] = append(st.freqs[col], freq)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics of tags and words: %w", err)
	}
	return nil
}

// readCommonCells reads into st the most common map cells.
func (s *SQLStore) readCommonCells(ctx context.Context, st *pgStats) error {
	rows, err := s.DB().QueryContext(ctx, `SELECT c.cell, c.freq
		FROM pg_stats s CROSS JOIN LATERAL unnest(s.most_common_vals::text::integer[], s.most_common_freqs) AS c (cell, freq)
		WHERE s.schemaname = current_schema() AND s.tablename = 'events' AND s.attname = 'cell' AND c.cell IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("statistics of map cells: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			cell int32
			freq float64
		)
		if err := rows.Scan(&cell, &freq); err != nil {
			return fmt.Errorf("statistics of map cells: %w", err)
		}
		st.cells[cell] = freq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics of map cells: %w", err)
	}
	return nil
}

// parseBigintArray parses a PostgreSQL array of bigint as text, such as {1,2,3}.
func parseBigintArray(s string) ([]int64, error) {
	inner, ok := strings.CutPrefix(s, "{")
	if ok {
		inner, ok = strings.CutSuffix(inner, "}")
	}
	if !ok || inner == "" {
		return nil, fmt.Errorf("not an array of numbers: %q", s)
	}
	parts := strings.Split(inner, ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not an array of numbers: %q", s)
		}
		out[i] = n
	}
	return out, nil
}

// windowEnd returns the start time (unix microseconds) before which about rows events start
// from first on, by the histogram, or false when that is past its last bound (or there is no
// histogram).
func (st *pgStats) windowEnd(first int64, rows float64) (int64, bool) {
	b := st.bounds
	buckets := len(b) - 1
	if buckets < 1 || st.rows <= 0 || first >= b[buckets] {
		return 0, false
	}
	// pos is where first lies in the histogram, in buckets from its first bound.
	pos := 0.0
	if first > b[0] {
		i := sort.Search(len(b), func(i int) bool { return b[i] > first }) - 1 // b[i] <= first < b[i+1]
		pos = float64(i) + float64(first-b[i])/float64(b[i+1]-b[i])
	}
	pos += rows / st.rows * float64(buckets)
	if pos >= float64(buckets) {
		return 0, false
	}
	i := int(pos)
	return b[i] + int64(math.Ceil((pos-float64(i))*float64(b[i+1]-b[i]))), true
}

// nearShare returns the share of events in the map cells of q's distance search by the
// statistics (the most common cells only), 0 when it names no cells or none of the common
// ones.
func (st *pgStats) nearShare(q SearchQuery) float64 {
	if q.Near == nil {
		return 0
	}
	cells, ok := placeCells(boundingBox(*q.Near))
	if !ok {
		return 0
	}
	share := 0.0
	for _, c := range cells {
		share += st.cells[c]
	}
	return min(share, 1)
}

// nearAlone reports whether q is a distance search with no other filter but times, whose
// map cells hold some events but less than maxNearWindowShare of them by the statistics (only
// the common cells are counted). The planner then either walks the start times, reading
// about the page over the share of matches (a town: thousands of events), or reads every
// event of the cells and sorts them: costs that grow with the table, where a window of start
// times reads about the page. The start times of a big city are walked best.
func (st *pgStats) nearAlone(q SearchQuery) bool {
	if len(q.Words)+len(q.Tags) > 0 || q.Category != "" || q.OrganizerID != "" {
		return false
	}
	share := st.nearShare(q)
	return share > 0 && share < maxNearWindowShare
}

// firstWindow returns how many events the first window of q holds, want of them asked for:
// windowEventsPerResult per event, or more when the share of events in q's map cells
// foretells fewer matches than that (with windowMargin): the matches are no denser than the
// events of the cells.
func (st *pgStats) firstWindow(q SearchQuery, want int) float64 {
	rows := float64(windowEventsPerResult * want)
	if share := st.nearShare(q); share > 0 {
		rows = max(rows, windowMargin*float64(want)/share)
	}
	return rows
}

// matches returns how many events hold the tag (kind "tags") or the word of a search (kind
// "search") value, by the statistics, 0 if it is not among the common ones. A word matches
// the events holding a word it begins: it is as common as the common words it begins
// together, and a word that folds to several (see tsQuery) as the rarest of them.
func (st *pgStats) matches(kind, value string) float64 {
	if kind == "tags" {
		return st.rows * st.frequency(kind, value, false)
	}
	tokens := foldWords(value)
	if len(tokens) == 0 {
		return 0
	}
	f := 1.0
	for i, t := range tokens {
		f = min(f, st.frequency(kind, t, i == len(tokens)-1))
	}
	return st.rows * f
}

// rareFilter reports whether a tag or a word of q is not among the common elements of its
// column, by statistics that count some.
func (st *pgStats) rareFilter(q SearchQuery) bool {
	if st.rows <= 0 {
		return false
	}
	for kind, values := range map[string][]string{"tags": q.Tags, "search": q.Words} {
		if len(st.elems[kind]) == 0 {
			continue
		}
		for _, v := range values {
			if st.matches(kind, v) == 0 {
				return true
			}
		}
	}
	return false
}

// frequency returns the share of events whose column kind holds value (or, if prefix, an
// element that begins with value) by its most common elements, 0 for an element not among
// them.
func (st *pgStats) frequency(kind, value string, prefix bool) float64 {
	elems, freqs := st.elems[kind], st.freqs[kind]
	i, found := slices.BinarySearch(elems, value)
	if !prefix {
		if found {
			return freqs[i]
		}
		return 0
	}
	sum := 0.0
	for ; i < len(elems) && strings.HasPrefix(elems[i], value); i++ {
		sum += freqs[i]
	}
	return min(sum, 1)
}
