package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/web"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecurityHeaders(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	tests := []struct {
		name, path   string
		wantStatus   int
		wantCache    string
		wantHTMLType bool
	}{
		{name: "page", path: "/", wantStatus: 200, wantCache: "no-store", wantHTMLType: true},
		{name: "error page", path: "/no/such/page", wantStatus: 404, wantCache: "no-store", wantHTMLType: true},
		{name: "static file named without its version", path: "/static/app.css", wantStatus: 200, wantCache: "public, max-age=300"},
		{name: "unknown static file", path: "/static/nope.js", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(h, request("GET", tt.path, nil))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows inline script or style", csp)
			}
			for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if tt.wantCache != "" && resp.Header.Get("Cache-Control") != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", resp.Header.Get("Cache-Control"), tt.wantCache)
			}
			if tt.wantHTMLType && resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestStaticFilesAreVersionedAndCached(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	page := body(t, serve(h, request("GET", "/", nil)))
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page links no versioned stylesheet")
	}
	resp := serve(h, request("GET", m[1], nil))
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("GET %s: status %d, Cache-Control %q", m[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, "<style") {
		t.Error("the page has inline script or style, which the CSP forbids")
	}
}

func TestCSRF(t *testing.T) {
	login := url.Values{"email": {"ada@example.com"}, "password": {"right"}}
	tests := []struct {
		name   string
		modify func(r *http.Request)
		cfg    web.Config
		want   int
	}{
		{name: "same origin with the token", modify: func(*http.Request) {}, want: http.StatusSeeOther},
		{name: "no Origin or Sec-Fetch-Site (an older browser) with the token", modify: func(r *http.Request) {
			r.Header.Del("Origin")
			r.Header.Del("Sec-Fetch-Site")
		}, want: http.StatusSeeOther},
		{name: "from the public URL's origin", cfg: web.Config{PublicURL: "https://events.example.org"}, modify: func(r *http.Request) {
			r.Header.Set("Origin", "https://events.example.org")
		}, want: http.StatusSeeOther},
		{name: "no CSRF cookie", modify: func(r *http.Request) { r.Header.Del("Cookie") }, want: http.StatusForbidden},
		{name: "no token in the form", modify: func(r *http.Request) { setForm(r, withoutCSRF(login)) }, want: http.StatusForbidden},
		{name: "a wrong token", modify: func(r *http.Request) {
			setForm(r, withCSRF(login, strings.Repeat("x", 43)))
		}, want: http.StatusForbidden},
		{name: "cross-site (Sec-Fetch-Site)", modify: func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, want: http.StatusForbidden},
		{name: "same-site but another origin (Sec-Fetch-Site)", modify: func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }, want: http.StatusForbidden},
		{name: "a foreign Origin", modify: func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, want: http.StatusForbidden},
		{name: "a null Origin", modify: func(r *http.Request) { r.Header.Set("Origin", "null") }, want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, tt.cfg, api)
			r := request("POST", "/login", cloneForm(login))
			tt.modify(r)
			resp := serve(h, r)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			calls := api.count("POST /api/v1/auth/token")
			if tt.want == http.StatusForbidden {
				if calls != 0 {
					t.Errorf("a refused form post reached the API (%d calls)", calls)
				}
				if b := body(t, resp); !strings.Contains(b, "This form has expired") {
					t.Errorf("the refusal page does not explain itself: %s", b)
				}
			} else if calls != 1 {
				t.Errorf("%d login calls, want 1", calls)
			}
		})
	}
}

// TestCSRFProtectsEveryWrite posts to every form action without a token.
func TestCSRFProtectsEveryWrite(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	for _, path := range []string{
		"/signup", "/login", "/logout", "/account/delete", "/events/ev-1/reminders", "/reminders/n-1/cancel",
		"/events/ev-1/attendance", "/events/ev-1/leave", "/account/calendar/rotate",
		"/my/events/new", "/my/events/ev-1/edit", "/my/events/ev-1/delete",
		"/account/name", "/account/email", "/account/password", "/account/confirmation-email", "/confirm-email",
		"/consent/" + fakeConsentToken,
		// Only POST /unsubscribe/{token} is exempt, not paths that look like it.
		"/unsubscribe/", "/unsubscribe/" + fakeUnsubscribeToken + "/x", "/unsubscribe", "/unsubscribex/" + fakeUnsubscribeToken,
	} {
		t.Run(path, func(t *testing.T) {
			r := request("POST", path, url.Values{"csrf": {""}}, &http.Cookie{Name: "ep_access", Value: "a1"})
			if resp := serve(h, r); resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for call := range api.calls {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("a refused post wrote through the API: %s", call)
		}
	}
}

func TestLoginSetsSessionCookies(t *testing.T) {
	tests := []struct {
		name   string
		cfg    web.Config
		prefix string
	}{
		{name: "http", cfg: web.Config{PublicURL: "http://localhost:8080"}},
		{name: "https", cfg: web.Config{PublicURL: "https://events.example.org", Secure: true}, prefix: "__Host-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newUI(t, tt.cfg, newFakeAPI())
			r := request("POST", "/login", url.Values{
				"email": {"ada@example.com"}, "password": {"right"}, "next": {"/events/ev-1"}, "csrf": {csrfToken},
			})
			// A Secure UI's CSRF cookie carries the prefix too.
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: tt.prefix + "ep_csrf", Value: csrfToken})
			resp := serve(h, r)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/events/ev-1" {
				t.Fatalf("status %d, Location %q; want 303 to /events/ev-1", resp.StatusCode, resp.Header.Get("Location"))
			}
			cookies := setCookies(resp)
			type flags struct {
				Value    string
				HttpOnly bool
				Secure   bool
				SameSite http.SameSite
				Path     string
				MaxAge   int
			}
			got := map[string]flags{}
			for name, c := range cookies {
				got[strings.TrimPrefix(name, tt.prefix)] = flags{c.Value, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.MaxAge}
				if !strings.HasPrefix(name, tt.prefix) {
					t.Errorf("cookie %s lacks the prefix %q", name, tt.prefix)
				}
			}
			secure := tt.cfg.Secure
			want := map[string]flags{
				"ep_access":  {"a1", true, secure, http.SameSiteLaxMode, "/", 870},
				"ep_refresh": {"r1", true, secure, http.SameSiteStrictMode, "/", 30 * 24 * 3600},
				"ep_flash":   {"login", true, secure, http.SameSiteLaxMode, "/", 60},
			}
			csrf := got["ep_csrf"]
			delete(got, "ep_csrf")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cookies (-want +got):\n%s", diff)
			}
			if csrf.Value == "" || csrf.Value == csrfToken || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode {
				t.Errorf("the CSRF token is not replaced at login by a fresh HttpOnly one: %+v", csrf)
			}
		})
	}
}

func TestLoginFailureShowsAnError(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	resp := serve(h, request("POST", "/login", url.Values{"email": {"ada@example.com"}, "password": {"Tr0ub4dor-typed"}}))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	b := body(t, resp)
	for _, want := range []string{"The email address or the password is not right.", `value="ada@example.com"`} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(b, "Tr0ub4dor-typed") {
		t.Error("the page shows the password typed")
	}
	if c := setCookies(resp); c["ep_access"] != nil || c["ep_refresh"] != nil {
		t.Error("a failed login set session cookies")
	}
}

func TestRefreshesTheSession(t *testing.T) {
	tests := []struct {
		name             string
		cookies          []*http.Cookie
		wantStatus       int
		wantAccess       string // the access cookie set, "-" for deleted, "" for none
		wantRefresh      string
		wantRefreshCalls int // refresh calls
	}{
		{
			name:       "the API refuses the access token: refresh and retry",
			cookies:    []*http.Cookie{{Name: "ep_access", Value: "expired"}, {Name: "ep_refresh", Value: "r1"}},
			wantStatus: http.StatusOK, wantAccess: "a2", wantRefresh: "r2", wantRefreshCalls: 1,
		},
		{
			name:       "the access cookie has expired: refresh first",
			cookies:    []*http.Cookie{{Name: "ep_refresh", Value: "r1"}},
			wantStatus: http.StatusOK, wantAccess: "a2", wantRefresh: "r2", wantRefreshCalls: 1,
		},
		{
			name:       "a valid access token: no refresh",
			cookies:    []*http.Cookie{{Name: "ep_access", Value: "a1"}, {Name: "ep_refresh", Value: "r1"}},
			wantStatus: http.StatusOK,
		},
		{
			name:       "the refresh token is refused: logged out",
			cookies:    []*http.Cookie{{Name: "ep_access", Value: "expired"}, {Name: "ep_refresh", Value: "stolen"}},
			wantStatus: http.StatusSeeOther, wantAccess: "-", wantRefresh: "-", wantRefreshCalls: 1,
		},
		{
			name:       "no session",
			wantStatus: http.StatusSeeOther,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("GET", "/account", nil, tt.cookies...))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			b := body(t, resp)
			if tt.wantStatus == http.StatusOK && !strings.Contains(b, "Ada &lt;Lovelace&gt;") {
				t.Error("the account page does not show the account")
			}
			if tt.wantStatus == http.StatusSeeOther && resp.Header.Get("Location") != "/login?next=%2Faccount" {
				t.Errorf("Location = %q, want the login page coming back to /account", resp.Header.Get("Location"))
			}
			cookies := setCookies(resp)
			for name, want := range map[string]string{"ep_access": tt.wantAccess, "ep_refresh": tt.wantRefresh} {
				c := cookies[name]
				switch {
				case want == "" && c != nil:
					t.Errorf("cookie %s set to %q, want it untouched", name, c.Value)
				case want == "-" && (c == nil || c.MaxAge >= 0):
					t.Errorf("cookie %s not deleted: %+v", name, c)
				case want != "" && want != "-" && (c == nil || c.Value != want):
					t.Errorf("cookie %s = %+v, want %q", name, c, want)
				}
			}
			if got := api.count("POST /api/v1/auth/refresh"); got != tt.wantRefreshCalls {
				t.Errorf("%d refresh calls, want %d", got, tt.wantRefreshCalls)
			}
			// The CSRF tokens in the forms are random and may hold "a2" or "r2" by chance.
			if page := csrfField.ReplaceAllString(b, ""); strings.Contains(page, "a2") || strings.Contains(page, "r2") {
				t.Error("the page holds a token")
			}
		})
	}
}

// csrfField matches the hidden CSRF field of a form.
var csrfField = regexp.MustCompile(`name="csrf" value="[^"]*"`)

// TestConcurrentRequestsRefreshOnce checks that two requests presenting the same expired
// session at once exchange its refresh token once: the API treats a second use as theft.
func TestConcurrentRequestsRefreshOnce(t *testing.T) {
	api := newFakeAPI()
	api.refreshDelay = 50 * time.Millisecond
	h := newUI(t, web.Config{}, api)
	var wg sync.WaitGroup
	results := make([]*http.Response, 4)
	for i := range results {
		wg.Go(func() {
			results[i] = serve(h, request("GET", "/account", nil, &http.Cookie{Name: "ep_refresh", Value: "r1"}))
		})
	}
	wg.Wait()
	for i, resp := range results {
		if resp.StatusCode != http.StatusOK {
			t.Errorf("request %d: status %d, want 200", i, resp.StatusCode)
		}
		if c := setCookies(resp)["ep_refresh"]; c == nil || c.Value != "r2" {
			t.Errorf("request %d: refresh cookie %+v, want r2", i, c)
		}
	}
	if n := api.count("POST /api/v1/auth/refresh"); n != 1 {
		t.Errorf("%d refresh calls, want 1", n)
	}
}

func TestEventFormShowsAPIErrorsBesideFields(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	form := url.Values{
		"title": {"Jazz & <friends>"}, "starts_at": {"2020-01-01T18:30"}, "timezone": {"Europe/Berlin"},
		"location_name": {"Sky Bar"}, "lat": {"95"}, "lon": {"13.4"}, "tags": {"Jazz, live"},
	}
	resp := serve(h, request("POST", "/my/events/new", form, &http.Cookie{Name: "ep_access", Value: "a1"}))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	b := body(t, resp)
	for field, msg := range map[string]string{"starts_at": "Start must be in the future", "lat": "Latitude must be from -90 to 90"} {
		errTag := regexp.MustCompile(`<p class="field-error" id="f-` + field + `-error">.*` + regexp.QuoteMeta(msg) + `</p>`)
		if !errTag.MatchString(b) {
			t.Errorf("no error %q beside the field %s", msg, field)
		}
		input := regexp.MustCompile(`<input id="f-` + field + `"[^>]*>`).FindString(b)
		if !strings.Contains(input, `aria-describedby="`) || !strings.Contains(input, "f-"+field+"-error") || !strings.Contains(input, `aria-invalid="true"`) {
			t.Errorf("the input %s is not tied to its error: %s", field, input)
		}
		if !strings.Contains(b, `<a href="#f-`+field+`">`+msg+`</a>`) {
			t.Errorf("the error summary does not link %q to its field", msg)
		}
	}
	for _, kept := range []string{`value="Jazz &amp; &lt;friends&gt;"`, `value="2020-01-01T18:30"`, `value="Sky Bar"`, `value="95"`, `value="Jazz, live"`} {
		if !strings.Contains(b, kept) {
			t.Errorf("the value %s is not kept", kept)
		}
	}
	// The API got the form as an EventInput, times in the event's zone.
	sent := api.bodies["POST /api/v1/events"]
	if len(sent) != 1 {
		t.Fatalf("%d create calls, want 1", len(sent))
	}
	want := map[string]any{
		"title": "Jazz & <friends>", "description": "", "starts_at": "2020-01-01T18:30:00+01:00", "ends_at": nil,
		"timezone": "Europe/Berlin", "online_url": nil, "category": nil, "tags": []any{"jazz", "live"}, "capacity": nil,
		"location": map[string]any{"name": "Sky Bar", "address": "", "lat": 95.0, "lon": 13.4},
	}
	if diff := cmp.Diff(want, sent[0]); diff != "" {
		t.Errorf("EventInput sent (-want +got):\n%s", diff)
	}
}

func TestEventFormCatchesUnreadableValues(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	form := url.Values{"title": {"Jazz"}, "starts_at": {"tomorrow"}, "capacity": {"many"}, "lat": {"north"}}
	resp := serve(h, request("POST", "/my/events/new", form, &http.Cookie{Name: "ep_access", Value: "a1"}))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", resp.StatusCode)
	}
	b := body(t, resp)
	for _, id := range []string{"f-starts_at-error", "f-capacity-error", "f-lat-error"} {
		if !strings.Contains(b, `id="`+id+`"`) {
			t.Errorf("no %s", id)
		}
	}
	if n := api.count("POST /api/v1/events"); n != 0 {
		t.Errorf("a form with unreadable values was sent to the API (%d calls)", n)
	}
}

func TestOutputIsEscaped(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	resp := serve(h, request("GET", "/?q=%3Cb%3Ebold%3C%2Fb%3E", nil))
	b := body(t, resp)
	if strings.Contains(b, `<script>alert`) || strings.Contains(b, "<b>bold</b>") {
		t.Error("the page holds unescaped text from the API or the query")
	}
	if !strings.Contains(b, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the event's title is not shown, escaped")
	}
}

func TestEventListPagesWithTheCursor(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	b := body(t, serve(h, request("GET", "/?q=jazz", nil)))
	if !strings.Contains(b, `href="/?cursor=c2&amp;q=jazz"`) {
		t.Errorf("no link to the next page keeping the search: %s", regexp.MustCompile(`<nav class="pager".*?</nav>`).FindString(b))
	}
}

func TestAPICallsComeFromTheBrowsersAddress(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	r := request("GET", "/events/ev-1", nil, &http.Cookie{Name: "ep_access", Value: "a1"})
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	serve(h, r)
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.remoteAddrs) < 3 {
		t.Fatalf("%d API calls, want the event, the account and its reminders", len(api.remoteAddrs))
	}
	for i, a := range api.remoteAddrs {
		if a != "203.0.113.7:5555" || api.forwardedFor[i] != "198.51.100.9" {
			t.Errorf("an API call came from %q forwarded for %q, want the browser's 203.0.113.7:5555 and 198.51.100.9", a, api.forwardedFor[i])
		}
	}
}

func TestLoginRedirectsOnlyWithinTheSite(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/events/ev-1", "/events/ev-1"},
		{"/?q=jazz", "/?q=jazz"},
		{"", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"events", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			h := newUI(t, web.Config{}, newFakeAPI())
			resp := serve(h, request("POST", "/login", url.Values{"email": {"ada@example.com"}, "password": {"right"}, "next": {tt.next}}))
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("Location = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPagesThatNeedALogin(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	for _, path := range []string{"/account", "/reminders", "/my/events", "/my/events/new", "/account/delete"} {
		t.Run(path, func(t *testing.T) {
			resp := serve(h, request("GET", path, nil))
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
				t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestRemindMe(t *testing.T) {
	tests := []struct {
		name     string
		form     url.Values
		want     int
		wantSent map[string]any
		wantErr  string
	}{
		{
			name: "a day before", form: url.Values{"when": {"1440"}, "note": {" Bring earplugs "}},
			want: http.StatusSeeOther, wantSent: map[string]any{"event_id": "ev-1", "minutes_before": 1440.0, "note": "Bring earplugs"},
		},
		{
			name: "at a chosen time, in the zone the form states", form: url.Values{"when": {"custom"}, "at": {"2030-05-01T09:15"}, "tz": {"America/New_York"}},
			want: http.StatusSeeOther, wantSent: map[string]any{"event_id": "ev-1", "send_at": "2030-05-01T09:15:00-04:00"},
		},
		{
			name: "a chosen time left empty", form: url.Values{"when": {"custom"}},
			want: http.StatusUnprocessableEntity, wantErr: `id="f-at-error"`,
		},
		{
			name: "no choice", form: url.Values{},
			want: http.StatusUnprocessableEntity, wantErr: `id="f-when-error"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			resp := serve(h, request("POST", "/events/ev-1/reminders", tt.form, &http.Cookie{Name: "ep_access", Value: "a1"}))
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			sent := api.bodies["POST /api/v1/notifications"]
			if tt.wantSent != nil {
				if len(sent) != 1 {
					t.Fatalf("%d reminders sent, want 1", len(sent))
				}
				if diff := cmp.Diff(tt.wantSent, sent[0]); diff != "" {
					t.Errorf("reminder sent (-want +got):\n%s", diff)
				}
				if loc := resp.Header.Get("Location"); loc != "/events/ev-1" {
					t.Errorf("Location = %q", loc)
				}
				return
			}
			if len(sent) != 0 {
				t.Errorf("an invalid reminder was sent: %v", sent)
			}
			if b := body(t, resp); !strings.Contains(b, tt.wantErr) {
				t.Errorf("the page lacks %s", tt.wantErr)
			}
		})
	}
}

func TestRemindMeLoggedOutGoesToLogin(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	resp := serve(h, request("POST", "/events/ev-1/reminders", url.Values{"when": {"60"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fevents%2Fev-1" {
		t.Errorf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAPIUnavailableShowsAnErrorPage(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		problem(w, http.StatusServiceUnavailable, "events is unavailable", nil)
	})
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/", nil))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("status %d, Retry-After %q; want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if b := body(t, resp); !strings.Contains(b, "Temporarily unavailable") {
		t.Error("the page does not say what happened")
	}
}

func TestNewNeedsAnAPIAndALogger(t *testing.T) {
	if _, err := web.New(web.Config{}, web.Deps{Log: nil, API: http.NotFoundHandler()}); err == nil {
		t.Error("New without a logger succeeded")
	}
	if _, err := web.New(web.Config{}, web.Deps{}); err == nil {
		t.Error("New without an API succeeded")
	}
	if _, err := web.New(web.Config{PublicURL: "not a url"}, web.Deps{API: http.NotFoundHandler(), Log: nil}); err == nil {
		t.Error("New with a bad public URL succeeded")
	}
}

func cloneForm(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func withoutCSRF(v url.Values) url.Values {
	c := cloneForm(v)
	c.Set("csrf", "")
	return c
}

func withCSRF(v url.Values, token string) url.Values {
	c := cloneForm(v)
	c.Set("csrf", token)
	return c
}

// setForm replaces the body of the form post r.
func setForm(r *http.Request, v url.Values) {
	s := v.Encode()
	r.Body = io.NopCloser(strings.NewReader(s))
	r.ContentLength = int64(len(s))
}
