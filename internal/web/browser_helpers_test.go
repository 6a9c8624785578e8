package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/platform/apitest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// viewerTimeZone is the time zone of the test browser: not the events' own, so that the
// event page shows the start in both.
const viewerTimeZone = "America/New_York"

// chromiumPath returns the Chromium binary to drive. Without one the test is skipped, or
// fails when EVENTPOST_INTEGRATION=1 says that the browser tests must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("EVENTPOST_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "browser test: Chromium is not installed; install it with `apt-get install -y chromium` " +
		"(Debian's package) or point EVENTPOST_CHROMIUM at a Chromium binary"
	if os.Getenv("EVENTPOST_INTEGRATION") == "1" {
		t.Fatal(msg + " (EVENTPOST_INTEGRATION=1 requires the browser tests to run)")
	}
	t.Skip(msg)
	return ""
}

// startSystem starts the whole all-in-one EventPost, web UI included, on a random port
// with its data in a temporary folder (mail as .eml files under its mail/), and returns
// its base URL and that folder.
func startSystem(t *testing.T) (string, string) {
	t.Helper()
	dataDir := t.TempDir()
	cfg := app.Config{
		HTTPAddr: "127.0.0.1:0", DataDir: dataDir, PublicURL: "http://eventpost.test",
		MailFrom: "EventPost <no-reply@eventpost.test>", RateLimit: 10000, RateBurst: 10000,
		ShutdownTimeout: 5 * time.Second,
	}
	// The system's log goes to a file, shown (less its access log) when the test fails.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "eventpost.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if !t.Failed() {
			return
		}
		data, _ := os.ReadFile(logFile.Name())
		for _, line := range strings.Split(string(data), "\n") {
			if line != "" && !strings.Contains(line, `"msg":"request"`) {
				t.Log(line)
			}
		}
	})
	sys, err := app.Start(context.Background(), cfg, logging.New(logFile, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			t.Errorf("stop the system: %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(sys.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return sys.URL, dataDir
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the system is not ready after 20s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browser drives a headless Chromium against a running EventPost.
type browser struct {
	t    *testing.T
	base string
	// dataDir is the system's data folder; its mail/ holds the emails it sent.
	dataDir string
	ctx     context.Context
	// pages are the pages loaded, validated when the test ends; nil when html-validate is
	// not available.
	pages *htmlPages
}

// startBrowser starts EventPost and a fresh headless Chromium (its own profile, in the
// viewer's time zone).
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	exe := chromiumPath(t)
	base, dataDir := startSystem(t)
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-GB"),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("TZ="+viewerTimeZone, "LANG=en_GB.UTF-8"),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	b := &browser{t: t, base: base, dataDir: dataDir, ctx: ctx}
	if node, cli, ok := installHTMLValidate(t); ok {
		b.pages = &htmlPages{dir: t.TempDir(), seen: map[[32]byte]bool{}, names: map[string]string{}}
		if err := b.pages.docs.listen(ctx); err != nil {
			t.Fatalf("listen to the browser: %v", err)
		}
		t.Cleanup(func() {
			if !t.Failed() {
				validateHTML(t, node, cli, b.pages)
			}
		})
	}
	return b
}

// step runs actions with a deadline, failing the test on error.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs actions that load a page (a navigation, a click on a link or a submit
// button) and returns the HTTP status of the page that loaded, after redirects.
func (b *browser) navigate(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	b.snapshot(what)
	return resp.Status
}

// open loads the page at path and checks that it answers 200.
func (b *browser) open(path string) {
	b.t.Helper()
	if s := b.navigate("open "+path, chromedp.Navigate(b.base+path)); s != http.StatusOK {
		b.t.Fatalf("GET %s: status %d, want 200", path, s)
	}
}

// click clicks the element sel, which loads a page, and checks that it answers want.
func (b *browser) click(sel string, want int64) {
	b.t.Helper()
	if s := b.navigate("click "+sel, chromedp.Click(chromedp.CSS(sel))); s != want {
		b.t.Fatalf("click %s: the page loaded with status %d, want %d\n%s", sel, s, want, b.text("main"))
	}
}

// press clicks the element sel, which loads no page (a check box, a radio button).
func (b *browser) press(sel string) {
	b.t.Helper()
	b.step("press "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces the value of the input sel by typing value.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	clear := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+string(q)+`); e.value = ''; return true; })()`)(ctx, t)
		return err
	})
	b.step("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), clear, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// set sets the value of the input sel (for date and time inputs, whose typing depends on
// the locale).
func (b *browser) set(sel, value string) {
	b.t.Helper()
	b.step("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// text returns the visible text of sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wantText checks that the text of sel contains want.
func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Errorf("text of %s = %q, want it to contain %q", sel, got, want)
	}
}

// signUp creates an account through the sign-up page and checks that it is logged in.
func (b *browser) signUp(name, email, password string) {
	b.t.Helper()
	b.open("/signup")
	b.fill("#f-display_name", name)
	b.fill("#f-email", email)
	b.fill("#f-password", password)
	b.click(`form[action="/signup"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "Welcome")
	b.wantText(".nav-account", name)
}

// apiClient calls the public API over HTTP, to set the scene of a test.
type apiClient struct {
	t    *testing.T
	base string
}

// do makes an API call and decodes its answer into out, failing unless it answers want.
func (c apiClient) do(method, path, token string, body, out any, want int) {
	c.t.Helper()
	req, _ := apitest.NewRequest(c.t, method, c.base+path, token, body, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// signUp creates an account and returns an access token for it.
func (c apiClient) signUp(name, email, password string) string {
	c.t.Helper()
	c.do("POST", "/api/v1/accounts", "", map[string]string{"email": email, "password": password, "display_name": name}, nil, http.StatusCreated)
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	c.do("POST", "/api/v1/auth/token", "", map[string]string{"email": email, "password": password}, &pair, http.StatusOK)
	return pair.AccessToken
}

// createEvent publishes an event and returns its ID.
func (c apiClient) createEvent(token string, e map[string]any) string {
	c.t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	c.do("POST", "/api/v1/events", token, e, &out, http.StatusCreated)
	return out.ID
}

// waitStatus polls GET path until it answers want, failing after a deadline.
func (c apiClient) waitStatus(path string, want int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("GET %s does not answer %d after 30s (last: %v)", path, want, describe(resp, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(resp.StatusCode)
}

// waitMail waits for an email to addr whose Subject contains subject in the system's mail
// folder and returns its text (all of it, MIME parts included, quoted-printable undone).
func (b *browser) waitMail(addr, subject string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(b.dataDir, "mail", "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				continue
			}
			to, _ := msg.Header.AddressList("To")
			dec := new(mime.WordDecoder)
			subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
			if len(to) == 1 && to[0].Address == addr && strings.Contains(subj, subject) {
				text, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
				if err != nil {
					return string(raw)
				}
				return string(text)
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no email to %s about %q after 20 s", addr, subject)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// confirmLink finds the link of the page that confirms an address in an email.
var confirmLink = regexp.MustCompile(`https?://[^\s"<>]+/confirm-email\?token=([A-Za-z0-9_-]+)`)

// confirmPath waits for an email to addr whose Subject contains subject and returns the
// path, on this system, of the confirmation link it holds (the link is on the public URL).
func (b *browser) confirmPath(addr, subject string) string {
	b.t.Helper()
	m := confirmLink.FindStringSubmatch(b.waitMail(addr, subject))
	if m == nil {
		b.t.Fatalf("the email to %s about %q holds no link to the confirmation page", addr, subject)
	}
	return "/confirm-email?token=" + m[1]
}

// confirmAddress confirms the address of a new account the way its owner does: it opens
// the link of the welcome email and presses the button of the page. Since issue 10 only the
// account's own mails reach an unconfirmed address, so a test that expects a reminder mail
// confirms first.
func (b *browser) confirmAddress(addr string) {
	b.t.Helper()
	b.open(b.confirmPath(addr, "Welcome to EventPost"))
	b.click(`form[action="/confirm-email"] button[type="submit"]`, http.StatusOK)
	b.wantText(".flash", "your email address is confirmed")
}

// logIn exchanges an email and password for an access token.
func (c apiClient) logIn(email, password string) string {
	c.t.Helper()
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	c.do("POST", "/api/v1/auth/token", "", map[string]string{"email": email, "password": password}, &pair, http.StatusOK)
	return pair.AccessToken
}

// waitReminderStatus polls the reminder id until its status is want, failing after a
// deadline.
func (c apiClient) waitReminderStatus(token, id, want string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n struct {
			Status string `json:"status"`
		}
		c.do("GET", "/api/v1/notifications/"+id, token, nil, &n, http.StatusOK)
		if n.Status == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("reminder %s is %q after 30 s, want %q", id, n.Status, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
