package app_test

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/gateway"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// victim is an account with an event and a reminder, made through the gateway, that a
// caller past the gateway tries to act as.
type victim struct {
	accountID, email, access string
	eventID, reminderID      string
}

// newVictim signs up an account and gives it an event and a reminder.
func newVictim(t *testing.T, c *client) victim {
	t.Helper()
	v := victim{email: "victim@example.com"}
	v.access, _ = c.signUpAndLogIn(v.email, "Victim")
	v.accountID = c.must(200, "GET", "/api/v1/accounts/me", v.access, nil)["id"].(string)
	v.eventID = c.must(201, "POST", "/api/v1/events", v.access, map[string]any{
		"title": "Victim's party", "starts_at": rfc3339(time.Now().Add(48 * time.Hour)),
	})["id"].(string)
	v.reminderID = c.must(201, "POST", "/api/v1/notifications", v.access, map[string]any{
		"event_id": v.eventID, "minutes_before": 60,
	})["id"].(string)
	return v
}

// forgery is one way a caller that is not an allowed service tries its luck.
type forgery struct {
	name  string
	apply func(*http.Request)
}

// forgeries are the credentials a service must refuse: the identity headers the gateway used
// to pass on, the victim's own access token, and service tokens signed with a key the
// services do not know or made for another service.
func forgeries(t *testing.T, v victim) []forgery {
	t.Helper()
	headers := func(r *http.Request) {
		r.Header.Set("X-Eventpost-Account-Id", v.accountID)
		r.Header.Set("X-Eventpost-Account-Email", v.email)
		r.Header.Set("X-Eventpost-Session-Id", "forged")
		r.Header.Set("X-Eventpost-Client-Ip", "203.0.113.9")
	}
	key, err := svcauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rogue := svcauth.NewSigner(discovery.Gateway, key, nil)
	claims := svcauth.Claims{AccountID: v.accountID, Email: v.email, SessionID: "forged", ClientIP: "203.0.113.9"}
	return []forgery{
		{"identity headers", headers},
		{"the user's access token", func(r *http.Request) {
			headers(r)
			r.Header.Set("Authorization", "Bearer "+v.access)
		}},
		{"a service token of an unknown key", func(r *http.Request) {
			headers(r)
			audience := r.Header.Get("X-Test-Audience")
			r.Header.Del("X-Test-Audience")
			if err := rogue.Authorize(r.Header, audience, claims); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// routesOf returns the requests to try at service: every public route it answers, with the
// victim's IDs, plus its internal endpoints and a path it does not know.
func routesOf(service string, v victim) [][2]string {
	var out [][2]string
	for _, rt := range gateway.Routes() {
		if rt.Service != service {
			continue
		}
		path := rt.Path
		if strings.HasPrefix(path, "/api/v1/notifications/") {
			path = strings.ReplaceAll(path, "{id}", v.reminderID)
		}
		out = append(out, [2]string{rt.Method, strings.ReplaceAll(path, "{id}", v.eventID)})
	}
	if service == discovery.Auth {
		out = append(out, [2]string{"GET", "/internal/v1/revocations?after=0"})
	}
	return append(out, [2]string{"GET", "/api/v1/not-a-route"})
}

// checkServicesRefuseForgedCalls calls every route of every service directly, at the
// instances in urls, with each forgery, and expects 401 every time; the probes still answer.
// Then it checks through the gateway that the victim's data did not change.
func checkServicesRefuseForgedCalls(t *testing.T, c *client, urls map[string][]string, v victim) {
	t.Helper()
	httpc := &http.Client{Timeout: 10 * time.Second}
	body := `{"title":"pwned","email":"attacker@example.com","password":"pwned pwned","display_name":"x",` +
		`"refresh_token":"x","event_id":"` + v.eventID + `","minutes_before":5,"starts_at":"` + rfc3339(time.Now().Add(time.Hour)) + `"}`
	send := func(method, url string, f *forgery, audience string) (int, string) {
		t.Helper()
		var rd io.Reader
		if method == "POST" || method == "PATCH" || method == "DELETE" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if f != nil {
			req.Header.Set("X-Test-Audience", audience)
			f.apply(req)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + " " + string(b)
	}
	tried := 0
	for _, service := range []string{discovery.Auth, discovery.Events, discovery.Notifications, discovery.Mailer} {
		if len(urls[service]) == 0 {
			t.Fatalf("no instance of %s to call", service)
		}
		for _, base := range urls[service] {
			for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
				if status, b := send("GET", base+probe, nil, ""); status != http.StatusOK {
					t.Errorf("%s %s without credentials: %d, want 200: %s", service, probe, status, b)
				}
			}
			for _, rt := range routesOf(service, v) {
				for _, f := range forgeries(t, v) {
					// The rogue token names the service it is sent to, so only the key is wrong.
					status, b := send(rt[0], base+rt[1], &f, service)
					tried++
					if status != http.StatusUnauthorized || !strings.HasPrefix(b, "application/problem+json") {
						t.Errorf("%s: %s %s with %s: %d, want a 401 problem: %s", service, rt[0], rt[1], f.name, status, b)
					}
				}
			}
		}
	}
	t.Logf("%d forged calls refused", tried)

	// Nothing changed: the account logs in, the event and the reminder are as they were.
	c.logIn(v.email, "Victim")
	if ev := c.must(200, "GET", "/api/v1/events/"+v.eventID, "", nil); ev["title"] != "Victim's party" {
		t.Errorf("the event's title is %q", ev["title"])
	}
	if n := c.must(200, "GET", "/api/v1/notifications/"+v.reminderID, v.access, nil); n["status"] != "scheduled" || n["email"] != v.email {
		t.Errorf("the reminder is %v", n)
	}
	if me := c.must(200, "GET", "/api/v1/accounts/me", v.access, nil); me["email"] != v.email {
		t.Errorf("the account is %v", me)
	}
}

// TestServicesRefuseCallsPastTheGateway: in the all-in-one mode, every route of every
// service, called on its loopback listener with forged identity headers, the user's own
// access token or a service token of an unknown key, answers 401 and changes nothing.
func TestServicesRefuseCallsPastTheGateway(t *testing.T) {
	c, _, sys := startSystem(t)
	v := newVictim(t, c)
	urls := map[string][]string{}
	for name, u := range sys.ServiceURLs {
		urls[name] = []string{u}
	}
	checkServicesRefuseForgedCalls(t, c, urls, v)
}

// TestDistributedServicesRefuseCallsPastTheGateway is the same check against every process
// of the distributed system.
func TestDistributedServicesRefuseCallsPastTheGateway(t *testing.T) {
	smtp := smtptest.Start(t)
	cluster, c, _ := startCluster(t, smtp, nil)
	v := newVictim(t, c)
	urls := map[string][]string{}
	for _, p := range cluster.Processes {
		if p.Service != discovery.Gateway {
			urls[p.Service] = append(urls[p.Service], "http://"+p.Addr)
		}
	}
	checkServicesRefuseForgedCalls(t, c, urls, v)
}

// TestKeygenWritesKeysTheServicesAccept: `eventpost keygen` writes private keys only their
// owner may read and a public list that a service configured from those files accepts.
func TestKeygenWritesKeysTheServicesAccept(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := app.Run(t.Context(), []string{"keygen", dir}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "wrote") != 3 {
		t.Errorf("keygen said:\n%s", out.String())
	}
	out.Reset()
	if err := app.Run(t.Context(), []string{"keygen", dir}, func(string) string { return "" }, &out); err != nil || out.Len() != 0 {
		t.Errorf("a second keygen: %v, said %q; want nothing written", err, out.String())
	}
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	for _, f := range []string{"gateway/service.key", "notifications/service.key"} {
		if _, err := app.ReadConfig(env(map[string]string{"EVENTPOST_SERVICE_KEY_FILE": dir + "/" + f}), discovery.Gateway); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	cfg, err := app.ReadConfig(env(map[string]string{
		"EVENTPOST_SERVICE_KEY_FILE": dir + "/gateway/service.key", "EVENTPOST_CALLER_KEYS_FILE": dir + "/public/caller-keys",
	}), discovery.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := svcauth.ParseCallerKeys(cfg.CallerKeys)
	if err != nil {
		t.Fatal(err)
	}
	own, err := svcauth.ParsePrivateKey(cfg.ServiceKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys[discovery.Gateway]) != 1 || !keys[discovery.Gateway][0].Equal(own.Public()) {
		t.Errorf("caller-keys does not hold the gateway's key: %v", keys)
	}
	if _, ok := keys[discovery.Notifications]; !ok {
		t.Errorf("caller-keys does not hold the notifications key: %s", cfg.CallerKeys)
	}
}

// TestSecretFilesMustBePrivate: a service key in a file other users may read is refused.
func TestSecretFilesMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := app.Run(t.Context(), []string{"keygen", dir}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	path := dir + "/gateway/service.key"
	for mode, wantErr := range map[uint32]bool{0o600: false, 0o640: false, 0o604: true, 0o644: true} {
		if err := os.Chmod(path, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		_, err := app.ReadConfig(func(k string) string {
			if k == "EVENTPOST_SERVICE_KEY_FILE" {
				return path
			}
			return ""
		}, discovery.Gateway)
		if (err != nil) != wantErr {
			t.Errorf("mode %o: %v, want error %v", mode, err, wantErr)
		}
	}
}

// TestAuthSigningKeysFromConfig: with EVENTPOST_AUTH_SIGNING_KEYS, the auth service signs
// with the first key and publishes both, and the gateway accepts its tokens.
func TestAuthSigningKeysFromConfig(t *testing.T) {
	var pems []byte
	var pubs []string
	for range 2 {
		key, err := svcauth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, err := svcauth.MarshalPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, pem...)
		pubs = append(pubs, svcauth.EncodePublicKey(key.Public().(ed25519.PublicKey)))
	}
	c, _, _ := startSystemWith(t, func(cfg *app.Config) { cfg.AuthSigningKeys = string(pems) })
	set := c.must(200, "GET", "/.well-known/jwks.json", "", nil)
	var xs []string
	kids := map[string]string{}
	for _, k := range set["keys"].([]any) {
		jwk := k.(map[string]any)
		xs = append(xs, jwk["x"].(string))
		kids[jwk["x"].(string)] = jwk["kid"].(string)
	}
	if !slices.Equal(xs, pubs) && !slices.Equal(xs, []string{pubs[1], pubs[0]}) {
		t.Fatalf("the JWK set publishes %v, want the two configured keys %v", xs, pubs)
	}
	access, _ := c.signUpAndLogIn("keys@example.com", "Keys")
	tok, _, err := jwt.NewParser().ParseUnverified(access, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["kid"] != kids[pubs[0]] {
		t.Errorf("the access token's kid is %v, want the first configured key's %s", tok.Header["kid"], kids[pubs[0]])
	}
	c.must(200, "GET", "/api/v1/accounts/me", access, nil)
}
