package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/eventpost/eventpost/internal/platform/integration"
)

// htmlValidateVersion is the version of html-validate, the offline HTML validator, that
// the browser tests check every page they load with; testdata/htmlvalidate pins it with its
// package-lock.json. Its rules are in .htmlvalidate.json beside this file.
const htmlValidateVersion = "10.9.0"

// htmlValidateUnavailable tells that html-validate cannot run: the test fails when
// EVENTPOST_INTEGRATION=1, and otherwise goes on without validating its pages, saying how to
// enable it.
func htmlValidateUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if integration.Required() {
		t.Fatalf("%s; EVENTPOST_INTEGRATION=1 requires it", msg)
	}
	t.Logf("%s: the pages are not validated; install Node.js and npm (the browser tests install html-validate %s "+
		"from the npm registry into .cache/npm at the repository root on their first run and reuse it later), and set "+
		"EVENTPOST_INTEGRATION=1 to make this a failure", msg, htmlValidateVersion)
}

// installHTMLValidate returns the path of node and of html-validate's command, or false
// when they are not available (see htmlValidateUnavailable), installing
// html-validate with npm ci (testdata/htmlvalidate's package.json and package-lock.json)
// into .cache/npm/htmlvalidate at the repository root unless an earlier run installed it
// from the same lock file.
func installHTMLValidate(t *testing.T) (node, cli string, ok bool) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		htmlValidateUnavailable(t, "Node.js or npm is not on PATH (%v)", err)
		return "", "", false
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root is not at %s: %v", root, err)
	}
	manifest, err := os.ReadFile(filepath.Join("testdata", "htmlvalidate", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join("testdata", "htmlvalidate", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	stamp := hex.EncodeToString(sum[:])
	dir := filepath.Join(root, ".cache", "npm", "htmlvalidate")
	cli = filepath.Join(dir, "node_modules", "html-validate", "bin", "html-validate.mjs")
	marker := filepath.Join(dir, "installed")
	if got, err := os.ReadFile(marker); err == nil && string(got) == stamp {
		if _, err := os.Stat(cli); err == nil {
			return node, cli, true
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts",
		"--cache", filepath.Join(root, ".cache", "npm", "_cacache"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		htmlValidateUnavailable(t, "npm ci of html-validate %s in %s failed (%v):\n%s", htmlValidateVersion, dir, err, out)
		return "", "", false
	}
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("html-validate is installed without its command: %v", err)
	}
	if err := os.WriteFile(marker, []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	return node, cli, true
}

// htmlPages collects the HTML of the pages a browser test loads, as the server sent it, to
// be validated once the test ends.
type htmlPages struct {
	dir  string
	docs htmlDocuments
	seen map[[32]byte]bool
	// names are the files written, by the page they hold ("GET /events/x → 200").
	names map[string]string
}

// htmlDocuments records the last HTML document the browser received, to read its body as
// the server sent it: the pages are no-store, so the browser's cache does not keep them.
type htmlDocuments struct {
	mu   sync.Mutex
	last network.RequestID
	url  string
}

// listen starts recording the documents the browser of ctx receives.
func (d *htmlDocuments) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventResponseReceived)
		if !ok || e.Type != network.ResourceTypeDocument || e.Response == nil || !strings.HasPrefix(e.Response.MimeType, "text/html") {
			return
		}
		d.mu.Lock()
		d.last, d.url = e.RequestID, e.Response.URL
		d.mu.Unlock()
	})
}

// snapshot keeps the HTML of the page the browser loaded last, as the server sent it; a
// page with the same HTML as one kept already is skipped.
func (b *browser) snapshot(what string) {
	b.t.Helper()
	if b.pages == nil {
		return
	}
	b.pages.docs.mu.Lock()
	id, url := b.pages.docs.last, b.pages.docs.url
	b.pages.docs.last = ""
	b.pages.docs.mu.Unlock()
	if id == "" { // not an HTML page
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
	if err != nil {
		b.t.Fatalf("the HTML of %s (%s): %v", what, url, err)
	}
	sum := sha256.Sum256(res.Body)
	if b.pages.seen[sum] {
		return
	}
	b.pages.seen[sum] = true
	name := filepath.Join(b.pages.dir, fmt.Sprintf("page-%03d.html", len(b.pages.seen)))
	if err := os.WriteFile(name, res.Body, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.pages.names[name] = what + " → " + strings.TrimPrefix(url, b.base)
}

// validateHTML checks every page kept with html-validate under .htmlvalidate.json, failing
// the test on any error.
func validateHTML(t *testing.T, node, cli string, pages *htmlPages) {
	t.Helper()
	if len(pages.names) == 0 {
		return
	}
	files := make([]string, 0, len(pages.names))
	for name := range pages.names {
		files = append(files, name)
	}
	config, err := filepath.Abs(".htmlvalidate.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The report goes to a file: node may exit before a large report is through a pipe.
	report := filepath.Join(pages.dir, "report.json")
	args := append([]string{cli, "--config", config, "--formatter", "json=" + report}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	stdout, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("html-validate: %v\n%s", err, stdout)
	}
	out, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("html-validate wrote no report (%v, exit %v): %s", rerr, err, stdout)
	}
	var results []struct {
		FilePath string `json:"filePath"`
		Messages []struct {
			RuleID   string `json:"ruleId"`
			Severity int    `json:"severity"`
			Message  string `json:"message"`
			Line     int    `json:"line"`
			Selector string `json:"selector"`
		} `json:"messages"`
		ErrorCount int `json:"errorCount"`
	}
	if jerr := json.Unmarshal(out, &results); jerr != nil {
		t.Fatalf("html-validate wrote a report that is not JSON (%v, exit %v): %.2000s\n%s", jerr, err, out, stdout)
	}
	errorsFound := 0
	for _, r := range results {
		for _, m := range r.Messages {
			if m.Severity < 2 {
				continue
			}
			errorsFound++
			src, _ := os.ReadFile(r.FilePath)
			line := ""
			if lines := strings.Split(string(src), "\n"); m.Line >= 1 && m.Line <= len(lines) {
				line = strings.TrimSpace(lines[m.Line-1])
			}
			t.Errorf("html-validate: %s: %s (%s) at %s, line %d: %s", pages.names[r.FilePath], m.Message, m.RuleID, m.Selector, m.Line, line)
		}
	}
	if errorsFound == 0 && err != nil {
		t.Errorf("html-validate exited with %v and reported no error:\n%s", err, stdout)
	}
	t.Logf("html-validate %s: %d pages, %d errors", htmlValidateVersion, len(files), errorsFound)
}
