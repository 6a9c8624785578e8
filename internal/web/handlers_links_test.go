package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/web"
)

func TestConsentPage(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	page := "/consent/" + fakeConsentToken

	// Not logged in: the link's token is enough.
	resp := serve(h, request("GET", page, nil))
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`<strong>Ada &lt;Lovelace&gt;</strong> wants EventPost to email you reminders at <strong class="break">bob@example.com</strong>`,
		`data-status="pending"`, `action="` + page + `"`,
		`name="decision" value="accept"`, `name="decision" value="decline"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	resp = serve(h, request("POST", page, url.Values{"decision": {"accept"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page {
		t.Fatalf("accept: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	wantFlash(t, resp, "consent-accepted")
	if diff := cmp.Diff([]map[string]any{{"decision": "accept"}}, api.bodies["POST /api/v1/consents/"+fakeConsentToken]); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	b = body(t, serve(h, request("GET", page, nil, &http.Cookie{Name: "ep_flash", Value: "consent-accepted"})))
	for _, want := range []string{`data-status="accepted"`, "You accepted", "Thank you: you accepted these reminders."} {
		if !strings.Contains(b, want) {
			t.Errorf("after accepting, the page lacks %s", want)
		}
	}
	if strings.Contains(b, `name="decision"`) {
		t.Error("after accepting, the page still asks")
	}
}

func TestConsentDecline(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	page := "/consent/" + fakeConsentToken
	resp := serve(h, request("POST", page, url.Values{"decision": {"decline"}}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantFlash(t, resp, "consent-declined")
	if b := body(t, serve(h, request("GET", page, nil))); !strings.Contains(b, `data-status="declined"`) || !strings.Contains(b, "You declined") {
		t.Error("after declining, the page does not say so")
	}
}

func TestConsentRefusals(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus int
		wantText   string
		wantPosts  int
	}{
		{name: "no decision", path: "/consent/" + fakeConsentToken, form: url.Values{}, wantStatus: http.StatusUnprocessableEntity, wantText: "Choose Accept or Decline"},
		{name: "another decision", path: "/consent/" + fakeConsentToken, form: url.Values{"decision": {"maybe"}}, wantStatus: http.StatusUnprocessableEntity, wantText: "Choose Accept or Decline"},
		{name: "an unknown link, shown", path: "/consent/nope-0123456789"},
		{name: "an unknown link, answered", path: "/consent/nope-0123456789", form: url.Values{"decision": {"accept"}}, wantPosts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			method := "GET"
			if tt.form != nil {
				method = "POST"
			}
			if tt.wantStatus == 0 {
				tt.wantStatus, tt.wantText = http.StatusNotFound, "This link does not work"
			}
			resp := serve(h, request(method, tt.path, tt.form))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if b := body(t, resp); !strings.Contains(b, tt.wantText) {
				t.Errorf("the page lacks %q", tt.wantText)
			}
			if n := api.count("POST /api/v1/consents/" + strings.TrimPrefix(tt.path, "/consent/")); n != tt.wantPosts {
				t.Errorf("%d answers sent, want %d", n, tt.wantPosts)
			}
		})
	}
}

func TestUnsubscribePageAsksFirst(t *testing.T) {
	api := newFakeAPI()
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/unsubscribe/"+fakeUnsubscribeToken, nil))
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(b, `<form method="post" action="/unsubscribe/`+fakeUnsubscribeToken+`"`) {
		t.Fatalf("status %d; the page has no button that posts to its link", resp.StatusCode)
	}
	if n := api.count("POST /api/v1/unsubscribe/" + fakeUnsubscribeToken); n != 0 {
		t.Errorf("opening the page unsubscribed (%d calls)", n)
	}
}

// TestUnsubscribeWithoutCookiesOrToken posts to an unsubscribe link as mail providers do
// (RFC 8058: no cookies, no CSRF token, List-Unsubscribe=One-Click), and as the page's
// button does.
func TestUnsubscribeWithoutCookiesOrToken(t *testing.T) {
	var multi bytes.Buffer
	mw := multipart.NewWriter(&multi)
	_ = mw.WriteField("List-Unsubscribe", "One-Click")
	_ = mw.Close()
	tests := []struct {
		name        string
		contentType string
		body        string
		headers     map[string]string
	}{
		{name: "one-click, form-encoded", contentType: "application/x-www-form-urlencoded", body: "List-Unsubscribe=One-Click"},
		{name: "one-click, multipart", contentType: mw.FormDataContentType(), body: multi.String()},
		{
			name: "from a mail client's page in a browser", contentType: "application/x-www-form-urlencoded", body: "List-Unsubscribe=One-Click",
			headers: map[string]string{"Origin": "https://mail.example.net", "Sec-Fetch-Site": "cross-site"},
		},
		{
			name: "the page's button", contentType: "application/x-www-form-urlencoded", body: "",
			headers: map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			h := newUI(t, web.Config{}, api)
			r := httptest.NewRequest("POST", "/unsubscribe/"+fakeUnsubscribeToken, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			resp := serve(h, r)
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(b, "You are unsubscribed") {
				t.Fatalf("status %d, want 200 and the page that says it is done: %s", resp.StatusCode, b)
			}
			if n := api.count("POST /api/v1/unsubscribe/" + fakeUnsubscribeToken); n != 1 {
				t.Errorf("%d unsubscribe calls, want 1", n)
			}
			if strings.Contains(b, `href="/reminders"`) || strings.Contains(b, `href="/account"`) {
				t.Error("the page offers what needs a login")
			}
		})
	}
}

func TestUnsubscribeUnknownLink(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	r := httptest.NewRequest("POST", "/unsubscribe/nope-0123456789", strings.NewReader("List-Unsubscribe=One-Click"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := serve(h, r)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body(t, resp), "This link does not work") {
		t.Errorf("status %d, want 404 and a page that says the link does not work", resp.StatusCode)
	}
}

// TestLinkTokensAreEscaped opens the pages of links whose token holds markup.
func TestLinkTokensAreEscaped(t *testing.T) {
	const evil = `"><script>alert(1)</script>`
	api := newFakeAPI()
	api.consents[evil] = map[string]any{"email": "bob@example.com", "requester": map[string]any{"display_name": "<b>Eve</b>"}, "status": "pending"}
	h := newUI(t, web.Config{}, api)
	tests := []struct{ path, want string }{
		{"/confirm-email?token=" + url.QueryEscape(evil), `name="token" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`},
		{"/consent/" + url.PathEscape(evil), `action="/consent/%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`},
		{"/unsubscribe/" + url.PathEscape(evil), `action="/unsubscribe/%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := serve(h, request("GET", tt.path, nil))
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if strings.Contains(b, "<script>alert") || strings.Contains(b, "<b>Eve</b>") {
				t.Error("the page holds the token's markup unescaped")
			}
			if !strings.Contains(b, tt.want) {
				t.Errorf("the page lacks %s", tt.want)
			}
		})
	}
	if got := api.calls["GET /api/v1/consents/"+evil]; got != 1 {
		t.Errorf("the consent was asked for %d times under its token, want once", got)
	}
}

func TestRemindersShowConsentAndFailures(t *testing.T) {
	api := newFakeAPI()
	api.reminders = []any{
		map[string]any{"id": "n-1", "event_id": "ev-1", "email": "bob@example.com", "send_at": "2030-01-01T10:00:00Z", "status": "awaiting_consent", "created_at": "2026-01-01T00:00:00Z"},
		map[string]any{"id": "n-2", "event_id": "ev-1", "email": "ada@example.com", "send_at": "2030-01-01T10:00:00Z", "status": "failed",
			"last_error": "the address <ada@example.com> is not confirmed", "created_at": "2026-01-01T00:00:00Z"},
	}
	h := newUI(t, web.Config{}, api)
	resp := serve(h, request("GET", "/reminders", nil, session()))
	b := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<span class="status status-awaiting_consent">Waiting for the recipient to accept</span>`,
		"We emailed bob@example.com to ask",
		`action="/reminders/n-1/cancel"`,
		`<span class="status status-failed">Failed</span>`,
		"Not sent: the address &lt;ada@example.com&gt; is not confirmed",
		`<option value="awaiting_consent"`,
		`<a href="/reminders?cursor=c2" rel="next"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	b = body(t, serve(h, request("GET", "/reminders?status=awaiting_consent", nil, session())))
	if !strings.Contains(b, `<a href="/reminders?cursor=c2&amp;status=awaiting_consent" rel="next"`) {
		t.Error("the next page's link does not keep the filter")
	}
	b = body(t, serve(h, request("GET", "/reminders?cursor=c2", nil, session())))
	// The fake API answers the cursor c2 with an empty last page.
	if strings.Contains(b, `rel="next"`) || strings.Contains(b, "reminder-row") {
		t.Error("the cursor was not passed on, or the last page links a next one")
	}
}
