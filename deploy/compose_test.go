package deploy_test

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventpost/eventpost/api"
	"github.com/eventpost/eventpost/internal/platform/apitest"
	"github.com/eventpost/eventpost/internal/platform/oasvalidate"
)

// A stack under Podman, as its user reaches it: the gateway, and the APIs of Mailpit and Jaeger,
// all on 127.0.0.1, on the ports scripts/compose-up.sh and scripts/kube-up.sh publish: 8080,
// 8025 and 16686, or those of EVENTPOST_STACK_HTTP_PORT, EVENTPOST_STACK_MAILPIT_PORT and
// EVENTPOST_STACK_JAEGER_PORT (deploy/podman/compose.py's HOST_PORTS).
var (
	composeGateway = stackURL("EVENTPOST_STACK_HTTP_PORT", "8080")
	composeMailpit = stackURL("EVENTPOST_STACK_MAILPIT_PORT", "8025")
	composeJaeger  = stackURL("EVENTPOST_STACK_JAEGER_PORT", "16686")
)

// stackURL returns the URL of 127.0.0.1 at the port that the variable env names, or at port.
func stackURL(env, port string) string {
	return "http://127.0.0.1:" + cmp.Or(os.Getenv(env), port)
}

// podmanStack is one way of running the system under Podman, and what the tests need to know
// of it.
type podmanStack struct {
	name string
	// env enables the stack's tests when it is 1: the stack is running.
	env, up string
	// killed are the containers the kill test stops with `podman kill`: a mailer's and a
	// notifications replica's; crashed is the other mailer's, whose process it kills.
	killed  []string
	crashed string
}

var podmanStacks = []podmanStack{
	// podman-compose names each container <project>_<service>_<replica>.
	{
		name: "compose", env: "EVENTPOST_COMPOSE", up: "scripts/compose-up.sh",
		killed: []string{"eventpost_mailer_1", "eventpost_notifications-1_1"}, crashed: "eventpost_mailer_2",
	},
	// podman kube play names the pods of a Deployment <name>-pod-<i>, and their containers
	// <pod>-<container>.
	{
		name: "kube", env: "EVENTPOST_KUBE", up: "scripts/kube-up.sh",
		killed: []string{"mailer-pod-0-mailer", "notifications-pod-0-notifications"}, crashed: "mailer-pod-1-mailer",
	},
}

// eachStack runs test against every stack, as a subtest named after it.
func eachStack(t *testing.T, test func(t *testing.T, c *composeClient, s podmanStack)) {
	for _, s := range podmanStacks {
		t.Run(s.name, func(t *testing.T) { test(t, newComposeClient(t, s), s) })
	}
}

// composeTimeout bounds each wait on the stack: a reminder goes through the scheduler's poll,
// the broker and a mailer; a trace through the services' and the collector's batches.
const composeTimeout = 90 * time.Second

// composeClient talks to the running stack. It fails the test, rather than skip it, when the
// stack's variable (EVENTPOST_COMPOSE, EVENTPOST_KUBE) is 1 and the gateway does not answer
// ready.
type composeClient struct {
	t    *testing.T
	http *http.Client
}

// newComposeClient returns a client of the stack, or skips the test unless its variable is 1.
func newComposeClient(t *testing.T, s podmanStack) *composeClient {
	t.Helper()
	if os.Getenv(s.env) != "1" {
		t.Skipf("%s=1 runs this against the stack %s starts", s.env, s.up)
	}
	c := &composeClient{t: t, http: &http.Client{Timeout: 30 * time.Second}}
	if r := c.call("GET", composeGateway+"/readyz", "", nil, nil); r.status != http.StatusOK {
		t.Fatalf("the gateway at %s is not ready (%d: %s): run %s first", composeGateway, r.status, r.body, s.up)
	}
	return c
}

// composeResponse is an HTTP answer.
type composeResponse struct {
	status int
	body   []byte
}

// contract is the OpenAPI document every answer of the stack's API is held to, loaded once.
var contract = sync.OnceValues(func() (*oasvalidate.Validator, error) {
	doc, err := api.JSON()
	if err != nil {
		return nil, err
	}
	return oasvalidate.Load(doc)
})

// call sends a request with an optional bearer token, JSON body and extra headers. A
// transport error is answered as status 0, so that waits can poll through restarts. Every
// exchange with the gateway's API is checked against the OpenAPI document, as an outside
// client's would be: an answer it does not allow fails the test.
func (c *composeClient) call(method, u, token string, body any, header map[string]string) composeResponse {
	c.t.Helper()
	req, reqBody := apitest.NewRequest(c.t, method, u, token, body, header)
	resp, err := c.http.Do(req)
	if err != nil {
		return composeResponse{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return composeResponse{body: []byte(err.Error())}
	}
	if strings.HasPrefix(u, composeGateway+"/api/") {
		v, err := contract()
		if err != nil {
			c.t.Fatal(err)
		}
		v.Check(c.t, req, reqBody, resp, b)
	}
	return composeResponse{status: resp.StatusCode, body: b}
}

// must calls the gateway's API and fails the test unless it answers want; it decodes a JSON
// body into out when out is not nil.
func (c *composeClient) must(want int, method, path, token string, body, out any, header map[string]string) {
	c.t.Helper()
	r := c.call(method, composeGateway+path, token, body, header)
	if r.status != want {
		c.t.Fatalf("%s %s = %d, want %d\n%s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, r.body)
		}
	}
}

// getJSON GETs u (Mailpit's or Jaeger's API) into out, reporting whether it answered 200.
func (c *composeClient) getJSON(u string, out any) bool {
	c.t.Helper()
	r := c.call("GET", u, "", nil, nil)
	return r.status == http.StatusOK && json.Unmarshal(r.body, out) == nil
}

// composeEventually polls cond every half second until it holds, failing the test after
// composeTimeout.
func composeEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(composeTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", composeTimeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// composeNonce is a random word that keeps this run's accounts, events and notes apart from
// those of earlier runs against the same stack.
func composeNonce(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mailpitMessage is a message of Mailpit's search results and, with its Text, of its
// message endpoint.
type mailpitMessage struct {
	ID      string
	Subject string
	Text    string
}

// mails returns the messages Mailpit holds that match query (Mailpit's search syntax), each
// with its plain-text body.
func (c *composeClient) mails(query string) []mailpitMessage {
	c.t.Helper()
	var found struct{ Messages []mailpitMessage }
	if !c.getJSON(composeMailpit+"/api/v1/search?limit=500&query="+url.QueryEscape(query), &found) {
		return nil
	}
	for i, m := range found.Messages {
		if !c.getJSON(composeMailpit+"/api/v1/message/"+m.ID, &found.Messages[i]) {
			c.t.Fatalf("mailpit: message %s cannot be read", m.ID)
		}
	}
	return found.Messages
}

// confirmLink is the confirmation link of a welcome email.
var confirmLink = regexp.MustCompile(`/confirm-email\?token=([A-Za-z0-9_-]+)`)

// account signs up addr, confirms it with the link of its welcome mail (reminders go only to
// confirmed addresses) and logs in, as the README's walk-through does; it returns the access
// token.
func (c *composeClient) account(addr string) string {
	c.t.Helper()
	const password = "correct horse battery"
	c.must(201, "POST", "/api/v1/accounts", "", map[string]any{"email": addr, "password": password, "display_name": "Ada"}, nil, nil)
	var token string
	composeEventually(c.t, "the welcome mail to "+addr, func() bool {
		for _, m := range c.mails("to:" + addr) {
			if l := confirmLink.FindStringSubmatch(m.Text); l != nil {
				token = l[1]
			}
		}
		return token != ""
	})
	c.must(204, "POST", "/api/v1/accounts/confirm-email", "", map[string]any{"token": token}, nil, nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.must(200, "POST", "/api/v1/auth/token", "", map[string]any{"email": addr, "password": password}, &tok, nil)
	return tok.AccessToken
}

// event publishes an event two hours from now in Berlin and returns its ID.
func (c *composeClient) event(token, title string) string {
	c.t.Helper()
	var ev struct{ ID string }
	c.must(201, "POST", "/api/v1/events", token, map[string]any{
		"title": title, "starts_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
		"timezone": "Europe/Berlin", "tags": []string{"jazz"},
		"location": map[string]any{"name": "Sky Bar", "address": "Alexanderplatz 1, Berlin", "lat": 52.52, "lon": 13.41},
	}, &ev, nil)
	return ev.ID
}

// TestPodmanWalkThrough is the README's curl walk-through against each stack under Podman:
// sign up, confirm, log in, publish an event, find it, ask for a reminder; the reminder
// arrives in Mailpit, and the trace of the request that asked for it — the client's
// traceparent — reaches Jaeger with every hop, from the gateway to the mailer's SMTP send.
func TestPodmanWalkThrough(t *testing.T) { eachStack(t, testWalkThrough) }

func testWalkThrough(t *testing.T, c *composeClient, _ podmanStack) {
	nonce := composeNonce(t, 6)
	addr := "ada-" + nonce + "@example.com"
	token := c.account(addr)
	title := "Rooftop jazz night " + nonce
	id := c.event(token, title)

	var found struct{ Items []struct{ ID string } }
	c.must(200, "GET", "/api/v1/events?q="+nonce+"&near=52.52,13.40&radius_km=5", "", nil, &found, nil)
	if len(found.Items) != 1 || found.Items[0].ID != id {
		t.Fatalf("search for %q near Berlin found %+v, want the event %s alone", nonce, found.Items, id)
	}

	traceID := composeNonce(t, 16)
	var n struct{ ID, Status string }
	// A stack just started may answer 503 "events is unavailable" for a few seconds (the
	// notifications replica's lookup of events failing; seen in 2 of about 10 fresh starts):
	// the client tries again, as the answer's Retry-After asks, five seconds ahead each time.
	composeEventually(t, "the reminder to be created", func() bool {
		r := c.call("POST", composeGateway+"/api/v1/notifications", token, map[string]any{
			"event_id": id, "send_at": time.Now().Add(5 * time.Second).UTC().Format(time.RFC3339), "note": "Bring earplugs",
		}, map[string]string{"Traceparent": "00-" + traceID + "-" + composeNonce(t, 8) + "-01"})
		switch r.status {
		case http.StatusServiceUnavailable:
			time.Sleep(time.Second)
			return false
		case http.StatusCreated:
			if err := json.Unmarshal(r.body, &n); err != nil {
				t.Fatalf("POST /api/v1/notifications: %v\n%s", err, r.body)
			}
			return true
		}
		t.Fatalf("POST /api/v1/notifications = %d, want 201\n%s", r.status, r.body)
		return false
	})

	var mail mailpitMessage
	composeEventually(t, "the reminder in Mailpit", func() bool {
		for _, m := range c.mails("to:" + addr) {
			if m.Subject == "Reminder: "+title {
				mail = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(mail.Text, "Bring earplugs") {
		t.Errorf("the reminder's text lacks the note:\n%s", mail.Text)
	}
	composeEventually(t, "the reminder's status sent", func() bool {
		c.must(200, "GET", "/api/v1/notifications/"+n.ID, token, nil, &n, nil)
		return n.Status == "sent"
	})

	// Every hop of the reminder in its trace, as TestOneReminderIsOneTrace (internal/app) sees
	// them with an OTLP receiver of its own; here they went through the collector to Jaeger.
	want := []string{
		"eventpost-gateway POST /api/v1/notifications",
		"eventpost-notifications POST /api/v1/notifications",
		"eventpost-notifications claim reminder",
		"eventpost-mailer send email",
		"eventpost-notifications process email.result",
	}
	var missing []string
	composeEventually(t, "the reminder's trace "+traceID+" in Jaeger", func() bool {
		var tr struct {
			Data []struct {
				Spans []struct {
					OperationName string
					ProcessID     string
				}
				Processes map[string]struct{ ServiceName string }
			}
		}
		missing = want
		if !c.getJSON(composeJaeger+"/api/traces/"+traceID, &tr) || len(tr.Data) == 0 {
			return false
		}
		have := map[string]bool{}
		for _, s := range tr.Data[0].Spans {
			have[tr.Data[0].Processes[s.ProcessID].ServiceName+" "+s.OperationName] = true
		}
		missing = nil
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0
	})
}

// TestPodmanKilledReplicasLoseNoReminder asks for a stream of reminders and, halfway, kills
// (SIGKILL) one mailer and one notifications container with `podman kill`, and the process of
// the other mailer as a crash would. Podman 4.3 restarts the crashed one by its restart policy
// (compose's unless-stopped; Always, a Deployment's pods'), but takes `podman kill` for a stop
// by the user, which neither policy restarts: the test starts those two again itself, three
// seconds later. Every reminder arrives once — none lost, none twice.
func TestPodmanKilledReplicasLoseNoReminder(t *testing.T) { eachStack(t, testKilledReplicas) }

func testKilledReplicas(t *testing.T, c *composeClient, s podmanStack) {
	killed, crashed := s.killed, s.crashed
	restarts := containerRestarts(t, crashed)

	nonce := composeNonce(t, 6)
	addr := "kim-" + nonce + "@example.com"
	token := c.account(addr)
	title := "Killed night " + nonce
	id := c.event(token, title)

	const count = 40
	start, unavailable := time.Now(), 0
	var last time.Time // the send_at of the reminder asked for last
	for i := range count {
		switch i {
		case count / 2:
			for _, v := range killed {
				podman(t, "kill", v)
			}
			pid, err := strconv.Atoi(podmanInspect(t, crashed, "{{.State.Pid}}"))
			if err != nil {
				t.Fatalf("the process of %s: %v", crashed, err)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %s's process %d: %v", crashed, pid, err)
			}
		case count/2 + 12: // three seconds later
			for _, v := range killed {
				if containerRunning(t, v) {
					t.Errorf("%s runs again after podman kill: podman now restarts it by its policy, and the test need not", v)
					continue
				}
				podman(t, "start", v)
			}
		}
		// One a second from four seconds on (an identical send_at would be refused as a
		// duplicate), so that some fall due before the kill, some while the victims are down
		// and some after; never less than two seconds ahead, or a create that had to wait
		// (a replica not yet ready to look events up answers 503 for a few seconds right
		// after start-up: CI once waited five) would ask for a time already past.
		sendAt := func() string {
			at := start.Add(time.Duration(4+i) * time.Second)
			if soon := time.Now().Add(2 * time.Second); at.Before(soon) {
				at = soon
			}
			if at = at.Truncate(time.Second); !at.After(last) {
				at = last.Add(time.Second)
			}
			last = at
			return at.UTC().Format(time.RFC3339)
		}
		body := map[string]any{"event_id": id, "send_at": sendAt(), "note": fmt.Sprintf("[%s-%03d]", nonce, i)}
		// Until discovery drops the killed replica, a call the gateway sends it is answered
		// 503, and the client tries again, as any client would: with a new time, as nothing
		// was made. A call whose answer was lost (status 0) may have made the reminder: it is
		// sent again as it was, and an answer 409 says the first one made it. A time that
		// passed while a slow call was under way is answered 422, and made nothing: unless an
		// answer was lost before, it too is asked again with a new time (a full run saw it
		// for the first reminder, right after the stack came up).
		var r composeResponse
		lost := false
		composeEventually(t, fmt.Sprintf("reminder %d to be created", i), func() bool {
			r = c.call("POST", composeGateway+"/api/v1/notifications", token, body, nil)
			switch {
			case r.status == http.StatusServiceUnavailable || r.status == http.StatusBadGateway:
				body["send_at"] = sendAt()
			case r.status == 0:
				lost = true
			case r.status == http.StatusUnprocessableEntity && !lost && strings.Contains(string(r.body), "must be in the future"):
				body["send_at"] = sendAt()
			default:
				return true
			}
			unavailable++
			time.Sleep(100 * time.Millisecond)
			return false
		})
		if r.status != http.StatusCreated && !(r.status == http.StatusConflict && unavailable > 0) {
			t.Fatalf("POST /api/v1/notifications (reminder %d) = %d\n%s", i, r.status, r.body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d create(s) answered 503 or 502 around the kill, each tried again", unavailable)

	composeEventually(t, crashed+" to be restarted by its policy", func() bool {
		return containerRunning(t, crashed) && containerRestarts(t, crashed) > restarts
	})

	// Each reminder's note names it; a mail per note, and only one.
	noteRe := regexp.MustCompile(`\[` + nonce + `-(\d{3})\]`)
	perNote := func() (map[string]int, int) {
		seen, total := map[string]int{}, 0
		for _, m := range c.mails("to:" + addr + ` subject:"Reminder: ` + title + `"`) {
			total++
			for _, n := range noteRe.FindAllStringSubmatch(m.Text, -1) {
				seen[n[1]]++
			}
		}
		return seen, total
	}
	composeEventually(t, fmt.Sprintf("%d reminders in Mailpit", count), func() bool {
		seen, _ := perNote()
		return len(seen) == count
	})
	// Every reminder marked sent: its result came back, so no send of it is still under way.
	composeEventually(t, "every reminder marked sent", func() bool {
		var list struct{ Items []struct{ Status string } }
		c.must(200, "GET", "/api/v1/notifications?event_id="+id, token, nil, &list, nil)
		sent := 0
		for _, n := range list.Items {
			if n.Status == "sent" {
				sent++
			}
		}
		return sent == count
	})
	seen, total := perNote()
	if total != count {
		t.Errorf("%d reminder mails for %d reminders; mails per note: %v", total, count, seen)
	}
	for note, n := range seen {
		if n != 1 {
			t.Errorf("reminder %s: %d mails, want 1", note, n)
		}
	}
}

// containerRunning reports whether podman has the container running.
func containerRunning(t *testing.T, name string) bool {
	t.Helper()
	return podmanInspect(t, name, "{{.State.Running}}") == "true"
}

// containerRestarts is how many times podman has restarted the container by its policy.
func containerRestarts(t *testing.T, name string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(podmanInspect(t, name, "{{.RestartCount}}"), &n); err != nil {
		t.Fatalf("podman inspect %s: restart count: %v", name, err)
	}
	return n
}

// podman runs a podman command, failing the test if it fails.
func podman(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("podman", args...).CombinedOutput(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// podmanInspect is `podman container inspect --format FORMAT NAME`.
func podmanInspect(t *testing.T, name, format string) string {
	t.Helper()
	out, err := exec.Command("podman", "container", "inspect", "--format", format, name).Output()
	if err != nil {
		t.Fatalf("podman container inspect %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
