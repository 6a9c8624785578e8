package web

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	ical "github.com/arran4/golang-ical"

	"github.com/eventpost/eventpost/internal/messages"
)

// descriptionLength is about how many characters of an event's description its meta
// description keeps: what search results show before they cut a snippet.
const descriptionLength = 155

// seoData is what a page tells search engines and link previews, in the layout's head
// (templates/seo.html).
type seoData struct {
	// Description is the page's meta description; "" gives the site's.
	Description string
	// Canonical is the page's address on the public base URL; "" writes no canonical link.
	Canonical string
	// OpenGraph are the page's link-preview tags, nil for none.
	OpenGraph *openGraph
	// JSONLD is the page's schema.org structured data, encoded by encoding/json (which
	// escapes <, > and &, so nothing in it can close the script element); "" for none.
	JSONLD template.JS
}

// openGraph are the Open Graph and Twitter card tags of a page.
type openGraph struct {
	// Type is the og:type: "website".
	Type                    string
	Title, Description, URL string
}

// Default meta descriptions.
const (
	siteDescription   = "Find upcoming events on EventPost and get an email reminder before they start."
	eventsDescription = "Upcoming events on EventPost: find what is on, add it to your calendar and get an email reminder before it starts."
)

// pageDescriptions are the meta descriptions of the pages that have their own.
var pageDescriptions = map[string]string{
	"events": eventsDescription,
	"login":  "Log in to EventPost to manage the events you publish, your reminders and your account.",
	"signup": "Create an EventPost account to publish events, say you are going and get email reminders before events start.",
	"forgot": "Forgot your EventPost password? Enter your email address and we send you a link to choose a new one.",
}

// indexedPages are the pages with a canonical link when shown with 200 OK: the public ones.
var indexedPages = map[string]bool{"events": true, "event": true, "cancelledevent": true, "login": true, "signup": true, "forgot": true}

// fillSEO completes the SEO data of a page that a handler left out: the default description,
// and the canonical link of a public page shown with 200 OK (the page's path on the public
// base URL, with its query for the event list, whose searches are pages of their own).
func (u *UI) fillSEO(r *http.Request, status int, page string, v *view) {
	if v.SEO.Description == "" {
		v.SEO.Description = pageDescriptions[page]
		if v.SEO.Description == "" {
			v.SEO.Description = siteDescription
		}
	}
	if status != http.StatusOK || !indexedPages[page] {
		v.SEO.Canonical = ""
		return
	}
	if v.SEO.Canonical == "" {
		v.SEO.Canonical = u.baseURL(r) + r.URL.EscapedPath()
		if page == "events" {
			if q := canonicalQuery(r.URL.Query()); q != "" {
				v.SEO.Canonical += "?" + q
			}
		}
	}
}

// canonicalQuery returns q without its empty parameters, sorted.
func canonicalQuery(q url.Values) string {
	for k, vs := range q {
		vs = slices.DeleteFunc(vs, func(s string) bool { return strings.TrimSpace(s) == "" })
		if len(vs) == 0 {
			delete(q, k)
		} else {
			q[k] = vs
		}
	}
	return q.Encode()
}

// baseURL is the public base URL pages link to: Config.PublicURL, or the address the
// request was sent to when none is configured.
func (u *UI) baseURL(r *http.Request) string {
	if u.cfg.PublicURL != "" {
		return strings.TrimRight(u.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// eventURL is the absolute address of the page of the event id.
func (u *UI) eventURL(r *http.Request, id string) string {
	return u.baseURL(r) + "/events/" + url.PathEscape(id)
}

// eventsSEO is the SEO data of the event list: a sentence naming the search.
func (u *UI) eventsSEO(f *form, data eventsData) seoData {
	if data.OrganizerName != "" {
		return seoData{Description: "Upcoming events organized by " + data.OrganizerName + " on EventPost."}
	}
	if !data.Filtered {
		return seoData{Description: eventsDescription}
	}
	var parts []string
	if q := strings.TrimSpace(f.Get("q")); q != "" {
		parts = append(parts, "matching “"+q+"”")
	}
	if c := strings.TrimSpace(f.Get("category")); c != "" {
		parts = append(parts, "in the category "+c)
	}
	if tags := splitTags(f.Get("tag")); len(tags) > 0 {
		parts = append(parts, "tagged #"+strings.Join(tags, ", #"))
	}
	from, to := strings.TrimSpace(f.Get("from")), strings.TrimSpace(f.Get("to"))
	switch {
	case from != "" && to != "":
		parts = append(parts, "from "+from+" to "+to)
	case from != "":
		parts = append(parts, "from "+from)
	case to != "":
		parts = append(parts, "until "+to)
	}
	if lat, lon := strings.TrimSpace(f.Get("lat")), strings.TrimSpace(f.Get("lon")); lat != "" && lon != "" {
		radius := strings.TrimSpace(f.Get("radius"))
		if radius == "" {
			radius = defaultSearchRadius
		}
		parts = append(parts, "within "+radius+" km of "+lat+", "+lon)
	}
	if len(parts) == 0 {
		return seoData{Description: eventsDescription}
	}
	return seoData{Description: eventDescription("Upcoming events "+strings.Join(parts, ", ")+", on EventPost.", eventsDescription)}
}

// eventSEO is the SEO data of the page of e: its description, link-preview tags and
// schema.org Event.
func (u *UI) eventSEO(r *http.Request, e event) seoData {
	canonical := u.eventURL(r, e.ID)
	desc := eventDescription(e.Description, u.eventSentence(e.Title, e.StartsAt, e.Timezone, e.Location, e.OnlineURL))
	ld := u.eventJSONLD(e.Event, canonical, "https://schema.org/EventScheduled")
	if e.Organizer.DisplayName != "" {
		ld.Organizer = &ldPerson{Type: "Person", Name: e.Organizer.DisplayName,
			URL: u.baseURL(r) + "/?" + url.Values{"organizer_id": {e.OrganizerID}}.Encode()}
	}
	if e.Capacity != nil {
		ld.MaximumAttendeeCapacity = e.Capacity
		if e.SpotsLeft != nil {
			left := max(*e.SpotsLeft, 0)
			ld.RemainingAttendeeCapacity = &left
		}
	}
	return u.seoWithJSONLD(r, e.Title, desc, canonical, ld)
}

// seoWithJSONLD is the SEO data of an event's page, with ld as its JSON-LD.
func (u *UI) seoWithJSONLD(r *http.Request, title, desc, canonical string, ld ldEvent) seoData {
	s := seoData{
		Description: desc, Canonical: canonical,
		OpenGraph: &openGraph{Type: "website", Title: title, Description: desc, URL: canonical},
	}
	b, err := json.Marshal(ld)
	if err != nil { // nothing in an ldEvent fails to encode
		u.log.ErrorContext(r.Context(), "encode the JSON-LD of an event", "err", err)
		return s
	}
	s.JSONLD = template.JS(b) // safe in a script element: encoding/json escapes <, > and &
	return s
}

// eventSentence describes an event in one sentence, for an event without a description:
// its title, start and place.
func (u *UI) eventSentence(title string, start time.Time, tz string, loc *messages.Location, online *string) string {
	s := title + ": " + u.when(start, tz)
	switch place := placeLine(loc); {
	case place != "" && online != nil && *online != "":
		s += ", at " + place + " and online"
	case place != "":
		s += ", at " + place
	case online != nil && *online != "":
		s += ", online"
	}
	return s + "."
}

// placeLine is a one-line description of a location: its name and address.
func placeLine(l *messages.Location) string {
	if l == nil {
		return ""
	}
	var parts []string
	for _, s := range []string{l.Name, l.Address} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// eventDescription is the meta description of an event: its description, on one line,
// cut at a word boundary near descriptionLength characters; fallback when it has none.
func eventDescription(description, fallback string) string {
	d := strings.Join(strings.Fields(description), " ")
	if d == "" {
		return fallback
	}
	runes := []rune(d)
	if len(runes) <= descriptionLength {
		return d
	}
	cut := descriptionLength - 1 // room for the ellipsis
	for i := cut; i > descriptionLength/2; i-- {
		if unicode.IsSpace(runes[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(runes[:cut]), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r)
	}) + "…"
}

// ldEvent is a schema.org Event as Google's event structured data reads it
// (https://developers.google.com/search/docs/appearance/structured-data/event): name,
// startDate and location are required; the rest is recommended. It has no offers: EventPost
// knows no price or ticket, and an Offer claiming a price of 0 would tell searchers the
// event is free when the organizer may charge at the door. It has no image: events have
// none.
type ldEvent struct {
	Context     string `json:"@context"`
	Type        string `json:"@type"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// StartDate and EndDate are ISO 8601 with the offset of the event's time zone.
	StartDate           string `json:"startDate"`
	EndDate             string `json:"endDate,omitempty"`
	EventStatus         string `json:"eventStatus"`
	EventAttendanceMode string `json:"eventAttendanceMode,omitempty"`
	// Location is an ldPlace, an ldVirtualLocation, or both in a list (a mixed event).
	Location                  any       `json:"location,omitempty"`
	Organizer                 *ldPerson `json:"organizer,omitempty"`
	MaximumAttendeeCapacity   *int64    `json:"maximumAttendeeCapacity,omitempty"`
	RemainingAttendeeCapacity *int64    `json:"remainingAttendeeCapacity,omitempty"`
	URL                       string    `json:"url"`
}

// ldPlace is a schema.org Place.
type ldPlace struct {
	Type    string           `json:"@type"`
	Name    string           `json:"name,omitempty"`
	Address ldPostalAddress  `json:"address"`
	Geo     *ldGeoCoordinate `json:"geo,omitempty"`
}

// ldPostalAddress is a schema.org PostalAddress. EventPost keeps an address on one line.
type ldPostalAddress struct {
	Type          string `json:"@type"`
	StreetAddress string `json:"streetAddress"`
}

// ldGeoCoordinate is a schema.org GeoCoordinates.
type ldGeoCoordinate struct {
	Type      string  `json:"@type"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// ldVirtualLocation is a schema.org VirtualLocation.
type ldVirtualLocation struct {
	Type string `json:"@type"`
	URL  string `json:"url"`
}

// ldPerson is a schema.org Person.
type ldPerson struct {
	Type string `json:"@type"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

// eventJSONLD is the schema.org Event of e, with status (a schema.org EventStatusType URL)
// and the page address url.
func (u *UI) eventJSONLD(e messages.Event, pageURL, status string) ldEvent {
	loc := u.location(e.Timezone)
	ld := ldEvent{
		Context: "https://schema.org", Type: "Event", Name: e.Title, Description: strings.TrimSpace(e.Description),
		StartDate: e.StartsAt.In(loc).Format(time.RFC3339), EventStatus: status, URL: pageURL,
	}
	if e.EndsAt != nil {
		ld.EndDate = e.EndsAt.In(loc).Format(time.RFC3339)
	}
	ld.Location, ld.EventAttendanceMode = ldLocation(e.Location, e.OnlineURL)
	return ld
}

// failEvent answers the page of the event id when reading it failed with err: the page of
// the cancelled event when the API knows it no longer and fresh tells that no form was
// posted to it (see showCancelled), else as fail does.
func (u *UI) failEvent(w http.ResponseWriter, r *http.Request, id string, fresh bool, err error) {
	if fresh && apiStatus(err) == http.StatusNotFound && u.showCancelled(w, r, id) {
		return
	}
	u.fail(w, r, err)
}

// ldLocation returns the schema.org location of an event at l (nil for none) with the online
// link online (nil for none): a Place, a VirtualLocation, or both in a list; and its
// eventAttendanceMode. Both are empty for an event with neither.
func ldLocation(l *messages.Location, online *string) (any, string) {
	var where []any
	if p, ok := ldPlaceOf(l); ok {
		where = append(where, p)
	}
	if online != nil && strings.TrimSpace(*online) != "" {
		where = append(where, ldVirtualLocation{Type: "VirtualLocation", URL: strings.TrimSpace(*online)})
	}
	switch {
	case len(where) == 2:
		return where, "https://schema.org/MixedEventAttendanceMode"
	case len(where) == 0:
		return nil, ""
	}
	if _, isOnline := where[0].(ldVirtualLocation); isOnline {
		return where[0], "https://schema.org/OnlineEventAttendanceMode"
	}
	return where[0], "https://schema.org/OfflineEventAttendanceMode"
}

// ldPlaceOf returns the schema.org Place of l; ok is false when l names no place.
func ldPlaceOf(l *messages.Location) (p ldPlace, ok bool) {
	if l == nil {
		return ldPlace{}, false
	}
	name, address := strings.TrimSpace(l.Name), strings.TrimSpace(l.Address)
	hasGeo := l.Lat != nil && l.Lon != nil
	if name == "" && address == "" && !hasGeo {
		return ldPlace{}, false
	}
	if address == "" { // Google wants an address: the place's name is the best there is
		address = name
	}
	p = ldPlace{Type: "Place", Name: name, Address: ldPostalAddress{Type: "PostalAddress", StreetAddress: address}}
	if hasGeo {
		p.Geo = &ldGeoCoordinate{Type: "GeoCoordinates", Latitude: *l.Lat, Longitude: *l.Lon}
	}
	return p, true
}

// cancelledEvent is the data of the page of a cancelled event: what its calendar file tells
// of it during the 30 days the events service keeps it.
type cancelledEvent struct {
	ID, Title, Description string
	StartsAt               time.Time
	EndsAt                 *time.Time
	// Place is the location's name and address on one line, "" for an online event.
	Place string
}

// showCancelled answers the page of the event id, which the API does not know, as a
// cancelled event when its calendar file tells it was cancelled (the events service keeps a
// deleted event's cancellation for 30 days), with 200 OK: Google asks that a cancelled
// event's page stay up, marked EventCancelled with its original date, so that search shows
// the cancellation instead of dropping the event. It reports whether it answered; when it
// did not, the event is unknown.
func (u *UI) showCancelled(w http.ResponseWriter, r *http.Request, id string) bool {
	body, err := u.fetchCalendar(r.Context(), id)
	if err != nil {
		if apiStatus(err) != http.StatusNotFound {
			u.log.WarnContext(r.Context(), "read the calendar file of an event not found", "err", err)
		}
		return false
	}
	e, ok := parseCancelled(body, id)
	if !ok {
		return false
	}
	canonical := u.eventURL(r, id)
	online := e.online
	var loc *messages.Location
	if e.Place != "" {
		loc = &messages.Location{Name: e.Place, Address: e.Place, Lat: e.lat, Lon: e.lon}
	}
	m := messages.Event{ID: id, Title: e.Title, Description: e.Description, StartsAt: e.StartsAt, EndsAt: e.EndsAt, Location: loc, OnlineURL: online}
	ld := u.eventJSONLD(m, canonical, "https://schema.org/EventCancelled")
	desc := "Cancelled: " + eventDescription(e.Description, u.eventSentence(e.Title, e.StartsAt, "UTC", loc, online))
	seo := u.seoWithJSONLD(r, "Cancelled: "+e.Title, desc, canonical, ld)
	u.render(w, r, http.StatusOK, "cancelledevent", view{Title: "Cancelled: " + e.Title, Data: e.cancelledEvent, SEO: seo})
	return true
}

// fetchCalendar returns the calendar file of the event id, from the public API.
func (u *UI) fetchCalendar(ctx context.Context, id string) ([]byte, error) {
	path := "/api/v1/events/" + url.PathEscape(id) + "/ics"
	req, err := newAPIRequest(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/calendar")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, decodeProblem(resp, data)
	}
	return data, nil
}

// parsedCancelled is a cancelled event read from its calendar file.
type parsedCancelled struct {
	cancelledEvent
	lat, lon *float64
	// online is the event's online link, nil for none.
	online *string
}

// parseCancelled reads the calendar file body of the event id; ok is false unless it holds
// one VEVENT with STATUS:CANCELLED.
func parseCancelled(body []byte, id string) (parsedCancelled, bool) {
	cal, err := ical.ParseCalendar(bytes.NewReader(body))
	if err != nil {
		return parsedCancelled{}, false
	}
	evs := cal.Events()
	if len(evs) != 1 || !strings.EqualFold(icalValue(evs[0], ical.ComponentPropertyStatus), "CANCELLED") {
		return parsedCancelled{}, false
	}
	ev := evs[0]
	start, err := ev.GetStartAt()
	if err != nil {
		return parsedCancelled{}, false
	}
	p := parsedCancelled{cancelledEvent: cancelledEvent{
		ID: id, Title: icalValue(ev, ical.ComponentPropertySummary),
		Description: icalValue(ev, ical.ComponentPropertyDescription), StartsAt: start.UTC(),
	}}
	if end, err := ev.GetEndAt(); err == nil && end.After(start) {
		end = end.UTC()
		p.EndsAt = &end
	}
	p.online, p.Place, p.lat, p.lon = cancelledWhere(ev, id)
	return p, true
}

// cancelledWhere returns where the event id of the VEVENT ev was to be: its online link,
// its place on one line, and the place's coordinates; each nil or "" when unknown.
func cancelledWhere(ev *ical.VEvent, id string) (online *string, place string, lat, lon *float64) {
	// URL is the online link, or the event's page when it has none; LOCATION is the place,
	// or the online link when it has none (see ics.Render).
	link := icalValue(ev, ical.ComponentPropertyUrl)
	if link != "" && !strings.HasSuffix(link, "/events/"+url.PathEscape(id)) {
		online = &link
	}
	if place = icalValue(ev, ical.ComponentPropertyLocation); place == link {
		place = ""
	}
	if geo := strings.Split(icalValue(ev, ical.ComponentPropertyGeo), ";"); len(geo) == 2 && place != "" {
		la, errLat := strconv.ParseFloat(geo[0], 64)
		lo, errLon := strconv.ParseFloat(geo[1], 64)
		if errLat == nil && errLon == nil {
			lat, lon = &la, &lo
		}
	}
	return online, place, lat, lon
}

// icalValue returns the value of the property p of e, "" when e lacks it. The parser
// unescapes TEXT values.
func icalValue(e *ical.VEvent, p ical.ComponentProperty) string {
	if prop := e.GetProperty(p); prop != nil {
		return prop.Value
	}
	return ""
}

// handleRobots answers /robots.txt: everything public may be crawled; the account's pages,
// the links of emails, the forms' actions and the API may not; the sitemap is named.
func (u *UI) handleRobots(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("User-agent: *\n")
	for _, p := range robotsDisallowed() {
		b.WriteString("Disallow: " + p + "\n")
	}
	b.WriteString("\nSitemap: " + u.baseURL(r) + "/sitemap.xml\n")
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = io.WriteString(w, b.String())
}

// robotsDisallowed are the paths robots.txt keeps crawlers from.
func robotsDisallowed() []string {
	return []string{
		"/account", "/my/", "/reminders", "/login?", "/signup?", "/logout", "/forgot-password?",
		"/reset-password", "/confirm-email", "/consent/", "/unsubscribe/",
		"/events/*/reminders", "/events/*/attendance", "/events/*/leave", "/api/",
	}
}

// Sitemap limits: variables so that tests can lower them.
var (
	// sitemapURLLimit is how many URLs one sitemap file holds (the protocol's limit);
	// past it /sitemap.xml is an index of /sitemap-1.xml, /sitemap-2.xml…
	sitemapURLLimit = 50000
	// sitemapMaxCalls bounds the API calls one rebuild makes (pages of 100 events, and
	// retries after a 429): 1,000 calls list up to 100,000 events.
	sitemapMaxCalls = 1000
	// sitemapMaxAge is how long a sitemap is served before it is rebuilt.
	sitemapMaxAge = 10 * time.Minute
	// sitemapRetryAfter is how long a failed rebuild waits before the next is tried.
	sitemapRetryAfter = time.Minute
)

// sitemapPageSize is the limit of each list call: the API's largest.
const sitemapPageSize = 100

// sitemapCache holds the sitemap files, built at most every sitemapMaxAge: the request that
// finds them stale rebuilds them while the others are served the stale ones (or wait for
// the first build). A rebuild lists the upcoming events through the API, which counts each
// call against the gateway's rate limit of the client that asked.
type sitemapCache struct {
	mu sync.Mutex
	// files are /sitemap.xml, then /sitemap-1.xml, /sitemap-2.xml… when it is an index;
	// base is the base URL they were built on.
	files [][]byte
	base  string
	// fresh is when the files go stale.
	fresh time.Time
	// building is closed when the running rebuild ends; nil when none runs.
	building chan struct{}
}

// errSitemapUnavailable is the error of a sitemap that could not be built.
var errSitemapUnavailable = errors.New("the sitemap could not be built")

// sitemapFiles returns the sitemap files on base, rebuilding them when stale.
func (u *UI) sitemapFiles(ctx context.Context, base string) ([][]byte, error) {
	c := &u.sitemap
	c.mu.Lock()
	now := u.now()
	if c.files != nil && c.base == base && now.Before(c.fresh) {
		files := c.files
		c.mu.Unlock()
		return files, nil
	}
	if c.building != nil { // someone rebuilds: serve what there is, or wait for it
		building, files, sameBase := c.building, c.files, c.base == base
		c.mu.Unlock()
		if files != nil && sameBase {
			return files, nil
		}
		return c.await(ctx, building, base)
	}
	if c.files == nil && now.Before(c.fresh) { // the last attempt failed a moment ago
		c.mu.Unlock()
		return nil, errSitemapUnavailable
	}
	done := make(chan struct{})
	c.building = done
	c.mu.Unlock()

	// The build outlives the client that asked, bounded, so that a crawler that gives up
	// does not waste the calls made so far.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	files, err := u.buildSitemap(bctx, base)
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	close(done)
	c.building = nil
	if err != nil {
		u.log.WarnContext(ctx, "build the sitemap", "err", err)
		c.fresh = u.now().Add(sitemapRetryAfter)
		if c.files != nil && c.base == base {
			return c.files, nil
		}
		c.files = nil
		return nil, errSitemapUnavailable
	}
	c.files, c.base, c.fresh = files, base, u.now().Add(sitemapMaxAge)
	return files, nil
}

// await waits for the rebuild that closes building, and returns the files it built on base.
func (c *sitemapCache) await(ctx context.Context, building <-chan struct{}, base string) ([][]byte, error) {
	select {
	case <-building:
	case <-ctx.Done():
		return nil, errSitemapUnavailable
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil || c.base != base {
		return nil, errSitemapUnavailable
	}
	return c.files, nil
}

// sitemapURL is one <url> of a sitemap.
type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod,omitempty"`
}

// sitemapURLSet is a sitemap file.
type sitemapURLSet struct {
	XMLName xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 urlset"`
	URLs    []sitemapURL `xml:"url"`
}

// sitemapIndex is a sitemap index file.
type sitemapIndex struct {
	XMLName  xml.Name     `xml:"http://www.sitemaps.org/schemas/sitemap/0.9 sitemapindex"`
	Sitemaps []sitemapURL `xml:"sitemap"`
}

// buildSitemap lists the upcoming events through the API, at most sitemapMaxCalls calls,
// and returns the sitemap files on base.
func (u *UI) buildSitemap(ctx context.Context, base string) ([][]byte, error) {
	var urls []sitemapURL
	var lastMods []time.Time
	query := url.Values{"limit": {strconv.Itoa(sitemapPageSize)}}
	calls := 0
	for {
		if calls >= sitemapMaxCalls {
			u.log.WarnContext(ctx, "the sitemap is cut short: it lists only the events its calls could page through",
				"calls", calls, "events", len(urls))
			break
		}
		calls++
		var page eventPage
		err := u.call(ctx, http.MethodGet, "/api/v1/events?"+query.Encode(), "", nil, &page)
		if apiStatus(err) == http.StatusTooManyRequests {
			var ae *apiError
			errors.As(err, &ae)
			if werr := waitRetry(ctx, ae.RetryAfter); werr != nil {
				return nil, fmt.Errorf("list events: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		for _, e := range page.Items {
			urls = append(urls, sitemapURL{Loc: base + "/events/" + url.PathEscape(e.ID), LastMod: e.UpdatedAt.UTC().Format(time.RFC3339)})
			lastMods = append(lastMods, e.UpdatedAt)
		}
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		query.Set("cursor", *page.NextCursor)
	}
	return encodeSitemap(base, urls, lastMods)
}

// waitRetry waits as long as a 429's Retry-After asks (1 to 10 seconds), or until ctx ends.
func waitRetry(ctx context.Context, retryAfter string) error {
	secs, err := strconv.Atoi(strings.TrimSpace(retryAfter))
	if err != nil || secs < 1 {
		secs = 1
	}
	t := time.NewTimer(time.Duration(min(secs, 10)) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// encodeSitemap returns the sitemap files of urls: one urlset, or, past sitemapURLLimit
// URLs, an index followed by the urlsets it names.
func encodeSitemap(base string, urls []sitemapURL, lastMods []time.Time) ([][]byte, error) {
	if len(urls) <= sitemapURLLimit {
		b, err := encodeXML(sitemapURLSet{URLs: urls})
		return [][]byte{b}, err
	}
	files := [][]byte{nil}
	var index sitemapIndex
	for start := 0; start < len(urls); start += sitemapURLLimit {
		end := min(start+sitemapURLLimit, len(urls))
		b, err := encodeXML(sitemapURLSet{URLs: urls[start:end]})
		if err != nil {
			return nil, err
		}
		files = append(files, b)
		newest := slices.MaxFunc(lastMods[start:end], func(a, b time.Time) int { return a.Compare(b) })
		index.Sitemaps = append(index.Sitemaps, sitemapURL{
			Loc: base + "/sitemap-" + strconv.Itoa(len(files)-1) + ".xml", LastMod: newest.UTC().Format(time.RFC3339),
		})
	}
	b, err := encodeXML(index)
	if err != nil {
		return nil, err
	}
	files[0] = b
	return files, nil
}

// encodeXML encodes v as an XML document.
func encodeXML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode sitemap: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// handleSitemap answers /sitemap.xml.
func (u *UI) handleSitemap(w http.ResponseWriter, r *http.Request) { u.serveSitemap(w, r, 0) }

// sitemapPart returns n of a path /sitemap-n.xml, and whether path is one.
func sitemapPart(path string) (int, bool) {
	s, ok := strings.CutPrefix(path, "/sitemap-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".xml")
	if !ok || s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" || s[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// serveSitemap answers the sitemap file n: 0 for /sitemap.xml, n for /sitemap-n.xml.
func (u *UI) serveSitemap(w http.ResponseWriter, r *http.Request, n int) {
	files, err := u.sitemapFiles(r.Context(), u.baseURL(r))
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(sitemapRetryAfter.Seconds())))
		u.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The list of events for search engines could not be made just now. Please try again in a minute.")
		return
	}
	if n >= len(files) || (n > 0 && len(files) == 1) {
		u.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at this address. It may have moved, or the link may be mistyped.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(sitemapMaxAge.Seconds())))
	_, _ = w.Write(files[n])
}
