package events

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/apitime"
	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Limits of a search.
const (
	DefaultLimit    = 20
	MaxLimit        = paging.MaxLimit
	DefaultRadiusKM = 25
	// MaxRadiusKM is about half the Earth's circumference: every point is nearer than that.
	MaxRadiusKM = 20000
	// MaxQueryLength is the longest q, in characters.
	MaxQueryLength = 200
	// MaxQueryWords is how many words q may hold.
	MaxQueryWords = 16
	// MaxTags is how many tags an event and a search may have.
	MaxTags = 10
)

// SearchQuery is a parsed event search: every set field narrows the result.
type SearchQuery struct {
	// Words are the lower-cased words of q; each must begin a word of the event's title,
	// description or tags.
	Words []string
	// From and To bound the start time, both inclusive. The service replaces a nil From by
	// the current time, so that a search without one finds the events that have not started.
	From, To *time.Time
	// Category matches the event's category, case-insensitively.
	Category string
	// Tags must all be tags of the event; lower-case.
	Tags []string
	// Near is the circle the event's location must lie in.
	Near *Circle
	// OrganizerID matches the event's organizer.
	OrganizerID string
	// Limit is the page size, 1 to MaxLimit.
	Limit int
	// After is the position to continue after: the cursor of the previous page.
	After *Cursor
}

// Circle is a circle on the Earth's surface.
type Circle struct {
	Lat, Lon float64
	RadiusKM float64
}

// Cursor is a position in the search order: the start (Time) and ID of the last event of a
// page.
type Cursor = paging.Key

// Shape names the kind of query, for metrics: "q" with words, "combined" with several
// filters, else the one filter it has ("organizer", "tag", "category", "near"), or "list".
func (q SearchQuery) Shape() string {
	var set []string
	for name, ok := range map[string]bool{
		"organizer": q.OrganizerID != "", "tag": len(q.Tags) > 0, "category": q.Category != "", "near": q.Near != nil,
	} {
		if ok {
			set = append(set, name)
		}
	}
	switch {
	case len(q.Words) > 0:
		return "q"
	case len(set) > 1 || len(q.Tags) > 1:
		return "combined"
	case len(set) == 1:
		return set[0]
	}
	return "list"
}

// ParseSearchQuery parses the query parameters of GET /api/v1/events. An empty parameter
// counts as absent; unknown parameters are ignored. Invalid parameters yield a 422
// *problem.Error naming each of them: this is the reader of a request's query string. Times
// are read by apitime.ParseQuery; the repeated tag is counted before any work on its values,
// and q is measured before it is split, so that the work stays linear in the size of the
// query.
func ParseSearchQuery(v url.Values) (SearchQuery, error) {
	p := queryParser{v: v, q: SearchQuery{Limit: DefaultLimit}}
	p.words()
	p.times()
	p.category()
	p.tags()
	p.near()
	p.organizer()
	p.limit()
	p.cursor()
	if err := p.errs.Err(); err != nil {
		return SearchQuery{}, problem.Map(err)
	}
	return p.q, nil
}

// queryParser reads the parameters of a search into q, one step per parameter, and collects
// what is wrong with them in errs.
type queryParser struct {
	v    url.Values
	q    SearchQuery
	errs validation.List
}

// single returns the one non-empty value of the parameter name, and whether there is one;
// a parameter given more than once is invalid.
func (p *queryParser) single(name string) (string, bool) {
	return paging.Single(p.v, name, &p.errs)
}

func (p *queryParser) words() {
	s, ok := p.single("q")
	if !ok {
		return
	}
	switch {
	case !utf8.ValidString(s):
		p.errs.Add("q", "must be UTF-8 text")
	case utf8.RuneCountInString(s) > MaxQueryLength:
		p.errs.Add("q", fmt.Sprintf("must be at most %d characters", MaxQueryLength))
	default:
		if words := queryWords(s); len(words) > MaxQueryWords {
			p.errs.Add("q", fmt.Sprintf("must hold at most %d words", MaxQueryWords))
		} else {
			p.q.Words = words
		}
	}
}

func (p *queryParser) times() {
	p.q.From = p.time("from")
	p.q.To = p.time("to")
	if p.q.From != nil && p.q.To != nil && p.q.To.Before(*p.q.From) {
		p.errs.Add("to", "must not be before from")
	}
}

// time returns the time the parameter name gives, or nil.
func (p *queryParser) time(name string) *time.Time {
	s, ok := p.single(name)
	if !ok {
		return nil
	}
	t, err := apitime.ParseQuery(s)
	if err != nil {
		p.errs.Add(name, err.Error())
		return nil
	}
	return &t
}

func (p *queryParser) category() {
	s, ok := p.single("category")
	if !ok {
		return
	}
	if n := utf8.RuneCountInString(s); n > maxCategoryLength || !utf8.ValidString(s) {
		p.errs.Add("category", fmt.Sprintf("must be 1 to %d characters", maxCategoryLength))
	} else {
		p.q.Category = s
	}
}

func (p *queryParser) tags() {
	tags, ok := nonEmptyUpTo(p.v["tag"], MaxTags)
	switch {
	case !ok:
		p.errs.Add("tag", fmt.Sprintf("must be given at most %d times", MaxTags))
	case len(tags) > 0:
		if norm, msg := normalizeTags(tags); msg != "" {
			p.errs.Add("tag", msg)
		} else {
			p.q.Tags = norm
		}
	}
}

func (p *queryParser) near() {
	near, hasNear := p.single("near")
	radius, hasRadius := p.single("radius_km")
	if hasNear {
		if c, msg := parseNear(near); msg != "" {
			p.errs.Add("near", msg)
		} else {
			p.q.Near = &c
		}
	}
	if !hasRadius {
		return
	}
	r, err := strconv.ParseFloat(radius, 64)
	switch {
	case err != nil || math.IsNaN(r) || math.IsInf(r, 0):
		p.errs.Add("radius_km", "must be a number")
	case r <= 0 || r > MaxRadiusKM:
		p.errs.Add("radius_km", fmt.Sprintf("must be more than 0 and at most %d", MaxRadiusKM))
	case !hasNear:
		p.errs.Add("radius_km", "needs near")
	case p.q.Near != nil:
		p.q.Near.RadiusKM = r
	}
}

func (p *queryParser) organizer() {
	s, ok := p.single("organizer_id")
	if !ok {
		return
	}
	if len(s) > 200 {
		p.errs.Add("organizer_id", "must be at most 200 characters")
	} else {
		p.q.OrganizerID = s
	}
}

func (p *queryParser) limit() {
	p.q.Limit = paging.Limit(p.v, p.q.Limit, &p.errs)
}

func (p *queryParser) cursor() {
	if c, ok := paging.Cursor(p.v, &p.errs, paging.DecodeKey); ok {
		p.q.After = &c
	}
}

// nonEmptyUpTo returns the non-empty values of vals, or false as soon as it finds more than
// limit of them.
func nonEmptyUpTo(vals []string, limit int) ([]string, bool) {
	var out []string
	for _, s := range vals {
		if s == "" {
			continue
		}
		if len(out) == limit {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// queryWords splits q into lower-cased words at every character that is not a letter, a
// digit or a combining mark, the way the full-text index splits the text it indexes.
func queryWords(q string) []string {
	var words []string
	seen := map[string]bool{}
	for w := range strings.FieldsFuncSeq(q, notWordChar) {
		w = strings.ToLower(w)
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// notWordChar reports whether r separates words: whether it is not a letter, a digit or a
// combining mark.
func notWordChar(r rune) bool {
	return !(unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r))
}

func parseNear(s string) (Circle, string) {
	const msg = "must be LAT,LON in degrees, such as 48.8566,2.3522"
	latS, lonS, ok := strings.Cut(s, ",")
	if !ok {
		return Circle{}, msg
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(latS), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lonS), 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) {
		return Circle{}, msg
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return Circle{}, "latitude must be within -90..90 and longitude within -180..180"
	}
	return Circle{Lat: lat, Lon: lon, RadiusKM: DefaultRadiusKM}, ""
}
