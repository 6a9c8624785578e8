package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/web"
)

// fakeAPI plays the public API for the UI's handler tests: one account, whose password is
// "right", tokens that rotate on refresh, and a few events.
type fakeAPI struct {
	mu sync.Mutex
	// calls counts the calls by "METHOD path".
	calls map[string]int
	// remoteAddrs are the RemoteAddrs the calls came with, and forwardedFor their
	// X-Forwarded-For headers.
	remoteAddrs  []string
	forwardedFor []string
	// valid are the access tokens accepted, and refresh the refresh tokens with the pair
	// each one gives.
	valid   map[string]bool
	refresh map[string][2]string
	// bodies are the JSON bodies received, by "METHOD path".
	bodies map[string][]map[string]any
	// refreshDelay makes refreshes slow, to let concurrent requests overlap.
	refreshDelay time.Duration
	// verified is the account's email_verified; resent tells that a confirmation link was
	// sent less than a minute ago.
	verified, resent bool
	// consents are the consent links, by token.
	consents map[string]map[string]any
	// reminders are what GET /api/v1/notifications lists. Without reminderPageSize it lists
	// them all, then a second page that is empty (cursor "c2"); with it, pages of that size
	// (or of the request's limit, when smaller) with offset cursors ("r3"), of the reminders
	// of the request's event_id when it has one.
	reminders        []any
	reminderPageSize int
	// attendance is the account's attendances, in the order they were made; fillerAttendance
	// puts that many attendances of other events before them, so that the list pages.
	attendance       []map[string]any
	fillerAttendance int
	// calendarSecret is the secret of the account's calendar feed; calendarMissing makes
	// GET /api/v1/accounts/me/calendar answer 404, as an events service without feeds does.
	calendarSecret  string
	calendarMissing bool
	// searchable, when above 0, makes GET /api/v1/events list that many events, paged with
	// offset cursors ("o20"), and refuse a cursor it did not give out with 422.
	searchable int
	// duplicate makes POST /api/v1/notifications answer 409, as for a reminder identical to
	// one the account holds.
	duplicate bool
	mux       *http.ServeMux
}

// fakeStart is when the fake events start: in about three days, on the hour.
var fakeStart = time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)

// Tokens the fake API knows.
const (
	fakeConfirmToken     = "confirm-token-0123456789"
	fakeConsentToken     = "consent-token-0123456789"
	fakeUnsubscribeToken = "unsub-token-0123456789"
)

const fakeAccountID = "acc-1"

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{
		calls:   map[string]int{},
		valid:   map[string]bool{"a1": true, "a2": true},
		refresh: map[string][2]string{"r1": {"a2", "r2"}},
		bodies:  map[string][]map[string]any{},
		consents: map[string]map[string]any{
			fakeConsentToken: {"email": "bob@example.com", "requester": map[string]any{"display_name": "Ada <Lovelace>"}, "status": "pending"},
		},
		reminders:      []any{},
		calendarSecret: "feed-secret-1",
		mux:            http.NewServeMux(),
	}
	f.mux.HandleFunc("POST /api/v1/auth/token", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["email"] != "ada@example.com" || body["password"] != "right" {
			problem(w, http.StatusUnauthorized, "invalid email or password", nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "a1", "token_type": "Bearer", "expires_in": 900, "refresh_token": "r1"})
	})
	f.mux.HandleFunc("POST /api/v1/auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		time.Sleep(f.refreshDelay)
		f.mu.Lock()
		pair, ok := f.refresh[body["refresh_token"]]
		delete(f.refresh, body["refresh_token"]) // rotation: a refresh token works once
		f.mu.Unlock()
		if !ok {
			problem(w, http.StatusUnauthorized, "invalid refresh token", nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": pair[0], "token_type": "Bearer", "expires_in": 900, "refresh_token": pair[1]})
	})
	f.mux.HandleFunc("GET /api/v1/accounts/me", f.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, f.account())
	}))
	f.mux.HandleFunc("POST /api/v1/auth/logout", f.authed(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	f.mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		if o := r.URL.Query().Get("organizer_id"); o != "" && o != "someone-else" {
			writeJSON(w, http.StatusOK, map[string]any{"items": []any{}, "next_cursor": nil})
			return
		}
		if f.searchable > 0 {
			f.searchEvents(w, r)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{fakeEvent("ev-1", `<script>alert("x")</script>`)}, "next_cursor": "c2"})
	})
	f.mux.HandleFunc("GET /api/v1/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		e, ok := fakeEvents()[r.PathValue("id")]
		if !ok {
			problem(w, http.StatusNotFound, "event not found", nil)
			return
		}
		writeJSON(w, http.StatusOK, e)
	})
	f.mux.HandleFunc("POST /api/v1/events", f.authed(func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusUnprocessableEntity, "the request did not validate", []map[string]string{
			{"field": "starts_at", "message": "must be in the future"},
			{"field": "location.lat", "message": "must be from -90 to 90"},
		})
	}))
	f.mux.HandleFunc("PATCH /api/v1/events/{id}", f.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, fakeEvents()[r.PathValue("id")])
	}))
	f.mux.HandleFunc("GET /api/v1/notifications", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.reminderPageSize > 0 {
			f.reminderPage(w, r)
			return
		}
		if c := r.URL.Query().Get("cursor"); c != "" && c != "c2" {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate",
				[]map[string]string{{"field": "cursor", "message": "is not a cursor this server gave out"}})
			return
		}
		var next any
		if len(f.reminders) > 0 && r.URL.Query().Get("cursor") == "" {
			next = "c2" // a second page, that is empty
		}
		items := f.reminders
		if r.URL.Query().Get("cursor") != "" {
			items = []any{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	}))
	f.mux.HandleFunc("POST /api/v1/notifications", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		duplicate := f.duplicate
		f.mu.Unlock()
		if duplicate {
			w.Header().Set("Location", "/api/v1/notifications/n-0")
			problem(w, http.StatusConflict, "an identical reminder exists already (same event, email and send_at): n-0", nil)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "n-1", "event_id": "ev-1", "status": "scheduled"})
	}))
	f.mux.HandleFunc("POST /api/v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		// The API's order: email, password, display_name; the form's is another.
		var errs []map[string]string
		if !strings.Contains(body["email"], "@") {
			errs = append(errs, map[string]string{"field": "email", "message": "must be an email address"})
		}
		if len(body["password"]) < 8 {
			errs = append(errs, map[string]string{"field": "password", "message": "must be 8 to 128 characters"})
		}
		if body["display_name"] == "" {
			errs = append(errs, map[string]string{"field": "display_name", "message": "must be 1 to 80 characters"})
		}
		if len(errs) > 0 {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate", errs)
			return
		}
		writeJSON(w, http.StatusCreated, f.account())
	})
	f.accountRoutes()
	f.linkRoutes()
	f.attendanceRoutes()
	return f
}

// attendanceRoutes serves the calls about going to events and the calendar feed. ev-full
// is full: going to it puts one on the waitlist, at position 3.
func (f *fakeAPI) attendanceRoutes() {
	f.mux.HandleFunc("PUT /api/v1/events/{id}/attendance", f.authed(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		id := r.PathValue("id")
		if _, ok := fakeEvents()[id]; !ok {
			problem(w, http.StatusNotFound, "event not found", nil)
			return
		}
		a := map[string]any{"event_id": id, "status": body["status"], "position": nil}
		if body["status"] == "going" && id == "ev-full" {
			a["status"], a["position"] = "waitlisted", 3
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attendance = slices.DeleteFunc(f.attendance, func(x map[string]any) bool { return x["event_id"] == id })
		f.attendance = append(f.attendance, a)
		writeJSON(w, http.StatusOK, a)
	}))
	f.mux.HandleFunc("DELETE /api/v1/events/{id}/attendance", f.authed(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attendance = slices.DeleteFunc(f.attendance, func(x map[string]any) bool { return x["event_id"] == id })
		w.WriteHeader(http.StatusNoContent)
	}))
	// The cursor is the offset of the page, the limit at most 100 as the API has it.
	f.mux.HandleFunc("GET /api/v1/accounts/me/attendance", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		all := make([]map[string]any, 0, f.fillerAttendance+len(f.attendance))
		for i := range f.fillerAttendance {
			all = append(all, map[string]any{"event_id": fmt.Sprintf("ev-other-%d", i), "status": "going", "position": nil})
		}
		all = append(all, f.attendance...)
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit < 1 || limit > 100 {
			limit = 50
		}
		from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		to := min(from+limit, len(all))
		var next any
		if to < len(all) {
			next = strconv.Itoa(to)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": all[min(from, to):to], "next_cursor": next})
	}))
	f.mux.HandleFunc("GET /api/v1/accounts/me/calendar", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.calendarMissing {
			problem(w, http.StatusNotFound, "not found", nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"url": "https://events.example.org/api/v1/calendars/" + f.calendarSecret + ".ics"})
	}))
	f.mux.HandleFunc("POST /api/v1/accounts/me/calendar/rotate", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calendarSecret = "feed-secret-2"
		writeJSON(w, http.StatusOK, map[string]any{"url": "https://events.example.org/api/v1/calendars/" + f.calendarSecret + ".ics"})
	}))
}

// fakeEvents are the events GET /api/v1/events/{id} knows: ev-1 without a capacity, ev-cap
// with 12 of 20 places left, ev-full with none left, and ev-mine, the account's own, with
// default reminders a day and 90 minutes before.
func fakeEvents() map[string]map[string]any {
	capped := fakeEvent("ev-cap", "Harbour kayak tour")
	capped["capacity"], capped["going_count"], capped["interested_count"], capped["spots_left"] = 20, 8, 3, 12
	full := fakeEvent("ev-full", "Pottery workshop")
	full["capacity"], full["going_count"], full["spots_left"] = 2, 2, 0
	mine := fakeEvent("ev-mine", "Ada's salon")
	mine["organizer_id"], mine["organizer"] = fakeAccountID, map[string]any{"id": fakeAccountID, "display_name": "Ada <Lovelace>"}
	mine["default_reminders"] = []int{1440, 90}
	return map[string]map[string]any{
		"ev-1": fakeEvent("ev-1", "Rooftop jazz night"), "ev-cap": capped, "ev-full": full, "ev-mine": mine,
	}
}

// account is the fake account, as GET /api/v1/accounts/me answers it.
func (f *fakeAPI) account() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{
		"id": fakeAccountID, "email": "ada@example.com", "display_name": "Ada <Lovelace>",
		"email_verified": f.verified, "created_at": "2026-01-02T03:04:05Z",
	}
}

// accountRoutes serves the calls that confirm the account's address, change it and
// delete it. The current password is "right"; "taken@example.com" belongs to another
// account.
func (f *fakeAPI) accountRoutes() {
	f.mux.HandleFunc("POST /api/v1/accounts/confirm-email", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["token"] != fakeConfirmToken {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate",
				[]map[string]string{{"field": "token", "message": "is unknown, used or expired"}})
			return
		}
		f.mu.Lock()
		f.verified = true
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.mux.HandleFunc("POST /api/v1/accounts/me/confirmation-email", f.authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case f.verified:
			problem(w, http.StatusConflict, "the address is confirmed already", nil)
		case f.resent:
			w.Header().Set("Retry-After", "42")
			problem(w, http.StatusTooManyRequests, "a link was sent less than a minute ago", nil)
		default:
			f.resent = true
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	f.mux.HandleFunc("PATCH /api/v1/accounts/me", f.authed(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if !f.passwordChecked(w, body, body["email"] != "" || body["password"] != "") {
			return
		}
		var errs []map[string]string
		if name, ok := body["display_name"]; ok && name == "" {
			errs = append(errs, map[string]string{"field": "display_name", "message": "must not be empty"})
		}
		if pw, ok := body["password"]; ok && len(pw) < 8 {
			errs = append(errs, map[string]string{"field": "password", "message": "must be 8 to 128 characters"})
		}
		if len(errs) > 0 {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate", errs)
			return
		}
		if body["email"] == "taken@example.com" {
			problem(w, http.StatusConflict, "an account with this email exists", nil)
			return
		}
		writeJSON(w, http.StatusOK, f.account())
	}))
	f.mux.HandleFunc("DELETE /api/v1/accounts/me", f.authed(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if f.passwordChecked(w, body, true) {
			w.WriteHeader(http.StatusNoContent)
		}
	}))
}

// passwordChecked checks the current_password of body when needed, answering 422 when it
// is missing and 401 when it is wrong; it reports whether the call may go on.
func (f *fakeAPI) passwordChecked(w http.ResponseWriter, body map[string]string, needed bool) bool {
	if !needed {
		return true
	}
	switch body["current_password"] {
	case "right":
		return true
	case "":
		problem(w, http.StatusUnprocessableEntity, "the request did not validate",
			[]map[string]string{{"field": "current_password", "message": "is required"}})
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventpost"`)
		problem(w, http.StatusUnauthorized, "the current password is not right", nil)
	}
	return false
}

// linkRoutes serves the calls of the consent and unsubscribe links, which need no login.
func (f *fakeAPI) linkRoutes() {
	f.mux.HandleFunc("GET /api/v1/consents/{token}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		c, ok := f.consents[r.PathValue("token")]
		if !ok {
			problem(w, http.StatusNotFound, "consent not found", nil)
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	f.mux.HandleFunc("POST /api/v1/consents/{token}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		defer f.mu.Unlock()
		c, ok := f.consents[r.PathValue("token")]
		if !ok {
			problem(w, http.StatusNotFound, "consent not found", nil)
			return
		}
		switch body["decision"] {
		case "accept":
			c["status"] = "accepted"
		case "decline":
			c["status"] = "declined"
		default:
			problem(w, http.StatusUnprocessableEntity, "the request did not validate",
				[]map[string]string{{"field": "decision", "message": "must be accept or decline"}})
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	f.mux.HandleFunc("POST /api/v1/unsubscribe/{token}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("token") != fakeUnsubscribeToken {
			problem(w, http.StatusNotFound, "unsubscribe link not found", nil)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// searchEvents answers GET /api/v1/events with searchable events ("Event 1" to "Event N"),
// limit at a time after the offset cursor, as the API pages them.
func (f *fakeAPI) searchEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 || limit > 100 {
		limit = 20
	}
	from := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "o"))
		if !strings.HasPrefix(c, "o") || err != nil || n < 0 || n > f.searchable {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate",
				[]map[string]string{{"field": "cursor", "message": "is not a cursor this server gave out"}})
			return
		}
		from = n
	}
	to := min(from+limit, f.searchable)
	items := []any{}
	for i := from; i < to; i++ {
		items = append(items, fakeEvent(fmt.Sprintf("ev-s%d", i+1), fmt.Sprintf("Event %d", i+1)))
	}
	var next any
	if to < f.searchable {
		next = fmt.Sprintf("o%d", to)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// reminderPage serves GET /api/v1/notifications in pages of reminderPageSize; f.mu is held.
func (f *fakeAPI) reminderPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := f.reminderPageSize
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l < size {
		size = l
	}
	from := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "r"))
		if err != nil || !strings.HasPrefix(c, "r") {
			problem(w, http.StatusUnprocessableEntity, "the request did not validate",
				[]map[string]string{{"field": "cursor", "message": "is not a cursor this server gave out"}})
			return
		}
		from = n
	}
	var matching []any
	for _, n := range f.reminders {
		if ev := q.Get("event_id"); ev == "" || n.(map[string]any)["event_id"] == ev {
			matching = append(matching, n)
		}
	}
	to := min(from+size, len(matching))
	from = min(from, to)
	var next any
	if to < len(matching) {
		next = fmt.Sprintf("r%d", to)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": append([]any{}, matching[from:to]...), "next_cursor": next})
}

// ServeHTTP records the call and serves it.
func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.calls[key]++
	f.remoteAddrs = append(f.remoteAddrs, r.RemoteAddr)
	f.forwardedFor = append(f.forwardedFor, r.Header.Get("X-Forwarded-For"))
	if r.Header.Get("Content-Type") == "application/json" {
		data, _ := io.ReadAll(r.Body)
		var body map[string]any
		if json.Unmarshal(data, &body) == nil {
			f.bodies[key] = append(f.bodies[key], body)
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
	}
	f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// authed answers 401 unless the request carries a valid access token.
func (f *fakeAPI) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		valid := ok && f.valid[token]
		f.mu.Unlock()
		if !valid {
			problem(w, http.StatusUnauthorized, "missing, expired or revoked access token", nil)
			return
		}
		h(w, r)
	}
}

func (f *fakeAPI) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

func fakeEvent(id, title string) map[string]any {
	return map[string]any{
		"id": id, "organizer_id": "someone-else", "title": title, "description": "Live quartet.",
		"starts_at": fakeStart.Format(time.RFC3339), "ends_at": nil, "timezone": "Europe/Berlin",
		"location":   map[string]any{"name": "Sky Bar", "address": "Alexanderplatz 1", "lat": 52.52, "lon": 13.41},
		"online_url": nil, "category": "music", "tags": []string{"jazz"}, "capacity": nil,
		"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "sequence": 1,
		"going_count": 5, "interested_count": 2, "spots_left": nil,
		"organizer": map[string]any{"id": "someone-else", "display_name": "Lena <Vogt>"},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string, fields []map[string]string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "status": status, "detail": detail, "errors": fields})
}

// newUI returns the UI over api.
func newUI(t *testing.T, cfg web.Config, api http.Handler) http.Handler {
	t.Helper()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://events.example.org"
	}
	ui, err := web.New(cfg, web.Deps{API: api, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return ui.Handler()
}

// csrfToken is a well-formed CSRF token for tests.
const csrfToken = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

// request builds a browser request to the UI: a GET, or a same-origin form post with a
// valid CSRF token when form is not nil. cookies are added as they are.
func request(method, target string, form url.Values, cookies ...*http.Cookie) *http.Request {
	var r *http.Request
	if form != nil {
		if _, ok := form["csrf"]; !ok {
			form.Set("csrf", csrfToken)
		}
		r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://example.com")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.AddCookie(&http.Cookie{Name: "ep_csrf", Value: csrfToken})
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.RemoteAddr = "203.0.113.7:5555"
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// serve serves r on h and returns the response.
func serve(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// setCookies returns the cookies a response sets, by name.
func setCookies(resp *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		m[c.Name] = c
	}
	return m
}
