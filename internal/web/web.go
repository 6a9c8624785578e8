// Package web is EventPost's web interface: server-rendered pages through which a person
// finds events, reads them, adds them to a calendar, asks for reminders and manages their
// own events, reminders and account.
//
// The UI is a client of the public API like any other: every page calls the API through
// the gateway's own handler, in process (see handlerTransport), so routing, token checks
// and rate limits apply to it as to any client, on behalf of the browser's address. The
// browser never sees a token: access and refresh tokens live in HttpOnly cookies, the
// access token is refreshed transparently, and every form that writes is protected
// against cross-site request forgery. Pages carry a strict Content-Security-Policy; the
// little JavaScript there is only enhances them.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"

	_ "time/tzdata" // event time zones render on hosts without a zoneinfo database
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config configures the UI.
type Config struct {
	// PublicURL is the address people reach EventPost at, such as https://events.example.org.
	// Form posts are accepted from its origin and from the host a request was sent to.
	PublicURL string
	// Secure marks the cookies Secure and gives them the __Host- prefix. Set it when
	// PublicURL is https.
	Secure bool
	// SessionLifetime is how long the browser keeps the refresh cookie; it should match the
	// auth service's refresh-token lifetime. Zero means 30 days.
	SessionLifetime time.Duration
}

// Deps are what the UI needs from outside.
type Deps struct {
	// API serves the public API: the gateway's handler. The UI calls it in process.
	API http.Handler
	// Log receives the UI's errors and warnings.
	Log *slog.Logger
	// Registry receives the UI's metrics; nil means a registry of its own.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// UI is the web interface. Build it with New and serve Handler.
type UI struct {
	cfg          Config
	log          *slog.Logger
	now          func() time.Time
	client       *http.Client
	refresher    *refresher
	pages        map[string]*template.Template
	static       *staticFiles
	publicOrigin string
	metrics      uiMetrics
	locations    sync.Map // time zone name → *time.Location
	sitemap      sitemapCache
	handler      http.Handler
}

// uiMetrics are the UI's own metrics; request counts come from the gateway.
type uiMetrics struct {
	csrfRejected prometheus.Counter
	refreshes    *prometheus.CounterVec
}

// maxFormBytes bounds the body of a form post.
const maxFormBytes = 256 << 10

// New returns the UI.
func New(cfg Config, deps Deps) (*UI, error) {
	if deps.API == nil {
		return nil, errors.New("web: an API handler is required")
	}
	if deps.Log == nil {
		return nil, errors.New("web: a logger is required")
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 30 * 24 * time.Hour
	}
	u := &UI{
		cfg: cfg,
		log: deps.Log,
		now: deps.Now,
		client: &http.Client{
			Transport:     handlerTransport{handler: deps.API},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		refresher: newRefresher(15*time.Second, deps.Now),
	}
	if cfg.PublicURL != "" {
		pu, err := url.Parse(cfg.PublicURL)
		if err != nil || pu.Scheme == "" || pu.Host == "" {
			return nil, fmt.Errorf("web: public URL %q is not an absolute URL", cfg.PublicURL)
		}
		u.publicOrigin = pu.Scheme + "://" + pu.Host
	}
	static, err := newStaticFiles(assets)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	u.static = static
	if u.pages, err = u.parseTemplates(assets); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	u.metrics = uiMetrics{
		csrfRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "web_csrf_rejections_total", Help: "Form posts the web UI refused for want of a valid CSRF token or origin.",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "web_session_refreshes_total", Help: "Session refreshes by the web UI, by result (ok, refused, error).",
		}, []string{"result"}),
	}
	if err := deps.Registry.Register(u.metrics.csrfRejected); err != nil {
		return nil, fmt.Errorf("web: register metrics: %w", err)
	}
	if err := deps.Registry.Register(u.metrics.refreshes); err != nil {
		return nil, fmt.Errorf("web: register metrics: %w", err)
	}
	u.handler = u.buildHandler()
	return u, nil
}

// Handler returns the UI's HTTP handler. It serves every path it is given, answering an
// HTML 404 for those it does not know; mount it beside the API, not over it.
func (u *UI) Handler() http.Handler { return u.handler }

// buildHandler returns the routes behind the UI's middleware.
func (u *UI) buildHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", u.handleEvents)
	mux.HandleFunc("GET /events/{id}", u.handleEvent)
	mux.HandleFunc("POST /events/{id}/reminders", u.handleRemind)
	mux.HandleFunc("POST /events/{id}/attendance", u.handleAttend)
	mux.HandleFunc("POST /events/{id}/leave", u.handleLeave)

	mux.HandleFunc("GET /signup", u.handleSignUpForm)
	mux.HandleFunc("POST /signup", u.handleSignUp)
	mux.HandleFunc("GET /login", u.handleLoginForm)
	mux.HandleFunc("POST /login", u.handleLogin)
	mux.HandleFunc("POST /logout", u.handleLogout)
	mux.HandleFunc("GET /forgot-password", u.handleForgotForm)
	mux.HandleFunc("POST /forgot-password", u.handleForgot)
	mux.HandleFunc("GET /reset-password", u.handleResetForm)
	mux.HandleFunc("POST /reset-password", u.handleReset)
	mux.HandleFunc("GET /account", u.handleAccount)
	mux.HandleFunc("POST /account/name", u.handleChangeName)
	mux.HandleFunc("POST /account/email", u.handleChangeEmail)
	mux.HandleFunc("POST /account/password", u.handleChangePassword)
	mux.HandleFunc("POST /account/confirmation-email", u.handleResendConfirmation)
	mux.HandleFunc("POST /account/calendar/rotate", u.handleRotateCalendar)
	mux.HandleFunc("GET /account/delete", u.handleDeleteAccountForm)
	mux.HandleFunc("POST /account/delete", u.handleDeleteAccount)
	mux.HandleFunc("GET /confirm-email", u.handleConfirmEmailForm)
	mux.HandleFunc("POST /confirm-email", u.handleConfirmEmail)

	mux.HandleFunc("GET /consent/{token}", u.handleConsentForm)
	mux.HandleFunc("POST /consent/{token}", u.handleConsent)
	mux.HandleFunc("GET /unsubscribe/{token}", u.handleUnsubscribeForm)
	mux.HandleFunc("POST /unsubscribe/{token}", u.handleUnsubscribe)

	mux.HandleFunc("GET /reminders", u.handleReminders)
	mux.HandleFunc("POST /reminders/{id}/cancel", u.handleCancelReminder)

	mux.HandleFunc("GET /my/events", u.handleMyEvents)
	mux.HandleFunc("GET /my/events/new", u.handleNewEventForm)
	mux.HandleFunc("POST /my/events/new", u.handleCreateEvent)
	mux.HandleFunc("GET /my/events/{id}/edit", u.handleEditEventForm)
	mux.HandleFunc("POST /my/events/{id}/edit", u.handleUpdateEvent)
	mux.HandleFunc("GET /my/events/{id}/delete", u.handleDeleteEventForm)
	mux.HandleFunc("POST /my/events/{id}/delete", u.handleDeleteEvent)

	mux.HandleFunc("GET /robots.txt", u.handleRobots)
	mux.HandleFunc("GET /sitemap.xml", u.handleSitemap)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := sitemapPart(r.URL.Path); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			u.serveSitemap(w, r, n) // /sitemap-n.xml: a pattern cannot match part of a segment
			return
		}
		u.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at this address. It may have moved, or the link may be mistyped.")
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		if strings.HasPrefix(r.URL.Path, "/static/") {
			u.static.serve(w, r)
			return
		}
		st := &state{
			w:       w,
			access:  u.cookieValue(r, cookieAccess),
			refresh: u.cookieValue(r, cookieRefresh),
			csrf:    u.cookieValue(r, cookieCSRF),
		}
		if !validCSRFToken(st.csrf) {
			st.csrf = newCSRFToken()
			u.setCookie(w, cookieCSRF, st.csrf, u.cfg.SessionLifetime, http.SameSiteLaxMode)
		}
		r = r.WithContext(withPeer(contextWithState(r.Context(), st), r))
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					u.errorPage(w, r, http.StatusRequestEntityTooLarge, "Too much text", "The form held more text than EventPost accepts. Shorten it and try again.")
					return
				}
				u.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back, reload the page and try again.")
				return
			}
			if ok, why := u.checkCSRF(r); !ok && !csrfExempt(r) {
				u.metrics.csrfRejected.Inc()
				u.log.WarnContext(r.Context(), "form post refused", "reason", why, "path", httpx.LoggedPath(r.URL.Path))
				u.errorPage(w, r, http.StatusForbidden, "This form has expired",
					"The form was sent from another site or from a page that is too old. Go back, reload the page and try again.")
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows only this site's own scripts, styles, images and fonts, no
// inline script or style, no plugins, no framing, and forms that post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders sets the headers every UI response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "geolocation=(self), camera=(), microphone=(), payment=()")
}

// view is what every page template is given.
type view struct {
	// Title is the page's title, before " · EventPost".
	Title string
	// Page names the page, for the body's data-page and the navigation's current link.
	Page string
	// User is the logged-in account, nil for a visitor.
	User *account
	// CSRF is the token every form that posts carries.
	CSRF string
	// Flash is a one-time message about what the previous request did.
	Flash string
	// Form is the page's form, if it has one.
	Form *form
	// Data is the page's own data.
	Data any
	// SEO is what the page tells search engines and link previews; render fills in what a
	// handler leaves out (see fillSEO).
	SEO seoData
}

// maxDocTitle is the most characters a page's <title> holds in the page's source: search
// results cut longer titles mid-word, and html-validate's long-title rule, which counts a
// character reference such as &lt; as the characters it is written with, holds pages to it.
const maxDocTitle = 70

// DocTitle is the text of the page's <title>: Title and " · EventPost", with Title shortened
// at a word and given "…" where the whole, as escaped in the page, would pass maxDocTitle.
// The page's heading keeps the whole title.
func (v view) DocTitle() string {
	const suffix = " · EventPost"
	if sourceLen(v.Title+suffix) <= maxDocTitle {
		return v.Title + suffix
	}
	t := []rune(v.Title)
	n := len(t)
	for n > 0 && sourceLen(string(t[:n])+"…"+suffix) > maxDocTitle {
		n--
	}
	cut := string(t[:n])
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace) + "…" + suffix
}

// sourceLen is how many characters s takes in a page's source once escaped as text.
func sourceLen(s string) int {
	return utf8.RuneCountInString(template.HTMLEscapeString(s))
}

// render writes the page named page with status. It fills in the logged-in account, the
// CSRF token and the flash message.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	t, ok := u.pages[page]
	if !ok {
		u.log.ErrorContext(r.Context(), "no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v.User == nil {
		v.User = u.me(r)
	}
	v.Page = page
	v.CSRF = stateOf(r).csrf
	if v.Flash == "" {
		v.Flash = u.takeFlash(w, r)
	}
	if v.Form == nil {
		v.Form = newForm(nil)
	}
	v.Form.inPageOrder(formFieldOrder(page))
	u.fillSEO(r, status, page, &v)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		u.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "internal error: the page could not be shown", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// formFieldOrder returns the fields of the form of page (of its forms, for a page with
// several) in the order the page shows them: the order of its error summary.
func formFieldOrder(page string) []string {
	switch page {
	case "signup":
		return []string{"display_name", "email", "password"}
	case "login", "forgot":
		return []string{"email", "password"}
	case "events":
		return []string{"q", "from", "to", "category", "tag", "lat", "lon", "radius"}
	case "event":
		return []string{"when", "at", "note"}
	case "eventform":
		return eventFormNames()
	case "account":
		return []string{"display_name", "email", "email_current_password", "current_password", "new_password"}
	case "confirm":
		return []string{"current_password", "confirm"}
	}
	return nil
}

// errorData is the data of the error page.
type errorData struct {
	Heading string
	Text    string
	// Link and LinkText are where to go from here; the upcoming events when empty.
	Link, LinkText string
}

// errorPage writes the error page with status.
func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	u.render(w, r, status, "error", view{Title: heading, Data: errorData{Heading: heading, Text: text}})
}

// fail answers a request whose work failed with err: a visitor who must log in is sent to
// the login page, an API answer is shown as the matching error page, and anything else is
// logged and shown as an internal error.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errLoggedOut) {
		u.toLogin(w, r)
		return
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		u.log.ErrorContext(r.Context(), "web request failed", "err", err, "path", httpx.LoggedPath(r.URL.Path))
		u.errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
			"EventPost could not complete this request. It has been logged; please try again in a moment.")
		return
	}
	switch {
	case ae.Status == http.StatusUnprocessableEntity && r.Method == http.MethodGet && slices.ContainsFunc(ae.Fields,
		func(fe fieldError) bool { return fe.Field == "cursor" }):
		// A page link that was mistyped, cut short or made by another server. 400: the
		// address asks for something that does not exist.
		first := pageURL(r.URL.Path, withoutPaging(r.URL.Query()))
		u.render(w, r, http.StatusBadRequest, "error", view{Title: "This page is out of date", Data: errorData{
			Heading: "This page is out of date",
			Text:    "The link to this page of the list is broken or too old, so EventPost cannot tell what was on it.",
			Link:    first, LinkText: "Go to the first page",
		}})
	case ae.Status == http.StatusNotFound:
		u.errorPage(w, r, http.StatusNotFound, "Not found", "This does not exist, or no longer does.")
	case ae.Status == http.StatusForbidden:
		u.errorPage(w, r, http.StatusForbidden, "Not yours", "Only its owner can do this.")
	case ae.Status == http.StatusTooManyRequests:
		if ae.RetryAfter != "" {
			w.Header().Set("Retry-After", ae.RetryAfter)
		}
		u.errorPage(w, r, http.StatusTooManyRequests, "Too many requests", "You are going a little fast. Wait a few seconds and try again.")
	case ae.Status >= 500:
		if ae.RetryAfter != "" {
			w.Header().Set("Retry-After", ae.RetryAfter)
		}
		u.log.WarnContext(r.Context(), "api unavailable", "status", ae.Status, "detail", ae.Detail, "path", httpx.LoggedPath(r.URL.Path))
		u.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
			"Part of EventPost is not answering right now. Please try again in a moment.")
	default:
		u.errorPage(w, r, http.StatusBadRequest, "This request was not accepted", ae.Detail)
	}
}

// toLogin sends the browser to the login page, to come back afterwards to the page it
// asked for (for a form post: the page the form was on).
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next = "/"
		if ref, err := url.Parse(r.Referer()); err == nil && strings.EqualFold(ref.Host, r.Host) {
			next = safeNext(ref.RequestURI())
		}
	}
	u.redirect(w, r, "/login?next="+url.QueryEscape(next))
}

// renderLoggedIn shows page with v, with 200 OK, to someone logged in; anyone else goes to
// the login page first.
func (u *UI) renderLoggedIn(w http.ResponseWriter, r *http.Request, page string, v view) {
	if u.me(r) == nil {
		u.toLogin(w, r)
		return
	}
	u.render(w, r, http.StatusOK, page, v)
}

// redirect answers 303 See Other to target, a path on this site.
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next when it is a path on this site, else "/": a login must not send
// the browser elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// flashMessages are the flash messages, by the code the flash cookie holds.
var flashMessages = map[string]string{
	"welcome": "Welcome to EventPost! You are logged in. We have emailed you a link to confirm your address: " +
		"reminders go to it once it is confirmed.",
	"login":              "You are logged in.",
	"account-created":    "Your account is created. Log in to continue.",
	"logout":             "You are logged out.",
	"account-deleted":    "Your account has been deleted.",
	"password-reset":     "Your new password is set, and you are logged out everywhere else. Log in with it.",
	"reminder-set":       "Reminder set. We will email you.",
	"reminder-cancelled": "Reminder cancelled.",
	"event-created":      "Your event is published.",
	"event-updated":      "Your changes are saved.",
	"event-deleted":      "The event is deleted.",
	"email-confirmed":    "Thank you: your email address is confirmed.",
	"confirmation-sent":  "We have emailed you a new confirmation link. It works once, for 48 hours.",
	"already-confirmed":  "Your email address is confirmed already.",
	"name-changed":       "Your name is changed.",
	"email-change-pending": "Almost done: we have emailed a link to your new address. Your address changes once you open it; " +
		"until then EventPost keeps using the old one.",
	"password-changed": "Your new password is set. You are logged out everywhere else; this browser stays logged in.",
	"consent-accepted": "Thank you: you accepted these reminders.",
	"consent-declined": "Done: you declined these reminders. EventPost will not email them to you.",
	"going":            "You are going. See you there!",
	"waitlisted":       "The event is full: you are on the waitlist. You will get an email if a place frees up.",
	"interested":       "Marked as interested.",
	"left":             "Done: you are no longer on this event's list.",
	"calendar-rotated": "Your calendar feed has a new address. The old one no longer works: subscribe again with the new one.",
}

// flashMessage returns the flash message of code, "" for an unknown code.
func flashMessage(code string) string { return flashMessages[code] }

// flash sets the message code for the next page the browser is shown.
func (u *UI) flash(w http.ResponseWriter, code string) {
	u.setCookie(w, cookieFlash, code, time.Minute, http.SameSiteLaxMode)
}

// takeFlash returns the pending flash message, if any, and deletes it.
func (u *UI) takeFlash(w http.ResponseWriter, r *http.Request) string {
	code := u.cookieValue(r, cookieFlash)
	if code == "" {
		return ""
	}
	u.setCookie(w, cookieFlash, "", -1, http.SameSiteLaxMode)
	return flashMessage(code)
}
