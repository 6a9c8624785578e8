package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/api"
	"github.com/eventpost/eventpost/internal/platform/apitest"
	"github.com/eventpost/eventpost/internal/platform/oasvalidate"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// contract is the OpenAPI document that every exchange of a client is held to, loaded once.
var contract = sync.OnceValues(func() (*oasvalidate.Validator, error) {
	doc, err := api.JSON()
	if err != nil {
		return nil, err
	}
	return oasvalidate.Load(doc)
})

// client calls the public API the way an outside client does.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	// mail is where the system's mail arrives (its SMTP server, or its mail directory); when
	// set, signUpAndLogIn confirms the new account's address with the link of its welcome
	// email.
	mail mailbox
}

func newClient(t testing.TB, base string) *client {
	return &client{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// response is an answer of the API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request with an optional bearer token and JSON body.
func (c *client) do(method, path, token string, body any) response {
	c.t.Helper()
	return c.doWith(method, path, token, body, nil)
}

// doWith is do with extra request headers. The exchange is checked against the OpenAPI
// document: a response it does not allow fails the test (a request it does not allow is a
// test's deliberate bad input, and only its response is checked).
func (c *client) doWith(method, path, token string, body any, header map[string]string) response {
	c.t.Helper()
	v, err := contract()
	if err != nil {
		c.t.Fatal(err)
	}
	req, reqBody := apitest.NewRequest(c.t, method, c.base+path, token, body, header)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	v.Check(c.t, req, reqBody, resp, b)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// must sends a request and fails the test unless it is answered with status want; it returns
// the JSON body (nil for an empty one).
func (c *client) must(want int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, token, body)
	if r.Status != want {
		c.t.Fatalf("%s %s = %d, want %d\n%s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 || !strings.Contains(r.Header.Get("Content-Type"), "json") {
		return nil
	}
	return r.JSON(c.t)
}

// waitReady waits until the gateway reports ready.
func (c *client) waitReady() {
	c.t.Helper()
	eventually(c.t, 30*time.Second, "the gateway to be ready", func() bool {
		resp, err := c.http.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// signUpAndLogIn creates an account, confirms its address when the client knows the SMTP
// server (reminders go only to confirmed addresses), and returns its access and refresh
// tokens.
func (c *client) signUpAndLogIn(email, name string) (access, refresh string) {
	c.t.Helper()
	c.must(201, "POST", "/api/v1/accounts", "", map[string]any{"email": email, "password": "correct horse " + name, "display_name": name})
	if c.mail != nil {
		c.confirmAddress(email)
	}
	return c.logIn(email, name)
}

// confirmLink finds the confirmation link of a welcome or confirm email.
var confirmLink = regexp.MustCompile(`/confirm-email\?token=([A-Za-z0-9_-]+)`)

// confirmAddress confirms addr with the token of the newest confirmation link mailed to it.
func (c *client) confirmAddress(addr string) {
	c.t.Helper()
	var token string
	eventually(c.t, 30*time.Second, "a confirmation link mailed to "+addr, func() bool {
		for _, m := range c.mail.Messages() {
			if !strings.Contains(strings.Join(m.To, ","), addr) {
				continue
			}
			p, err := m.Parse()
			if err != nil {
				c.t.Fatal(err)
			}
			if l := confirmLink.FindStringSubmatch(p.Text); l != nil {
				token = l[1]
			}
		}
		return token != ""
	})
	c.must(204, "POST", "/api/v1/accounts/confirm-email", "", map[string]any{"token": token})
}

func (c *client) logIn(email, name string) (access, refresh string) {
	c.t.Helper()
	p := c.must(200, "POST", "/api/v1/auth/token", "", map[string]any{"email": email, "password": "correct horse " + name})
	return p["access_token"].(string), p["refresh_token"].(string)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailTo waits for a message to addr whose subject contains subject and returns it parsed.
func mailTo(t testing.TB, smtp *smtptest.Server, addr, subject string) (smtptest.Message, *smtptest.Parsed) {
	t.Helper()
	m, err := smtp.WaitFor(func(m smtptest.Message) bool {
		p, err := m.Parse()
		return err == nil && strings.Contains(strings.Join(m.To, ","), addr) && strings.Contains(p.Get("Subject"), subject)
	}, 30*time.Second)
	if err != nil {
		t.Fatalf("mail to %s with subject %q: %v", addr, subject, err)
	}
	p, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// countMail counts the messages to addr whose subject contains subject.
func countMail(t testing.TB, smtp *smtptest.Server, addr, subject string) int {
	t.Helper()
	n := 0
	for _, m := range smtp.Messages() {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(m.To, ","), addr) && strings.Contains(p.Get("Subject"), subject) {
			n++
		}
	}
	return n
}

// rfc3339 formats t to the second, as clients send times.
func rfc3339(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
