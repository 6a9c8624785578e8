package web

import (
	"fmt"
	"net/url"
	"strconv"
)

// The API pages lists forward only, with cursors. A list's page links carry the cursors of
// the pages before (query parameter prev, oldest first), so that "Previous page" needs no
// state on the server; deep=1 tells that the oldest of them were dropped to keep the links
// short.
const (
	// maxPrevPages bounds how many earlier pages a link remembers.
	maxPrevPages = 20
	// maxCursorLen bounds a cursor taken from a link; the API's are far shorter.
	maxCursorLen = 512
)

// pager is where a person is in a list: the cursor of the page shown ("" for the first)
// and those of the pages before it, the first's excepted.
type pager struct {
	Cursor string
	Prev   []string
	// Deep tells that the cursors of the earliest pages were dropped: where the page is
	// in the list is not known.
	Deep bool
}

// pagerOf reads the pager of a list page's query.
func pagerOf(q url.Values) pager {
	p := pager{Cursor: q.Get("cursor")}
	if p.Cursor == "" {
		return p
	}
	for _, c := range q["prev"] {
		if c != "" && len(c) <= maxCursorLen {
			p.Prev = append(p.Prev, c)
		}
	}
	p.Deep = q.Get("deep") == "1"
	if len(p.Prev) > maxPrevPages {
		p.Prev, p.Deep = p.Prev[len(p.Prev)-maxPrevPages:], true
	}
	return p
}

// Index returns the number of pages before this one, and whether it is known.
func (p pager) Index() (int, bool) {
	if p.Cursor == "" {
		return 0, true
	}
	return len(p.Prev) + 1, !p.Deep
}

// withPage returns base (a list page's query without its paging) with the paging of the
// page at cursor that prev precedes.
func withPage(base url.Values, cursor string, prev []string, deep bool) url.Values {
	q := cloneValues(base)
	if cursor == "" {
		return q
	}
	q.Set("cursor", cursor)
	if len(prev) > 0 {
		q["prev"] = append([]string(nil), prev...)
	}
	if deep {
		q.Set("deep", "1")
	}
	return q
}

// next returns the query of the page after this one, whose cursor is next.
func (p pager) next(base url.Values, next string) url.Values {
	prev, deep := p.Prev, p.Deep
	if p.Cursor != "" {
		prev = append(append([]string(nil), prev...), p.Cursor)
	}
	if len(prev) > maxPrevPages {
		prev, deep = prev[len(prev)-maxPrevPages:], true
	}
	return withPage(base, next, prev, deep)
}

// previous returns the query of the page before this one; false on the first page, and
// when that page was dropped from a deep list's links.
func (p pager) previous(base url.Values) (url.Values, bool) {
	switch {
	case p.Cursor == "":
		return nil, false
	case len(p.Prev) == 0 && p.Deep:
		return nil, false
	case len(p.Prev) == 0:
		return withPage(base, "", nil, false), true
	}
	last := len(p.Prev) - 1
	return withPage(base, p.Prev[last], p.Prev[:last], p.Deep), true
}

// pageLinks are the links between the pages of a list that the template "pages" shows.
type pageLinks struct {
	// NextURL is the link to the next page, "" on the last; PrevURL to the previous one, ""
	// on the first; FirstURL to the first, "" on the first.
	NextURL, PrevURL, FirstURL string
}

// links returns the links of page p of the list at path, whose query less its paging is
// base; next is the API's next_cursor for the page (nil or "" on the last).
func (p pager) links(path string, base url.Values, next *string) pageLinks {
	var l pageLinks
	if next != nil && *next != "" {
		l.NextURL = pageURL(path, p.next(base, *next))
	}
	if p.Cursor != "" {
		l.FirstURL = pageURL(path, base)
		if prev, ok := p.previous(base); ok {
			l.PrevURL = pageURL(path, prev)
		}
	}
	return l
}

// pageURL returns the address of the page at path with the query q.
func pageURL(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// withoutPaging returns q less its paging parameters.
func withoutPaging(q url.Values) url.Values {
	c := cloneValues(q)
	for _, k := range []string{"cursor", "prev", "deep"} {
		c.Del(k)
	}
	return c
}

// resultCount says how many events a page of a list holds and what is known of the
// whole: the page is after index pages of size (known tells whether index is known), holds
// n events, and more tells whether pages follow. The API counts nothing, and counting by
// paging through a large list would cost many calls on each view; so the count is exact
// when the list ends on this page, and a lower bound before that. line is the sentence
// shown above the results; short goes in the page's title.
func resultCount(index int, known bool, n, size int, more bool) (line, short string) {
	events := func(k int) string {
		if k == 1 {
			return "1 event"
		}
		return formatCount(k) + " events"
	}
	from, to := index*size+1, index*size+n
	switch {
	case n == 0 && index == 0:
		return "", "No events"
	case !known:
		return fmt.Sprintf("%s on this page, after %s or more", events(n), events(index*size)),
			"At least " + events(index*size+n)
	case index == 0 && !more:
		return events(n), events(n)
	case index == 0:
		return fmt.Sprintf("Events 1–%d of more than %s", n, formatCount(n)), "More than " + events(n)
	case more:
		return fmt.Sprintf("Events %s–%s of more than %s", formatCount(from), formatCount(to), formatCount(to)),
			"More than " + events(to)
	}
	return fmt.Sprintf("Events %s–%s of %s", formatCount(from), formatCount(to), formatCount(to)), events(to)
}

// formatCount writes n with a comma between thousands: 1,020.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
